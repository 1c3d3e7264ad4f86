"""The particle diameter, measured on the micrographs themselves.

The default picker learns a radial template from each micrograph (``template.radial_template``).
Learned at a trial diameter d, its strongest responses have a signal-to-noise ratio that grows
with d while the template still misses part of the particle, stays on a plateau while it holds
the whole particle, and falls once it takes in the background (or, in a crowded field, turns
into a template of the gaps between particles, whose responses are then denser than particles
can pack). The particle diameter is taken as the middle of that plateau, on a logarithmic scale.

Measured against the labelled diameter on 14 sets (real, upsampled and simulated, 35-250 Å),
the middle of the plateau lands within 15 % on 85 % of single micrographs (64 % of 121 on 13
other sets, whose simulated solid particles it puts at 0.8-0.9 x); the start of the
plateau, the peak of a fixed disc detector and the autocorrelation of the image do not (hollow
shells and solid blobs put them 30-60 % apart). :func:`estimate_diameter` takes the median of
several micrographs' estimates, and the picker (``PickerConfig.correct_diameter``) checks the
configured diameter on each micrograph with the same measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import DEFAULT_DIAMETER_RANGE_ANGSTROM, PickerConfig
from .convert import bin_blocks, bin_factor_for, median_value, to_uint8
from .curve import (
    after_fall,
    before_fewer,
    before_jump,
    before_last_rise,
    before_regrowth,
    before_takeover,
    plateau,
    signal_only,
    without_spikes,
)
from .filters import apply_pipeline, resolve_step
from .io import Micrograph
from .neighbours import nearest_distances
from .peaks import disc_maxima
from .template import radial_template

STRONG_SNR = 4.0  # responses above this count as particles (the picker's own floor)
MAX_PACKING = 1.0  # strong responses denser than one per d x d are not particles of diameter d
MIN_STRONG = 10  # nor are fewer than this many in the region (contamination, ice, carbon)
MIN_MEASURED = 2  # trial diameters the check needs measured (a few large particles: only the smallest)
STEP = 1.1  # ratio between neighbouring trial diameters
REGION_DIAMETERS = 16.0  # the curve is measured on a central square this many diameters across
WORKING_DIAMETER_PX = 12.0  # binned so that the middle trial diameter is about this many pixels
MIN_ACROSS_DIAMETERS = 8.0  # a trial diameter must fit this many times across the micrograph
CHECK_BELOW, CHECK_ABOVE = 1.65, 1.35  # the check: D / 1.65 to 1.35 D (given ones are more often big)
DEAD_BAND = 1.15  # the picker keeps the configured diameter when the measured one is this close,
MIN_ENLARGING_RISE = 1.15  # or larger and the curve's best is less than this above the lowest
#                            before it: a flat curve near the noise says nothing about size (faint
#                            micrographs given 1.33 x: 1.11-1.14, enlarged to 1.6-1.8 D; given
#                            0.75 x, particles rise 1.17-2.3 or from no particle-like response)
REFINE_STEPS = 3  # at most this many re-measurements around the estimate,
REFINE_SPAN = 1.65  # each from 1 / 1.65 to 1.65 times it
BAND_SPAN = CHECK_BELOW * CHECK_ABOVE  # the longest band of trial diameters measured at one binning
# When the diameter check enlarged the given diameter (see accounts_for), the enlarged picks must lie
ACCOUNTED_DIAMETERS = 0.75  # within 0.75 enlarged diameters of at least half of the given size's
MIN_ACCOUNTED_FRACTION = 0.5  # picks (enlargements that helped, 30 sets: 0.5-1; to contamination or
#                               carbon: 0.08-0.4)
MAX_MERGED_RATIO, MIN_MERGED_ACCOUNTED = 0.7, 0.8  # an enlargement the curve did not rise to (see merges)


@dataclass(frozen=True)
class SizeEvidence:
    """One micrograph's learned-template signal-to-noise ratio at each trial diameter (Å); 0
    where a trial diameter gave too few strong responses or denser than particles pack, from
    where a larger object took over the template (:func:`before_takeover`) and up to where a
    smaller, stronger one's curve fell (:func:`after_fall`); with the plateau (low, middle, high
    Å) it estimates, NaN without a particle-like signal."""

    diameters_angstrom: np.ndarray
    snr: np.ndarray
    plateau_angstrom: tuple[float, float, float] = (np.nan, np.nan, np.nan)


@dataclass(frozen=True)
class DiameterEstimate:
    """The estimated diameter (Å), the plateau it is the middle of (on the median micrograph) and
    the evidence behind it (pass it to :func:`estimate_diameter` with new micrographs to refine)."""

    diameter_angstrom: float
    low_angstrom: float
    high_angstrom: float
    evidence: tuple[SizeEvidence, ...]

    @property
    def micrographs(self) -> int:
        return len(self.evidence)


def trial_diameters(low_angstrom: float, high_angstrom: float) -> np.ndarray:
    """Trial diameters from ``low`` to ``high`` (Å) on one logarithmic grid (steps of ``STEP``
    from 1 Å), so that curves measured over different ranges share their points."""
    first = int(np.ceil(np.log(low_angstrom) / np.log(STEP) - 1e-9))
    last = int(np.floor(np.log(high_angstrom) / np.log(STEP) + 1e-9))
    return STEP ** np.arange(first, last + 1, dtype=float)


def size_evidence(micrograph: Micrograph, diameters_angstrom: np.ndarray,
                  config: PickerConfig | None = None, band_span: float = BAND_SPAN,
                  whole_range: bool = False) -> SizeEvidence:
    """The learned-template curve of one micrograph over ``diameters_angstrom``, measured in
    bands at most ``band_span`` long (``config`` supplies the conversion and the
    learned-template step of its pipeline; default when None). Its templates average the seeds'
    plain patches, whatever the pipeline says: with unit-norm seeds the many weak maxima of a
    trial diameter far below the particle count as much as particles do (crowded TRPV1: a
    plateau at 0.25 x, not 0.88 x). The curve stops where few larger objects take over
    (:func:`~cryostream.curve.before_fewer`, :func:`~cryostream.curve.before_takeover`) and starts
    after a smaller one's fall (:func:`~cryostream.curve.after_fall`). Over a ``whole_range`` it
    also stops before a rise to the last trial diameter measured
    (:func:`~cryostream.curve.before_last_rise`): a window around an estimate ends where it was
    set, so a rise there (a hollow shell's walls to the whole shell) is the particle's."""
    diameters = np.asarray(diameters_angstrom, dtype=float)
    raw, counts = _raw_curve(micrograph.data, diameters / _pixel_size(micrograph),
                             config or PickerConfig(), band_span, plain_seeds=True)
    signal = signal_only(after_fall(before_takeover(before_fewer(raw, counts))))
    return SizeEvidence(diameters, before_last_rise(signal, raw) if whole_range else signal)


def _raw_curve(data: np.ndarray, diameters_px: np.ndarray, config: PickerConfig,
               band_span: float = BAND_SPAN,
               plain_seeds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The strong responses' median signal-to-noise ratio at each of ``diameters_px``
    (ascending; 0 where a trial diameter had too few strong responses or more than particles can
    pack) and how many there were, measured in bands of diameters at most ``band_span`` apart,
    each on a central region ``REGION_DIAMETERS`` of its middle diameters across (so the counts
    compare packings) binned to ``WORKING_DIAMETER_PX`` (a cost per band that does not depend
    on the image size)."""
    snr, counts = np.zeros(len(diameters_px)), np.zeros(len(diameters_px))
    start = 0
    while start < len(diameters_px):
        stop = start + int(np.searchsorted(diameters_px[start:], diameters_px[start] * band_span
                                           * (1 + 1e-9), "right"))
        snr[start:stop], counts[start:stop] = _band_curve(data, diameters_px[start:stop], config,
                                                          plain_seeds)
        start = stop
    return snr, counts


def _band_curve(data: np.ndarray, diameters_px: np.ndarray, config: PickerConfig,
                plain_seeds: bool) -> tuple[np.ndarray, np.ndarray]:
    middle = float(np.sqrt(diameters_px[0] * diameters_px[-1]))
    factor = bin_factor_for(middle, WORKING_DIAMETER_PX)
    side = min(int(np.ceil(REGION_DIAMETERS * middle)), *data.shape)
    top = (np.array(data.shape) - side) // 2
    region = data[top[0]:top[0] + side, top[1]:top[1] + side]
    steps, learned = template_step(config.pipeline)
    forced = {"unit_norm_seeds": False} if plain_seeds else {}
    image = apply_pipeline(to_uint8(bin_blocks(region, factor), config.low_percentile,
                                    config.high_percentile), steps, middle / factor)
    snr, counts = np.zeros(len(diameters_px)), np.zeros(len(diameters_px))
    for index, diameter in enumerate(diameters_px / factor):
        if MIN_ACROSS_DIAMETERS * diameter > min(image.shape):
            continue
        response = radial_template(image, **{**resolve_step(learned, diameter)[1], **forced})
        strong = response[disc_maxima(response, diameter / 2, STRONG_SNR)]
        counts[index] = len(strong)
        if len(strong) >= MIN_STRONG and len(strong) * diameter ** 2 <= MAX_PACKING * image.size:
            snr[index] = median_value(strong)
    return snr, counts


def template_step(pipeline: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]],
                                                                    Mapping[str, Any]]:
    """The steps before the pipeline's learned template (the default's flatten, normalise and
    invert), and the template step itself."""
    for index, step in enumerate(pipeline):
        if step.get("filter") == "radial_template":
            return list(pipeline[:index]), step
    raise ValueError("the pipeline has no radial_template step to measure the diameter with")


def has_template_step(config: PickerConfig) -> bool:
    """Whether ``config``'s pipeline learns a radial template (the diameter can be measured)."""
    return any(step.get("filter") == "radial_template" for step in config.pipeline)


def diameter_check(data: np.ndarray, config: PickerConfig, diameter_px: float,
                   bounds_px: tuple[float, float] = (0.0, np.inf)) -> tuple[float, bool]:
    """The diameter the micrograph ``data`` measures and whether its curve rose to it:
    ``diameter_px`` (the configured one), unless the plateau of its learned-template curve,
    measured from ``diameter_px / CHECK_BELOW`` to ``CHECK_ABOVE * diameter_px`` at
    ``MIN_MEASURED`` trial diameters at least and its middle brought within ``bounds_px``, lies
    more than ``DEAD_BAND`` away from it; a larger one has risen when the curve's best is
    ``MIN_ENLARGING_RISE`` above its lowest value before it. The curve stops at a jump
    (``MAX_STEP``) after a signal or at a regrowth (:func:`before_regrowth`) and starts after a
    fall (``MAX_FALL``) to a later signal, and a value is a spike only against trial diameters
    that were measured (not against ones with too few or too dense responses)."""
    ratios = STEP ** np.arange(np.ceil(-np.log(CHECK_BELOW) / np.log(STEP)),
                               np.floor(np.log(CHECK_ABOVE) / np.log(STEP)) + 1)
    measured = _raw_curve(data, ratios * diameter_px, config)[0]
    raw = after_fall(before_jump(measured))
    neighbours = np.where(raw > 0, raw, np.nan)
    signal = before_regrowth(without_spikes(signal_only(raw), neighbours, np.nan), raw)
    found = float(np.clip(plateau(ratios, signal, neighbours=neighbours)[1],
                          bounds_px[0] / diameter_px, bounds_px[1] / diameter_px))
    if (np.isnan(found) or abs(np.log(found)) <= np.log(DEAD_BAND)
            or np.count_nonzero(measured > 0) < MIN_MEASURED):
        return diameter_px, True
    return float(found * diameter_px), bool(
        found < 1 or signal.max() >= MIN_ENLARGING_RISE * _lowest_before(signal, measured))


def _lowest_before(signal: np.ndarray, measured: np.ndarray) -> float:
    """The lowest value of the ``measured`` curve at the trial diameters smaller than the best
    ``signal``'s, ``STRONG_SNR`` where one gave no particle-like responses (too few or too
    dense); infinite when there are none."""
    before = measured[:int(np.argmax(signal))]
    return float(np.where(before > 0, before, STRONG_SNR).min(initial=np.inf))


def estimate_diameter(micrographs: Sequence[Micrograph],
                      range_angstrom: tuple[float, float] | None = None,
                      evidence: Sequence[SizeEvidence] = (),
                      config: PickerConfig | None = None) -> DiameterEstimate:
    """Estimate the particle diameter (Å) from ``micrographs`` (each with its pixel size),
    searching ``range_angstrom`` (default ``DEFAULT_DIAMETER_RANGE_ANGSTROM``; a diameter must
    also fit ``MIN_ACROSS_DIAMETERS`` times across the micrograph).

    Each micrograph gives its own estimate (:func:`micrograph_evidence`), and the estimate is
    their median, the larger of the middle two for an even count; ``evidence`` (the micrographs
    of earlier calls) joins it, which lets a session refine its estimate as micrographs arrive.
    A median of micrographs, not a plateau of their averaged curves: the walls of a hollow shell
    make a plateau of their own at 0.55-0.7 x its diameter, which wins on some micrographs and
    loses on others (apoferritin: 4 of 19 and 15 of 19), and an average of the curves then lands
    between the two, or on the walls. Raises ValueError when no micrograph shows a particle-like
    signal in the range."""
    low, high = range_angstrom or DEFAULT_DIAMETER_RANGE_ANGSTROM
    if not 0 < low < high:
        raise ValueError(f"diameter range must satisfy 0 < min < max, got {low}:{high} Å")
    measured = tuple(evidence) + tuple(micrograph_evidence(micrograph, (low, high), config)
                                       for micrograph in micrographs)
    found = sorted((item for item in measured if not np.isnan(item.plateau_angstrom[1])),
                   key=lambda item: item.plateau_angstrom[1])
    if not found:
        raise ValueError(f"no particle-like signal between {low:g} and {high:g} Å")
    low_found, middle, high_found = found[len(found) // 2].plateau_angstrom
    return DiameterEstimate(middle, low_found, high_found, measured)


def micrograph_evidence(micrograph: Micrograph, range_angstrom: tuple[float, float],
                        config: PickerConfig | None = None) -> SizeEvidence:
    """One micrograph's curve over ``range_angstrom`` (stopped where a larger object takes over
    the template, :func:`before_takeover`: contamination blobs reach 20-200 against the
    particles' 5-7, or still grows in at its end, :func:`before_last_rise`: carbon; started after
    a smaller one's fall, :func:`after_fall`) and the plateau it estimates.

    The range is measured in bands with their own binning, whose levels differ: on apoferritin
    the curve drops about 1.4 x where 0.74 D and 0.82 D fall in different bands, so the walls'
    plateau (0.6 D) wins there on 12 of 19 micrographs. The plateau found is therefore first
    re-measured in one band ``REFINE_SPAN`` times it either way, where the walls and the whole
    shell compete at one binning (the whole shell then wins on 15 of 19), and its middle is then
    measured in the first pass's bands around it, as before (:func:`_refined`)."""
    low, high = range_angstrom
    curve = size_evidence(micrograph, trial_diameters(low, high), config, whole_range=True)
    found = plateau(curve.diameters_angstrom, curve.snr)
    for band_span in (REFINE_SPAN ** 2, BAND_SPAN):
        found = _refined(micrograph, found, range_angstrom, config, band_span)
    return SizeEvidence(curve.diameters_angstrom, curve.snr, found)


def _refined(micrograph: Micrograph, found: tuple[float, float, float],
             range_angstrom: tuple[float, float], config: PickerConfig | None,
             band_span: float) -> tuple[float, float, float]:
    """The plateau ``found`` re-measured from ``1 / REFINE_SPAN`` to ``REFINE_SPAN`` times its
    middle in bands at most ``band_span`` long, at most ``REFINE_STEPS`` times, until it moves
    less than one trial step (``STEP``); ``found`` where a re-measurement shows no signal."""
    low, high = range_angstrom
    for _ in range(REFINE_STEPS if not np.isnan(found[1]) else 0):
        band = trial_diameters(max(low, found[1] / REFINE_SPAN), min(high, found[1] * REFINE_SPAN))
        refined = plateau(band, size_evidence(micrograph, band, config, band_span).snr)
        if np.isnan(refined[1]):
            break
        moved = abs(np.log(refined[1] / found[1]))
        found = refined
        if moved <= np.log(STEP):
            break
    return found


def _pixel_size(micrograph: Micrograph) -> float:
    if not micrograph.pixel_size_angstrom:
        raise ValueError(f"{micrograph.path}: no pixel size, so diameters in Å cannot be measured")
    return float(micrograph.pixel_size_angstrom)


def accounts_for(given_centres: np.ndarray, enlarged_centres: np.ndarray,
                 enlarged_px: float) -> bool:
    """Whether the picks made at the size the diameter check enlarged to (``enlarged_px``)
    account for the picks made at the given size: at least ``MIN_ACCOUNTED_FRACTION`` of
    these lie within ``ACCOUNTED_DIAMETERS`` enlarged diameters of one (on that particle, as a
    hollow shell's split walls do, or on a neighbour). When the check took contamination or a
    carbon edge for the particle, the enlarged picks are a few objects far from most of the
    particles the given size found: given 1.33 x, simulated low-dose micrographs enlarged to
    1.6-1.8 x kept 7-19 picks for 76-95 (F1 0.82-0.84 -> 0.09-0.12) and accounted for 10-19 %."""
    return _accounted(given_centres, enlarged_centres, enlarged_px) >= MIN_ACCOUNTED_FRACTION


def merges(given_centres: np.ndarray, enlarged_centres: np.ndarray, enlarged_px: float) -> bool:
    """Whether the picks made at a size the diameter check measured but its curve did not rise
    to (``enlarged_px``) merge the given size's: at most ``MAX_MERGED_RATIO`` x as many, within
    ``ACCOUNTED_DIAMETERS`` enlarged diameters of at least ``MIN_MERGED_ACCOUNTED`` of them. A
    template too small for the particles splits them (a shell's walls: about two picks each),
    and in a crowded field their curve can rise as little as a faint micrograph's: the bench's
    crowded 4k apoferritin given 0.75 x, 13 of 38 micrographs measured 0.88-0.97 D that way, whose
    picks there number 0.48-0.71 x the given size's and account for 0.95-0.98 of them (merged on
    10: interior F1 0.58-0.61 -> 0.79-0.93). Where the check measured a size that way on the
    simulated sets (32 micrographs, wrong or no better), the picks accounting for 0.8 or more
    of the given ones numbered 0.74-1 x, and fewer than 0.7 x accounted for at most 0.67."""
    return bool(0 < len(enlarged_centres) <= MAX_MERGED_RATIO * len(given_centres)
                and _accounted(given_centres, enlarged_centres, enlarged_px) >= MIN_MERGED_ACCOUNTED)


def _accounted(given_centres: np.ndarray, enlarged_centres: np.ndarray, enlarged_px: float) -> float:
    """The share of ``given_centres`` within ``ACCOUNTED_DIAMETERS`` x ``enlarged_px`` of one of
    ``enlarged_centres`` (1 when there are none to account for)."""
    if len(given_centres) == 0:
        return 1.0
    if len(enlarged_centres) == 0:
        return 0.0
    near = nearest_distances(given_centres, enlarged_centres) <= ACCOUNTED_DIAMETERS * enlarged_px
    return float(near.mean())
