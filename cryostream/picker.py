"""The filter-and-cluster picker: one pure function from a micrograph and a configuration to picks.

bin to the working pixel size -> 8-bit -> filter pipeline -> coordinates of surviving pixels ->
cluster -> centres -> drop edge picks, merge close picks, threshold the figure of merit -> drop
picks scoring far above the rest -> centre each on the filter response -> add the unpicked
particles touching picks (:mod:`cryostream.touching`) -> Picks in the original micrograph's pixel
frame (one size's pass: :mod:`cryostream.candidates`). Around it this module chooses the size
(measured, larger or smaller when the given one finds too little) and the floor, and runs a
smaller size too, whose picks are kept when the micrograph is crowded with particles smaller than
the given diameter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .candidates import Candidates, bin_factor, binned, centred, converted, pick_at_size, unbinned
from .config import PickerConfig
from .crowding import (
    CROWDED_DECOY_RATIO,
    crowded_floor,
    in_part,
    judgements,
    resolves_crowding,
    trial_part,
)
from .diameter import MAX_PACKING, accounts_for, diameter_check, has_template_step, merges, template_step
from .io import BadInputError, Micrograph
from .neighbours import median_spacing
from .threshold import (
    MIN_FAINT_PICKS,
    above_the_particles,
    decoy_floor,
    deeper_floor,
    faint_floor,
    outnumbers_decoys,
)
from .touching import touching_peaks

# When fewer than MIN_FAINT_PICKS of the given size's picks reach the floor (see _smaller_if_faint),
FAINT_SHARE = 0.1  # or fewer than this share of its candidates are kept (faint crowded ones: 6-9 %),
FAINT_FALLBACK_RATIO = 0.75  # the picks at this x the size are taken when they reach it at least
MIN_FALLBACK_GAIN = 3.0  # this many times as often (a two-domain particle split in two: 2 x)
# When the diameter check kept the given diameter (see _larger_if_outnumbered):
LARGER_FALLBACK_RATIO = 4 / 3  # the picks at this x the size are taken when at least
MIN_LARGER_GAIN = 2.0  # this many times as many reach the floor (given 0.75 x, faint sparse shells
#                        whose curve the check cannot measure: 3.0-4.9; every other micrograph of 48
#                        sets at 0.75-1.33 x: at most 1.2), or on a sparse micrograph
SPARSE_PACKING = 0.15  # (larger-size picks at most this many per its diameter squared; on a denser
PURER_GAIN = 1.2  # one, when this many times as many reach the floor as at the given size), when at
NOISY_SHARE = 0.3  # least this many decoys per pick reach the floor at the given size and at most
PURER_SHARE_RATIO = 0.35  # this x as many per pick at the larger (noise alone: (3/4)^2 = 0.56 x)
SPARSE_SPACING = 1.6  # the given size is kept when the check shrank it but its picks above the floor
#                       lie this many given diameters from their nearest (a median): no neighbours to
#                       separate, so the smaller plateau is a lobe or a domain (shrinking helped 3, cost
#                       19 of 27 micrographs given 0.75 x; 45 and 25 of 145 at 1 x; 341 and 30 of 476 at
#                       1.33 x, where picks lie 0.84-1.35 apart; keeping the size from 1.6 on: 27 up, 5
#                       down)
# The smaller size's passes (see _unless_crowded; whether they replace picks: crowding):
MAX_CROWDED_PASSES = 2  # down to 0.7 x 0.7 x the given diameter: a box size is 1.5-2 x a particle
CROWDED_MIN_WORKING_RATIO = 0.8  # the smaller size is binned to at least 0.8 x working_diameter_px


@dataclass(frozen=True)
class Picks:
    """Particle centres in the original micrograph's pixels (x = column, y = row); diameter_px
    is the configured diameter, picked_diameter_px the one the picker worked at (they differ
    when ``correct_diameter`` found the configured one off)."""

    x: np.ndarray
    y: np.ndarray
    figure_of_merit: np.ndarray
    diameter_px: float
    pixel_size_angstrom: float
    micrograph_shape: tuple[int, int]
    micrograph: Path
    picked_diameter_px: float | None = None

    def __len__(self) -> int:
        return len(self.x)


def resolve_pixel_size(micrograph: Micrograph) -> float:
    """The micrograph's pixel size in Å (from its header, or as given when it was read)."""
    pixel_size = micrograph.pixel_size_angstrom
    if not pixel_size:
        raise BadInputError(micrograph.path, "no pixel size in the header (or it is 0); pass "
                            "--pixel-size in Å/px, since the diameter is given in Å")
    return float(pixel_size)


def working_image(micrograph: Micrograph, config: PickerConfig) -> tuple[np.ndarray, int]:
    """The binned 8-bit image the filters run on at the configured diameter, and the whole
    binning factor used."""
    factor = bin_factor(config.diameter_angstrom / resolve_pixel_size(micrograph),
                        config.working_diameter_px)
    return converted(micrograph, config, factor), factor


def pick_micrograph(micrograph: Micrograph, config: PickerConfig) -> Picks:
    """Pick particles in one micrograph (pure: no files, no global state)."""
    pixel_size = resolve_pixel_size(micrograph)
    configured_px = config.diameter_angstrom / pixel_size
    bounds_px = ((config.min_checked_diameter_angstrom or 0.0) / pixel_size,
                 (config.max_checked_diameter_angstrom or np.inf) / pixel_size)
    diameter_px, risen = (diameter_check(micrograph.data, config, configured_px, bounds_px)
                          if config.correct_diameter and has_template_step(config) else (configured_px, True))
    floor = config.min_figure_of_merit
    strong = floor or 0.0  # picks above it judge an enlarged size and a smaller one
    decoys, crowded_passes = None, MAX_CROWDED_PASSES if config.crowded_diameter_fraction > 0 else 0
    unfloored = replace(config, min_figure_of_merit=None)
    found = _candidates(micrograph, unfloored, diameter_px)
    if diameter_px != configured_px:
        given = _candidates(micrograph, unfloored, configured_px)
        given_strong = given.centres[given.merit >= strong]
        found_strong = found.centres[found.merit >= strong]
        keep_given = (not (accounts_for if risen else merges)(given_strong, found_strong, diameter_px)
                      if diameter_px > configured_px
                      else median_spacing(given_strong) >= SPARSE_SPACING * configured_px)
        if keep_given:
            found = given
    if floor is not None and config.correct_diameter and found.diameter_px == configured_px:
        found, decoys, purer = _larger_if_outnumbered(micrograph, unfloored, found, floor)
        crowded_passes = 0 if purer else crowded_passes
    kept_floor, deeper = (0.0, 0.0) if floor is None else _kept_floors(micrograph, unfloored, found,
                                                                        floor, decoys)
    if floor is not None and (np.count_nonzero(found.merit >= kept_floor)
                              < max(MIN_FAINT_PICKS, FAINT_SHARE * len(found.merit))):
        found, (kept_floor, deeper) = _smaller_if_faint(micrograph, unfloored, found, floor,
                                                        (kept_floor, deeper))
    diameter_px = found.diameter_px
    edge_px = config.edge_diameters * diameter_px
    judged = found.centres[found.merit >= strong]  # what a smaller size is judged against
    picks = found.subset(found.merit >= kept_floor)
    for crowded_pass in range(crowded_passes):
        smaller = _unless_crowded(micrograph, config, picks.diameter_px, edge_px, judged,
                                  picks.centres, kept_floor,
                                  merged=(crowded_pass == 0 and diameter_px == configured_px
                                          and not config.diameter_measured))
        if smaller is None:
            break
        picks = smaller
        judged = picks.centres
    if picks.diameter_px == diameter_px:  # no smaller size replaced them
        picks = found.subset(found.merit >= deeper)
    picks = picks.subset(~above_the_particles(picks.merit, floor))
    if config.centring_radius_diameters > 0 and len(picks.merit):
        picks = centred(micrograph.shape, unfloored, edge_px, picks)
    if has_template_step(config) and config.touching_diameters > 0 and len(picks.merit):
        picks = _with_touching(picks, found, edge_px, config.touching_diameters)
    return Picks(x=picks.centres[:, 1], y=picks.centres[:, 0], figure_of_merit=picks.merit,
                 diameter_px=configured_px, pixel_size_angstrom=pixel_size,
                 micrograph_shape=micrograph.shape, micrograph=micrograph.path,
                 picked_diameter_px=diameter_px)


def _with_touching(picks: Candidates, found: Candidates, edge_px: float,
                   reach_diameters: float) -> Candidates:
    """``picks`` and the particles touching them (:func:`touching_peaks`, up to
    ``reach_diameters`` from one), looked for on the response at the size ``found`` (the picks
    may come from a smaller size's pass)."""
    factor = found.factor
    peaks, values = touching_peaks(found.response, found.image, binned(picks.centres, factor),
                                   float(picks.merit.min()), found.diameter_px / factor,
                                   edge_px / factor, reach_diameters * found.diameter_px / factor)
    if len(values) == 0:
        return picks
    return picks._replace(centres=np.vstack([picks.centres, unbinned(peaks, factor)]),
                          merit=np.concatenate([picks.merit, values]))


def _candidates(micrograph: Micrograph, config: PickerConfig, diameter_px: float) -> Candidates:
    """:func:`pick_at_size` at ``diameter_px``, with its edge band and binning."""
    return pick_at_size(micrograph, config, diameter_px, config.edge_diameters * diameter_px,
                        bin_factor(diameter_px, config.working_diameter_px))


def _smaller_if_faint(micrograph: Micrograph, config: PickerConfig, found: Candidates,
                      floor: float, kept_floors: tuple[float, float]
                      ) -> tuple[Candidates, tuple[float, float]]:
    """The candidates and kept floors (:func:`_kept_floors`) to pick with when fewer than
    ``MIN_FAINT_PICKS`` of those ``found`` at their size reach the ``floor``, or fewer than
    ``FAINT_SHARE`` of them reach the first of ``kept_floors``: those at
    ``FAINT_FALLBACK_RATIO`` x that size when at least ``MIN_FAINT_PICKS`` and
    ``MIN_FALLBACK_GAIN`` x as many of them reach the floor, and ``DECOY_RATIO`` x as many as its
    decoys (picked with :func:`_negated`), else the given ones.
    Faint particles given a diameter too large for the diameter check to measure (its curve then
    stays at noise level) fall under the floor, where a smaller template still finds them: a
    simulated low-defocus micrograph given 1.33 x, 5 picks above the floor at that size and 41 at
    0.75 x it (interior F1 0.09 -> 0.74). On a crowded micrograph a count is not enough: faint
    crowded two-domain particles in thick ice given 1.33 x, 11-12 of 122-190 candidates (6-9 %)
    kept, and 39-77 at 0.75 x against 8-13 decoys. A sparse micrograph keeps as few: two-domain
    particles given their auto-estimated 0.65 x, 11-25 of 121-155 (8-21 %), 3.4-6.9 x as many
    at 0.75 x, but as many decoys there (62-90 picks, 49-74 decoys: noise and split domains)."""
    smaller_px = FAINT_FALLBACK_RATIO * found.diameter_px
    smaller = _candidates(micrograph, config, smaller_px)
    if not _more_reach(smaller.merit, found.merit, floor, MIN_FALLBACK_GAIN):
        return found, kept_floors
    decoys = _candidates(micrograph, _negated(config), smaller_px).merit
    if not outnumbers_decoys(smaller.merit, decoys, floor):
        return found, kept_floors
    return smaller, _kept_floors(micrograph, config, smaller, floor, decoys)


def _larger_if_outnumbered(micrograph: Micrograph, config: PickerConfig, found: Candidates,
                           floor: float) -> tuple[Candidates, np.ndarray | None, bool]:
    """The candidates to pick with, the figures of merit of their decoys when they were picked
    (else None) and whether they were taken for their purity (below): those at
    ``LARGER_FALLBACK_RATIO`` x the size of those ``found`` when at least ``MIN_FAINT_PICKS`` and
    ``MIN_LARGER_GAIN`` x as many of them as of the given ones reach the ``floor``, else the
    given ones. A template too small for faint particles holds too little of their signal to
    lift most of them above the floor, while noise and contamination never gain picks at a larger
    size (the template averages over more pixels, and packs fewer responses): simulated faint shells
    given 0.75 x, whose curve the diameter check cannot measure on its central square, 22-51 picks
    at that size and 80-133 at 1 x (interior F1 0.13-0.37 -> 0.81-0.95). Not tried when the larger
    size could not pack that many picks (``MAX_PACKING`` per squared diameter), so crowded
    micrographs pay nothing for it. On a sparse micrograph (``SPARSE_PACKING``, counted in the
    larger picks: the picks a template too small finds in noise count as much as particles, and
    sparse shells given 0.75 x, 123-217 picks with as many decoys for 80 particles, looked crowded:
    precision 0.19-0.25) at least ``MIN_FAINT_PICKS`` larger picks are also taken when they are
    purer: the given size's decoys (picked with :func:`_negated`) reaching the floor number
    ``NOISY_SHARE`` of its picks or more, and the larger size's at most ``PURER_SHARE_RATIO`` x that
    share of its own (then no crowded pass follows: 0.7 x the larger size is about the given one,
    found noisier). A larger template has fewer, wider noise windows, so noise alone keeps about
    0.56 x the share; a template too small for faint sparse particles loses most of its decoys at
    4/3 x while still finding the particles: simulated globular particles given 0.75 x, 0.4-1.2
    decoys per pick at that size, 0-0.2 at 1 x (interior F1 per micrograph 0.52-0.80 -> 0.76-0.94).
    On a denser micrograph the larger size must also lift ``PURER_GAIN`` x as many picks above the
    floor: given the right size, a larger one finds the same particles with fewer noise windows
    too (1.08 x as many, 0.05-0.07 decoys per pick against 0.35-0.46; taken, interior F1 fell
    0.003-0.013 on 4 sets), while one too small misses particles (faint shells at area fraction
    0.3 given 0.75 x: 1.25-1.8 x as many, 0.84-1.29 decoys per pick -> 0.06-0.14)."""
    given = np.count_nonzero(found.merit >= floor)
    larger_px = LARGER_FALLBACK_RATIO * found.diameter_px
    if MIN_LARGER_GAIN * given * larger_px ** 2 > MAX_PACKING * micrograph.data.size:
        return found, None, False
    larger = _candidates(micrograph, config, larger_px)
    if _more_reach(larger.merit, found.merit, floor, MIN_LARGER_GAIN):
        return larger, None, False
    larger_count = np.count_nonzero(larger.merit >= floor)
    if (larger_count < MIN_FAINT_PICKS
            or (larger_count * larger_px ** 2 > SPARSE_PACKING * micrograph.data.size
                and larger_count < PURER_GAIN * given)):
        return found, None, False
    decoys = _candidates(micrograph, _negated(config), found.diameter_px).merit
    share = _decoy_share(found.merit, decoys, floor)
    if share < NOISY_SHARE:
        return found, decoys, False
    larger_decoys = _candidates(micrograph, _negated(config), larger_px).merit
    if _decoy_share(larger.merit, larger_decoys, floor) <= PURER_SHARE_RATIO * share:
        return larger, larger_decoys, True
    return found, decoys, False


def _more_reach(other_merit: np.ndarray, merit: np.ndarray, floor: float, gain: float) -> bool:
    """Whether at least ``MIN_FAINT_PICKS`` and ``gain`` x as many candidates at another size
    (``other_merit``) as at the given one (``merit``) reach the ``floor``."""
    return bool(np.count_nonzero(other_merit >= floor)
                >= max(MIN_FAINT_PICKS, gain * np.count_nonzero(merit >= floor)))


def _decoy_share(merit: np.ndarray, decoy_merit: np.ndarray, floor: float) -> float:
    """The decoys reaching the ``floor`` per candidate reaching it (at least one counted)."""
    return float(np.count_nonzero(decoy_merit >= floor)) / max(int(np.count_nonzero(merit >= floor)), 1)


def _unless_crowded(micrograph: Micrograph, config: PickerConfig, diameter_px: float,
                    edge_px: float, judged: np.ndarray, kept: np.ndarray, kept_floor: float,
                    merged: bool) -> Candidates | None:
    """The picks made at ``crowded_diameter_fraction`` of the
    diameter (binned no coarser than ``CROWDED_MIN_WORKING_RATIO`` x ``working_diameter_px``)
    when :func:`resolves_crowding` says they should replace the given size's picks (``merged``:
    see there), else None. The smaller size is tried on a central part first (:func:`trial_part`)
    and run on all of it only when it passes there, so an uncrowded micrograph pays a quarter
    (or a sixteenth) of its cost. It is judged against the picks above the floor (``judged``)
    and, when the given size's were kept to a lower floor (``kept``, down to ``kept_floor``: see
    :func:`faint_floor`), against those at that floor (:func:`judgements`); its density is
    counted down to ``kept_floor`` both times, and its picks kept down to :func:`crowded_floor`.
    Its picks must also outnumber ``CROWDED_DECOY_RATIO`` x its decoys (picked with
    :func:`_negated`), counted at the same floor: around globular particles in thick ice given
    0.75 x, a smaller size adds 1-1.5 noise picks per particle, as many as its decoys
    (0.95-1.14 x), and one splitting sparse two-domain particles into their halves 1.1-1.2 x
    (precision 0.3-0.4); merged crowded neighbours outnumber them 1.24-143 x."""
    crowded_px = config.crowded_diameter_fraction * diameter_px
    factor = bin_factor(crowded_px, CROWDED_MIN_WORKING_RATIO * config.working_diameter_px,
                        at_least=True)
    unfloored = replace(config, min_figure_of_merit=None)
    levels = judgements(judged, kept, config.min_figure_of_merit or 0.0, kept_floor)
    part, offset = trial_part(micrograph, diameter_px, judged, edge_px)
    in_trial = [(given[in_part(given, offset, part.shape, edge_px)] - offset, level, density)
                for given, level, density in levels]
    trial = pick_at_size(part, unfloored, crowded_px, edge_px, factor)
    if _resolving(in_trial, trial.centres, trial.merit, diameter_px, part.data.size, kept_floor,
                  merged, trial=True) is None:
        return None
    crowded = pick_at_size(micrograph, unfloored, crowded_px, edge_px, factor)
    resolving = _resolving(levels, crowded.centres, crowded.merit, diameter_px, micrograph.data.size,
                           kept_floor, merged)
    if resolving is None:
        return None
    given, level = resolving
    decoys = pick_at_size(micrograph, _negated(unfloored), crowded_px, edge_px, factor).merit
    if not outnumbers_decoys(crowded.merit, decoys, level, CROWDED_DECOY_RATIO):
        return None
    strong = crowded.merit >= level
    return crowded.subset(crowded.merit >= crowded_floor(given, crowded.centres[strong],
                                                         crowded.merit[strong], diameter_px, level))


def _resolving(levels: list[tuple[np.ndarray, float, float]], crowded_centres: np.ndarray,
               crowded_merit: np.ndarray, diameter_px: float, area_px: float, kept_floor: float,
               merged: bool, trial: bool = False) -> tuple[np.ndarray, float] | None:
    """The first of ``levels`` (given-size picks, floor, density) at which the smaller size's
    picks resolve crowding, as (given-size picks, floor); None when none does."""
    found = int(np.count_nonzero(crowded_merit >= kept_floor))
    for given, level, density in levels:
        strong = crowded_merit >= level
        if resolves_crowding(given, crowded_centres[strong], crowded_merit[strong], diameter_px,
                             area_px, trial=trial, merged=merged, found=found, min_density=density):
            return given, level
    return None


def _kept_floors(micrograph: Micrograph, config: PickerConfig, found: Candidates, floor: float,
                 decoys: np.ndarray | None = None) -> tuple[float, float]:
    """The figures of merit the picks ``found`` at one size (every candidate) need:
    :func:`faint_floor`, or when that keeps the ``floor``, :func:`decoy_floor`; and
    :func:`deeper_floor` below it, for when no smaller size replaces the picks (a crowded pass
    judges them at the first). ``decoys``: their figures of merit, when already picked; else they
    are picked only when they could lower a floor (it costs a second pick at this size)."""
    merit, no_decoys = found.merit, np.empty(0)
    kept_floor = faint_floor(merit, floor)
    lowest = (deeper_floor(merit, no_decoys, floor, kept_floor) if kept_floor < floor
              else decoy_floor(merit, no_decoys, floor))  # the most decoys could allow
    if not has_template_step(config) or lowest == kept_floor:
        return kept_floor, kept_floor
    if decoys is None:
        decoys = _candidates(micrograph, _negated(config), found.diameter_px).merit
    kept_floor = kept_floor if kept_floor < floor else decoy_floor(merit, decoys, floor)
    return kept_floor, deeper_floor(merit, decoys, floor, kept_floor)


def _negated(config: PickerConfig) -> PickerConfig:
    """``config`` picking on the negated response of its pipeline's learned template: the decoys
    (``decoy_floor`` says why)."""
    steps, after = config.pipeline, len(template_step(config.pipeline)[0]) + 1
    return replace(config, pipeline=[*steps[:after], {"filter": "invert"}, *steps[after:]])
