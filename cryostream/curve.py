"""The shape of a learned-template curve (signal-to-noise ratio against trial diameter, see
:mod:`cryostream.diameter`): its plateau, and the parts of it that belong to other objects than
the particle (an isolated spike, a jump, a fall, a regrowth, a takeover) and are cut before the
plateau is taken. Pure functions on arrays; 0 marks a trial diameter that was not measured."""

from __future__ import annotations

import numpy as np

PLATEAU_LEVEL = 0.95  # the plateau: trial diameters within 5 % of the best signal-to-noise ratio
MIN_SIGNAL_SNR = 5.0  # strong responses' median must reach this; noise gives 4.2-4.6 (crowded TRPV1
#                       and the faintest simulated sets, 4.2-4.9 at every trial diameter)
MAX_SPIKE = 1.15  # a value this far above its neighbours is a larger object (contamination, a
#                   carbon edge) entering the template, not the particle's smooth curve
MAX_STEP = 1.5  # a rise this steep from one trial diameter with a signal to the next (10 % larger) is
#                 a larger object taking over the template (contamination, the lattice of crowded
#                 neighbours); the particle's own curve rises at most 1.35 x per step on 14 sets,
MIN_JUMP_SNR = 5.5  # unless it rises from a signal under this, barely above the noise: a hollow
#                     shell's walls (5.0-5.5) before the whole shell (1.5-2.4 x), thick ice (5.35
#                     at 0.47 D, then 8.5); from there, or from under the signal floor, a rise
MAX_WEAK_STEP = 2.5  # this steep is one (contamination at 1.6 D: 5.3 -> 15.7; carbon: 4.3-6.1 x)
TAKEOVER_AFTER_SIGNAL = 2.0  # the estimate's curves stop at a rise this steep after a signal (a
#                             steeper cut than MAX_STEP: its bands' binning differs, which alone
#                             makes rises of up to 1.7 x between neighbouring bands) ...
TAKEOVER_FROM_NOISE = 2.5  # ... or this steep from any measured value (a hollow shell's walls ->
#                            whole shell jump from below the floor is at most 2.1 x; carbon after
#                            faint crowded particles just under it, 4.99 -> 13.9, is 2.8 x)
MAX_FALL = 2.0  # a fall this steep from a signal to the next trial diameter measured, with a signal
#                 again further on, ends a smaller, stronger object's curve (contamination: 21-39
#                 at 0.62-0.75 D, then the particles' 6); between two values with a signal, the
#                 particle's own curve falls at most 1.67 x per step (14 sets, 0.75-1.33 D)
REGROWTH_DIP = 0.85  # a fall below this x the plateau so far, then a rise above it to less than
REGROWTH_MARGIN = 1.15  # this x it: a larger object after the particle (see before_regrowth)
FEWER_RATIO = 0.15  # strong responses fewer than this x the most a signal had at a smaller trial
#                     diameter are a few larger objects, not the particles (see before_fewer)


def signal_only(raw: np.ndarray) -> np.ndarray:
    """``raw`` where it reaches ``MIN_SIGNAL_SNR``, else 0."""
    return np.where(raw >= MIN_SIGNAL_SNR, raw, 0.0)


def plateau(diameters: np.ndarray, snr: np.ndarray, level: float = PLATEAU_LEVEL,
            neighbours: np.ndarray | None = None) -> tuple[float, float, float]:
    """The run of trial diameters whose signal-to-noise ratio is within ``level`` of the best
    one, as (low, middle, high) with the edges interpolated on a log scale; NaN when no trial
    diameter gave a signal. Isolated spikes (``MAX_SPIKE``) are left out first: each value is
    compared with its neighbours in ``neighbours``, NaN where a trial diameter was not measured
    and beyond the ends, which then do not count (default: ``snr`` itself, where no signal and
    beyond the ends count as 0, so a value with no signal either side is a spike)."""
    snr = np.asarray(snr, dtype=float)
    snr = (without_spikes(snr, snr, 0.0) if neighbours is None
           else without_spikes(snr, np.asarray(neighbours, dtype=float), np.nan))
    top = float(np.max(snr, initial=0.0))
    if top <= 0:
        return (np.nan, np.nan, np.nan)
    cut = level * top
    best = int(np.argmax(snr))
    first, last = best, best
    while first > 0 and snr[first - 1] >= cut:
        first -= 1
    while last < len(snr) - 1 and snr[last + 1] >= cut:
        last += 1
    log_d = np.log(diameters)
    low = log_d[0] if first == 0 else _crossing(log_d, snr, first - 1, first, cut)
    high = log_d[-1] if last == len(snr) - 1 else _crossing(log_d, snr, last + 1, last, cut)
    return float(np.exp(low)), float(np.exp((low + high) / 2)), float(np.exp(high))


def without_spikes(snr: np.ndarray, reference: np.ndarray, beyond: float) -> np.ndarray:
    """``snr`` with every value more than ``MAX_SPIKE`` times each of its neighbours in
    ``reference`` (``beyond`` past the ends) set to 0; NaN neighbours are left out, and a value
    with no neighbour left is kept."""
    padded = np.concatenate([[beyond], reference, [beyond]])
    with np.errstate(invalid="ignore"):
        neighbours = np.fmax(padded[:-2], padded[2:])
        spike = (snr > MAX_SPIKE * neighbours) & ~np.isnan(neighbours)
    return np.where(spike, 0.0, snr)


def _crossing(x: np.ndarray, y: np.ndarray, below: int, above: int, level: float) -> float:
    """Where y crosses ``level`` between points ``below`` and ``above`` (linear in x)."""
    fraction = (level - y[below]) / (y[above] - y[below])
    return float(x[below] + fraction * (x[above] - x[below]))


def before_jump(raw: np.ndarray) -> np.ndarray:
    """``raw`` (a curve before its signal floor) with 0 from the first trial diameter whose value
    is more than ``MAX_STEP`` times that of the last one measured before it, when that one
    reached ``MIN_JUMP_SNR``, or more than ``MAX_WEAK_STEP`` times it, whatever it was."""
    before = _last_measured_before(raw)
    return _zero_from_first(raw, ((before >= MIN_JUMP_SNR) & (raw > MAX_STEP * before))
                            | ((before > 0) & (raw > MAX_WEAK_STEP * before)))


def before_regrowth(signal: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``signal`` (a curve after its signal floor, spikes removed) with 0 from the first trial
    diameter measured in ``raw`` (before the floor) below ``REGROWTH_DIP`` x the best signal
    before it, when that best is a plateau (two trial diameters within ``PLATEAU_LEVEL`` of it)
    and what follows rises above it, but not to ``REGROWTH_MARGIN`` x it: a larger object's
    curve (a carbon edge; one case on 22 sets at 0.75-1.33 D, a tetramer given 1.33 x: 6.9,
    a fall to 5.6 at 1.3 D, 7.6 at 1.6 D). A hollow shell's walls are one value, not a plateau
    (5.0, 5.8 from a dozen responses, a fall to 4.6, the whole shell's 5.8 from 120)."""
    best_before = _most_before(signal)
    fall = (raw > 0) & (raw < REGROWTH_DIP * best_before)
    if not fall.any():
        return signal
    first = int(np.argmax(fall))
    best = best_before[first]
    if (np.count_nonzero(signal[:first] >= PLATEAU_LEVEL * best) < 2
            or not best < signal[first:].max() < REGROWTH_MARGIN * best):
        return signal
    return np.where(np.arange(len(signal)) >= first, 0.0, signal)


def after_fall(raw: np.ndarray) -> np.ndarray:
    """``raw`` (a curve before its signal floor) with 0 up to the last trial diameter that has a
    signal, is more than ``MAX_FALL`` times the next one measured, and is followed by a signal
    further on: what came before that fall was a smaller, stronger object's curve."""
    after = _last_measured_before(raw[::-1])[::-1]
    signal_later = np.concatenate([np.maximum.accumulate(raw[:0:-1])[::-1], [0.0]]) >= MIN_SIGNAL_SNR
    fall = (raw >= MIN_SIGNAL_SNR) & (after > 0) & (raw > MAX_FALL * after) & signal_later
    return _zero_from_first(raw[::-1], fall[::-1])[::-1]


def before_fewer(raw: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``raw`` (a curve before its signal floor) with 0 from the first measured trial diameter
    whose strong responses (``counts``, on regions a fixed number of band diameters across) number
    fewer than ``FEWER_RATIO`` x the most that one with a signal had before it: a few larger
    objects (carbon, contamination, clumps), not the particles, whose plateau is already behind.
    Crowded tetramers with a contamination blob (simulated): 131-155 responses at 0.73-1.07 D (SNR
    5.2-5.5), 11-24 at 1.7-2.1 D scoring 6.2-7.2, so the plateau went there (estimate 2.0 D).
    Particles larger than an earlier signal's objects pack no sparser: a hollow shell's walls
    make a dozen responses, the whole shell 120."""
    most = _most_before(np.where(raw >= MIN_SIGNAL_SNR, counts, 0.0))
    return _zero_from_first(raw, (raw > 0) & (counts < FEWER_RATIO * most))


def before_last_rise(signal: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``signal`` (a curve after its signal floor) with 0 after the start of the rise that ends at
    its best value, when that is its last value with a signal and the last trial diameter measured
    in ``raw`` at all (before the floor), and the rise starts after the first signal: a larger
    object still growing into the template where the curve can be measured no further, not a
    plateau. Carbon on sparse micrographs climbs 1.06-1.3 x per step, under a takeover's 2 x, to
    the end of the search range (simulated two-domain particles, 190 Å: 6.2 at 1.2 D, 11.3 at
    3.1 D; tetramers, 169 Å: 6.2 at 2.6 D, 8.8 at 3.2 D), where the plateau then went."""
    measured = np.flatnonzero(signal > 0)
    if (len(measured) < 2 or signal[measured[-1]] < signal.max()
            or measured[-1] != np.flatnonzero(raw > 0)[-1]):
        return signal
    start = measured[-1]
    while start > 0 and 0 < signal[start - 1] < signal[start]:
        start -= 1
    if start <= measured[0]:
        return signal
    return np.where(np.arange(len(signal)) > start, 0.0, signal)


def before_takeover(raw: np.ndarray) -> np.ndarray:
    """``raw`` (a curve before its signal floor) with 0 from the first trial diameter where a
    larger object takes over the template: a rise of more than ``TAKEOVER_AFTER_SIGNAL`` times
    from the last value measured before it, when that had a signal, or ``TAKEOVER_FROM_NOISE``
    times from any."""
    before = _last_measured_before(raw)
    return _zero_from_first(raw, ((before >= MIN_SIGNAL_SNR) & (raw > TAKEOVER_AFTER_SIGNAL * before))
                            | ((before > 0) & (raw > TAKEOVER_FROM_NOISE * before)))


def _most_before(values: np.ndarray) -> np.ndarray:
    """Each trial diameter's largest value among the smaller ones (0 for the first)."""
    return np.concatenate([[0.0], np.maximum.accumulate(values)[:-1]])


def _last_measured_before(raw: np.ndarray) -> np.ndarray:
    """Each trial diameter's nearest smaller one that was measured (0 where none), so a trial
    diameter with too few or too dense responses in between does not hide a jump (apoferritin:
    6.1, unmeasured, then 16.3 as the template takes in the whole shell and its neighbours)."""
    measured = np.maximum.accumulate(np.where(raw > 0, np.arange(len(raw)), -1))
    earlier = np.concatenate([[-1], measured[:-1]])
    return np.where(earlier >= 0, raw[np.maximum(earlier, 0)], 0.0)


def _zero_from_first(raw: np.ndarray, rise: np.ndarray) -> np.ndarray:
    """``raw`` with 0 from the first trial diameter where ``rise`` holds."""
    if not rise.any():
        return raw
    return np.where(np.arange(len(raw)) >= int(np.argmax(rise)), 0.0, raw)
