"""Whether picks made at a smaller size should replace the given size's: the picker's crowding
decision, as pure functions of the two sizes' picks (centres in pixels, figures of merit).

Labels and boxes are often drawn at a particle's longest dimension; on a crowded micrograph a
template that large merges neighbours, and a smaller one separates them. The picker runs the
smaller size on a central part first (:func:`trial_part`), then on the whole micrograph, and
keeps its picks when :func:`resolves_crowding` says so, down to :func:`crowded_floor`.
"""

from __future__ import annotations

import numpy as np

from .convert import median_value
from .io import Micrograph
from .neighbours import nearest_distances

# When the smaller size's picks replace the given size's (see resolves_crowding):
NEW_PICK_DIAMETERS = 0.5  # the picks it adds (over half a diameter from every given-size pick)
MIN_NEW_FRACTION = 0.3  # number at least 30 % of the given size's picks,
SAME_CENTRE_DIAMETERS = 0.15  # it re-finds (within 0.15 diameters)
MIN_REFOUND_FRACTION = 0.5  # most of the given size's picks (crowded real data 0.52-0.65, a synthetic
#                             one 0.86; hollow walls 0.02-0.15, 0.3-0.49 if given 15-20 % too small),
LEAST_REFOUND_FRACTION = 0.3  # or fewer, down to this, when it adds
MANY_NEW_FRACTION = 0.5  # at least this many picks per given-size pick
MERGED_DISTANCE_DIAMETERS = 0.8  # a whole particle away from them (median distance to the
#                                  nearest): real data given 1.33 x re-find 0.32-0.49, add 0.68-3.8
#                                  per pick at 0.87-1.3 D; hollow walls re-found 0.3-0.49 add
#                                  0.05-0.59 at 0.58-0.67 D (apoferritin given 0.87 x: 0.59 at 0.67),
MAX_NEW_DISTANCE_DIAMETERS = 1.5  # the new picks lie among the given ones (median distance to
#                                   the nearest: crowded 0.8-1.1 D; noise on a sparse one: 2.5-5)
OUTNUMBERING_NEW_FRACTION = 2.0  # new picks this many per given one outnumber them (crowded4k-
#                                   trpv1 given 1.33 x, trials: 3.2-6.5 per pick, 1.2-2.0 D away;
#                                   a faint micrograph whose given size found 20 of 109 particles:
#                                   2.15, 1.84 D; sparse sets: 0.7-1.5, 1.1-2.7 D, density < 0.27)
SWAMPING_NEW_FRACTION = 3.0  # new picks this many per given one need not re-find them, nor
OVERPACKED_DENSITY = 1.0  # picks denser per given diameter squared than particles that large pack
#                           (given a box size, 2 x the particles', the given size's picks lie
#                           between them: three crowded micrographs re-found 0.14-0.58, with
#                           2.1-5.3 new picks per pick, 0.65-1.33 per squared diameter; on 116
#                           sets given 0.75-1.33 x no F1 changes)
MIN_NEW_MERIT_RATIO = 0.7  # and score like the re-found ones (crowded real data: 0.8-0.9; noise
#                            from the finer binning: 0.55); kept down to this x them: crowded_floor
SUPERSET_REFOUND_FRACTION = 0.7  # re-finding this many, it keeps the given picks and adds to them:
SUPERSET_NEW_FRACTION = 0.15  # this many new picks per given one then suffice (crowded shells and
SUPERSET_MERIT_RATIO = 0.8  # tetramers: 0.15-0.21), scoring this close to the re-found ones
#                             (those: 0.80-0.96; noise beside particles found at their size: 0.71-0.75)
MIN_CROWDED_DENSITY = 0.25  # and finds one per 4 diameters squared (crowded 0.29-0.9; faint noise
#                             0.1-0.22)
MIN_FAINT_CROWDED_DENSITY = 1 / 3  # one per 3 when judged down to a lowered floor (see
#                                    judgements), which lets in the smaller size's noise too: faint
#                                    sparse micrographs 0.28-0.29, faint crowded ones 0.37-1.09
MIN_PICKS_TO_COMPARE = 5
CROWDED_DECOY_RATIO = 1.2  # and its picks reaching the floor it is judged at outnumber its decoys
#                            there this many times (picked on the negated template response: what
#                            noise alone gives): the halves of split two-domain particles and noise
#                            around faint ones, 0.90-1.19 x (one 1.23); merged neighbours a smaller
#                            size separated, 1.24-2.3 x in 96 simulated sets, 6-143 x in crowded
#                            real ones
TRIAL_SIDE_FRACTIONS = (0.25, 0.5)  # the smaller size is tried on a central part, the first of these
MIN_TRIAL_PICKS = 30  # fractions of each side holding this many picks (else the last),
MIN_TRIAL_DIAMETERS = 8.0  # at least this many diameters wide,
TRIAL_LENIENCY = 0.5  # with half the fractions above, so the trial rarely skips a crowded one
SPLIT_TRIAL_LENIENCY = 0.8  # but 0.8 x the re-found fraction when the picks are not ``merged``


def trial_part(micrograph: Micrograph, diameter_px: float,
               centres: np.ndarray, edge_px: float) -> tuple[Micrograph, np.ndarray]:
    """Where a smaller size is tried before it is run on the whole micrograph: a central part and
    its (row, col) offset. The part takes the first of ``TRIAL_SIDE_FRACTIONS`` of each side (at
    least ``MIN_TRIAL_DIAMETERS`` diameters across, in pixels as ``centres``) that holds
    ``MIN_TRIAL_PICKS`` of ``centres`` (:func:`in_part`), else the last: the trial compares
    picks, so it needs enough, and a crowded 4k micrograph holds that many in a sixteenth of its
    area (crowded TRPV1 at its label diameter: a trial of 0.065 s on a quarter, 0.02 s on a
    sixteenth)."""
    for side_fraction in TRIAL_SIDE_FRACTIONS:
        side = np.maximum((side_fraction * np.array(micrograph.shape)).astype(int),
                          int(np.ceil(MIN_TRIAL_DIAMETERS * diameter_px)))
        side = np.minimum(side, micrograph.shape)
        start = (np.array(micrograph.shape) - side) // 2
        if np.count_nonzero(in_part(centres, start, side, edge_px)) >= MIN_TRIAL_PICKS:
            break
    data = micrograph.data[start[0]:start[0] + side[0], start[1]:start[1] + side[1]]
    return Micrograph(data, micrograph.pixel_size_angstrom, micrograph.path), start


def in_part(centres: np.ndarray, start: np.ndarray, shape: np.ndarray | tuple[int, int],
            edge_px: float) -> np.ndarray:
    """Which of ``centres`` (row, col) lie in the part of ``shape`` at ``start``, at least
    ``edge_px`` from its border."""
    return np.all((centres >= start + edge_px) & (centres <= start + np.asarray(shape) - 1 - edge_px),
                  axis=1)


def judgements(judged: np.ndarray, kept: np.ndarray, floor: float,
               kept_floor: float) -> list[tuple[np.ndarray, float, float]]:
    """The (given-size picks, floor, density) a smaller size's picks are judged at, in turn
    (:func:`resolves_crowding`): the given size's picks above the ``floor`` (``judged``) against
    the smaller size's above it, with ``MIN_CROWDED_DENSITY``; and, when the given size's picks
    were kept to a lower floor (``kept``, down to ``kept_floor``: faint particles straddle the
    floor), those against the smaller size's down to it, with ``MIN_FAINT_CROWDED_DENSITY``.
    Judged at one floor both ways: a given-size pick kept below the floor is not a pick the
    smaller size adds. Faint crowded tetramers given 1.33 x (simulated): above the floor the
    smaller size re-finds 0.33-0.71 of the given size's picks and adds 0.13-0.28 per pick, too
    few; down to it, 0.60-0.83 and 0.43-0.83."""
    levels = [(judged, floor, MIN_CROWDED_DENSITY)]
    if kept_floor < floor:
        levels.append((kept, kept_floor, MIN_FAINT_CROWDED_DENSITY))
    return levels


def resolves_crowding(centres: np.ndarray, crowded_centres: np.ndarray,
                      crowded_merit: np.ndarray, diameter_px: float, area_px: float,
                      trial: bool = False, merged: bool = True, found: int | None = None,
                      min_density: float = MIN_CROWDED_DENSITY) -> bool:
    """Whether the picks made at a smaller size should replace ``centres``, made at
    ``diameter_px`` on an image of ``area_px`` pixels (all in the same pixels).

    Yes when the micrograph is crowded with particles smaller than the given diameter (labels and
    boxes are often drawn at the longest dimension), which the given size merges: the smaller size
    finds many (``min_density`` per squared diameter), adds them between the given-size picks (not
    on them, not far from them), re-finds the same centres where both find one (or, re-finding
    fewer, adds many more a whole particle away: a much too large diameter merges most of them),
    and the particles it adds score like those it re-finds. Re-finding nearly all of them
    (``SUPERSET_REFOUND_FRACTION``), it keeps the given size's picks and adds to them, so fewer new
    picks suffice (``SUPERSET_NEW_FRACTION``) when they score closer to the re-found ones
    (``SUPERSET_MERIT_RATIO``): crowded shells and tetramers given 1-1.33 x (simulated), 0.15-0.21
    new picks per pick at 0.80-0.96 x their figure of merit; beside particles found at their own
    size, the noise a smaller size adds scores 0.71-0.75 x. A smaller size that splits particles
    into parts (the walls of a hollow shell) adds picks next to the centres, not a particle away
    from them, and moves the centres; one that picks up noise adds weak picks (from its finer
    binning) or, on a faint sparse micrograph, few. The thresholds are the constants above. A
    ``trial`` on part of the micrograph, which only decides whether running the smaller size on
    all of it is worth the time, halves them and needs only one pick. New picks that outnumber the
    given ones (``OUTNUMBERING_NEW_FRACTION``, at the full ``min_density``) need not lie among
    them: the few given picks that a merging size leaves in a trial's part, or that a faint
    micrograph leaves above the floor, lie far apart. New picks that swamp the given ones
    (``SWAMPING_NEW_FRACTION`` per pick, or ``OVERPACKED_DENSITY`` per given diameter squared,
    denser than particles that large can pack) need not re-find them: a diameter twice the
    particles' leaves its picks between them. Otherwise only ``merged`` picks (made at the given
    size, not by a smaller size already) may be re-found by fewer than nearly all
    (``SUPERSET_REFOUND_FRACTION``): picks that a smaller size made and that a still smaller one
    moves are being split, not unmerged (TRPV1 at its label diameter, tried at 0.49 D: 0.16-0.43
    re-found; given 1.33 x, at 0.65 D: 0.40-0.66; simulated particles given 1.33 x, at 0.65 D:
    0.54-0.69 re-found with 0.35-1.25 new picks per pick, precision 0.44-0.60, where passes that
    helped re-found 0.72-0.87; a trial, on a few picks, needs ``SPLIT_TRIAL_LENIENCY`` x
    ``MIN_REFOUND_FRACTION``: crowded shells checked to 1.04 D re-found 0.5 of 14 in a trial, 0.74
    of all). Nor are picks made at a size the diameter check measured, enlarged or shrunk:
    particles of about that size, which it does not merge (sim-hollow-ice given 0.75 x, checked
    to 0.95 D: a smaller size splitting walls re-found 0.31 and added 0.56 picks per pick 0.82 D
    away, like merged neighbours; two-domain particles given 0.75 x, checked to 0.47 D:
    0.34-0.36 and 1.6-2.2, precision 0.10-0.18; shrunk from 1.33 x to 1.0-1.14 D, passes that
    helped re-found 0.70-0.87), nor at one ``--diameter auto`` measured (sparse two-domain
    particles estimated at 0.77 D: 0.52-0.53 re-found, 0.91-1.06 new picks per pick, precision
    0.25-0.28).

    The density counts ``found`` picks when given (default: ``crowded_centres``): the picker
    counts the smaller size's picks down to the floor its given-size picks were kept to
    (:func:`~cryostream.threshold.faint_floor`), since faint crowded particles straddle the floor
    (simulated crowded tetramers in thick ice: 0.18 per squared diameter above it, 0.34 down to
    the lowered floor, where the other tests, on the picks above it, passed)."""
    leniency = TRIAL_LENIENCY if trial else 1.0
    crowded_area = (len(crowded_centres) if found is None else found) * diameter_px ** 2
    if (len(centres) < (1 if trial else MIN_PICKS_TO_COMPARE)
            or crowded_area < leniency * min_density * area_px):
        return False
    to_given, new, refound = _compared(centres, crowded_centres, diameter_px)
    dense = crowded_area >= min_density * area_px
    swamped = dense and (new.sum() >= SWAMPING_NEW_FRACTION * len(centres)
                         or crowded_area >= OVERPACKED_DENSITY * area_px)
    if merged:
        refound_needed = leniency * MIN_REFOUND_FRACTION
    else:
        refound_needed = SPLIT_TRIAL_LENIENCY * MIN_REFOUND_FRACTION if trial else SUPERSET_REFOUND_FRACTION
    if refound >= refound_needed:
        needed_new = SUPERSET_NEW_FRACTION if refound >= SUPERSET_REFOUND_FRACTION else MIN_NEW_FRACTION
        nearest_new = 0.0
    elif merged or swamped:
        needed_new, nearest_new = MANY_NEW_FRACTION, MERGED_DISTANCE_DIAMETERS
    else:
        return False
    if (new.sum() < leniency * needed_new * len(centres)
            or (refound < leniency * LEAST_REFOUND_FRACTION and not swamped)):
        return False
    outnumbered = dense and new.sum() >= OUTNUMBERING_NEW_FRACTION * len(centres)
    median_new = median_value(to_given[new])
    if (median_new < nearest_new * diameter_px
            or (median_new > MAX_NEW_DISTANCE_DIAMETERS * diameter_px and not outnumbered)):
        return False
    few_new = new.sum() < leniency * MIN_NEW_FRACTION * len(centres)
    return bool(median_value(crowded_merit[new])
                >= (SUPERSET_MERIT_RATIO if few_new else MIN_NEW_MERIT_RATIO)
                * _refound_merit(crowded_merit, to_given, diameter_px))


def _compared(centres: np.ndarray, crowded_centres: np.ndarray,
              diameter_px: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Each smaller-size pick's distance to the nearest given-size pick, which of them are new
    (over ``NEW_PICK_DIAMETERS`` from every one), and the fraction of given-size picks re-found
    (within ``SAME_CENTRE_DIAMETERS``)."""
    to_given = nearest_distances(crowded_centres, centres)
    new = to_given > NEW_PICK_DIAMETERS * diameter_px
    refound = float(np.mean(nearest_distances(centres, crowded_centres)
                            < SAME_CENTRE_DIAMETERS * diameter_px))
    return to_given, new, refound


def crowded_floor(centres: np.ndarray, crowded_centres: np.ndarray, crowded_merit: np.ndarray,
                  diameter_px: float, floor: float) -> float:
    """The figure of merit a smaller size's picks need once :func:`resolves_crowding` has taken
    them (same arguments; the picks at or above ``floor``): ``floor``, or less when the particles
    both sizes find score lower, down to ``MIN_NEW_MERIT_RATIO`` x their median (the share of it
    that the picks it adds had to reach). On a crowded micrograph the particles' own figures of
    merit can straddle the floor: the picks this adds below it are 0.56-0.62 particles on
    crowded4k-trpv1 (0.79 above it), 0.79-0.81 on sim-tetramer. A pass taken by mistake keeps
    more of its mistake: sim-hollow-ice given 0.75 x, walls split (a pass that
    :func:`resolves_crowding` now refuses), kept 49 more picks, 2 of them particles."""
    to_given = nearest_distances(crowded_centres, centres)
    return min(floor, MIN_NEW_MERIT_RATIO * _refound_merit(crowded_merit, to_given, diameter_px))


def _refound_merit(crowded_merit: np.ndarray, to_given: np.ndarray, diameter_px: float) -> float:
    """The median figure of merit of the smaller size's picks that re-find a given-size pick
    (``to_given``, their distances to the nearest one, under ``SAME_CENTRE_DIAMETERS``)."""
    return median_value(crowded_merit[to_given < SAME_CENTRE_DIAMETERS * diameter_px])
