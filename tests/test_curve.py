import numpy as np
import pytest

from cryostream.curve import (
    after_fall,
    before_fewer,
    before_jump,
    before_last_rise,
    before_regrowth,
    before_takeover,
    plateau,
)


def test_plateau_is_the_middle_of_the_run_near_the_best_value() -> None:
    diameters = 2.0 ** np.arange(7)  # 1 .. 64
    rising_flat_falling = np.array([2.0, 5.0, 9.9, 10.0, 9.8, 6.0, 3.0])
    low, middle, high = plateau(diameters, rising_flat_falling)
    assert 2 < low < 4 and 16 < high < 32
    assert middle == pytest.approx(np.sqrt(low * high))


def test_plateau_ignores_an_isolated_spike_and_reports_no_signal() -> None:
    diameters = 2.0 ** np.arange(6)
    with_spike = np.array([5.0, 9.0, 9.2, 9.1, 8.0, 20.0])
    assert plateau(diameters, with_spike)[1] < 16
    assert np.isnan(plateau(diameters, np.zeros(6))[1])


def test_a_value_whose_neighbours_were_not_measured_is_no_spike() -> None:
    """The picker's check passes the curve before its signal floor as the spike test's
    neighbours, NaN where a trial diameter had responses denser than particles pack."""
    diameters = 2.0 ** np.arange(5)
    snr = np.array([5.6, 5.7, 6.2, 0.0, 6.8])  # still rising where the neighbour was too dense
    assert plateau(diameters, snr)[1] < 4  # as a spike, the rise would be left out
    raw = np.array([5.6, 5.7, 6.2, np.nan, 6.8])
    assert plateau(diameters, snr, neighbours=raw)[1] > 8
    jump = np.array([5.5, 5.9, 0.0, 12.0, 0.0])  # a weak value, then the template learns a lattice
    raw = np.array([5.5, 5.9, 4.8, 12.0, np.nan])
    assert plateau(diameters, jump, neighbours=raw)[1] < 4


def test_the_check_stops_at_a_jump_after_a_signal() -> None:
    """A contamination blob taking over the template at 1.6 x the particle: 5.3 -> 15.7."""
    particle_then_blob = np.array([6.0, 6.1, 6.1, 5.8, 5.4, 5.3, 15.7, 16.8])
    assert np.array_equal(before_jump(particle_then_blob)[6:], [0.0, 0.0])
    assert np.array_equal(before_jump(particle_then_blob)[:6], particle_then_blob[:6])
    shell = np.array([4.4, 4.3, 8.6, 9.3])  # walls below the signal floor, then the whole shell
    assert np.array_equal(before_jump(shell), shell)
    gap = np.array([6.0, 6.5, 7.0, 7.1, 0.0, 16.3])  # an unmeasured trial diameter in between
    assert np.array_equal(before_jump(gap), [6.0, 6.5, 7.0, 7.1, 0.0, 0.0])
    assert np.array_equal(before_takeover(np.array([5.3, 0.0, 19.3])), [5.3, 0.0, 0.0])


@pytest.mark.parametrize(("raw", "expected"), [
    ([5.35, 8.5, 9.5, 10.4, 12.0, 9.3], [5.35, 8.5, 9.5, 10.4, 12.0, 9.3]),  # thick ice: rising
    ([5.1, 9.7, 10.1], [5.1, 9.7, 10.1]),  # out of the noise; a hollow shell's walls, whole shell
    ([6.0, 6.2, 9.5, 10.0], [6.0, 6.2, 0.0, 0.0]),  # from a clear signal, 1.5 x is a jump
    ([5.2, 13.5, 14.0], [5.2, 0.0, 0.0]),  # from a weak one, 2.5 x is
    ([4.5, 0.0, 12.0], [4.5, 0.0, 0.0]),  # and from under the floor (a carbon edge)
])
def test_a_curve_rising_out_of_the_noise_is_no_jump(raw: list[float],
                                                     expected: list[float]) -> None:
    assert np.array_equal(before_jump(np.array(raw)), expected)


@pytest.mark.parametrize(("raw", "expected"), [
    # contamination smaller than the particle at the smallest trial diameters (simulated shells)
    ([0.0, 35.6, 21.5, 4.5, 5.7, 5.8, 5.9], [0.0, 0.0, 0.0, 4.5, 5.7, 5.8, 5.9]),
    ([32.6, 38.7, 5.7, 0.0, 4.7, 6.2, 6.5], [0.0, 0.0, 5.7, 0.0, 4.7, 6.2, 6.5]),
    ([8.7, 8.8, 8.9, 8.7, 5.2, 5.2], [8.7, 8.8, 8.9, 8.7, 5.2, 5.2]),  # the particle's own fall
    ([6.0, 7.0, 20.0, 4.0, 3.0], [6.0, 7.0, 20.0, 4.0, 3.0]),  # no signal after the fall
])
def test_the_check_starts_after_a_smaller_stronger_object(raw: list[float],
                                                         expected: list[float]) -> None:
    assert np.array_equal(after_fall(np.array(raw)), expected)


@pytest.mark.parametrize(("signal", "stops_at"), [
    # a tetramer given 1.33 x (simulated, carbon): its plateau, a fall, then a larger object's bump
    ([6.9, 6.9, 6.7, 6.4, 6.2, 5.6, 7.1, 7.6, 5.4], 5),
    ([6.9, 6.9, 6.7, 6.4, 6.2, 5.6, 7.1, 8.1, 5.4], None),  # the bump is clearly higher: it wins
    ([5.0, 5.8, 4.6, 5.8, 5.8, 5.8, 5.8, 5.6, 4.6], None),  # a shell's walls: one value, no plateau
    ([8.7, 8.8, 8.9, 8.7, 5.2, 5.2], None),  # the particle's own fall, nothing after it
    ([5.6, 5.7, 6.0, 6.2, 6.6, 6.7, 7.2, 7.6], None),  # a steady rise (apoferritin given 0.75 x)
])
def test_the_check_stops_at_a_fall_before_a_larger_objects_bump(signal: list[float],
                                                                 stops_at: int | None) -> None:
    raw = np.array(signal)  # every trial diameter measured; 4.6 is below the signal floor
    floored = np.where(raw >= 5.0, raw, 0.0)
    expected = (floored if stops_at is None
                else np.where(np.arange(len(raw)) >= stops_at, 0.0, floored))
    assert np.array_equal(before_regrowth(floored, raw), expected)


@pytest.mark.parametrize(("raw", "stops_at"), [
    ([4.8, 5.2, 5.3, 19.3, 35.4], 3),  # contamination after the particles' signal: 3.6 x
    ([4.3, 4.5, 28.2, 35.9], 2),  # contamination from noise: 6.3 x
    ([4.3, 4.7, 4.99, 13.9, 15.6], 3),  # carbon after faint particles just under the floor: 2.8 x
    ([6.3, 7.4, 11.4, 12.9], None),  # a change of band: 1.5 x
    ([4.4, 4.3, 8.6, 9.3], None),  # a hollow shell's walls, then the whole shell: 2.0 x
])
def test_the_estimate_stops_where_a_larger_object_takes_over(raw: list[float],
                                                             stops_at: int | None) -> None:
    expected = np.array(raw) if stops_at is None else np.where(np.arange(len(raw)) >= stops_at,
                                                                0.0, raw)
    assert np.array_equal(before_takeover(np.array(raw)), expected)


@pytest.mark.parametrize(("raw", "counts", "stops_at"), [
    # crowded tetramers, then a contamination blob and a few clumps (a simulated micrograph)
    ([5.3, 5.4, 5.4, 5.5, 5.2, 0.0, 6.2, 6.5, 7.2], [153, 155, 149, 144, 132, 89, 13, 12, 11], 6),
    ([5.0, 5.8, 4.6, 5.8, 5.8], [12, 12, 30, 120, 118], None),  # a shell's walls, the whole shell
    ([5.7, 5.8, 6.2, 6.8], [106, 80, 54, 38], None),  # neighbours merging: fewer, not few
    ([4.5, 4.6, 5.4, 5.5], [300, 300, 30, 28], None),  # many responses, but under the signal floor
])
def test_the_estimate_stops_where_few_larger_objects_take_over(raw: list[float], counts: list[int],
                                                               stops_at: int | None) -> None:
    expected = np.array(raw) if stops_at is None else np.where(np.arange(len(raw)) >= stops_at,
                                                                0.0, raw)
    assert np.array_equal(before_fewer(np.array(raw), np.array(counts, dtype=float)), expected)


@pytest.mark.parametrize(("signal", "raw_after", "stops_after"), [
    # carbon on a sparse micrograph, rising to the end of the range (simulated, 190 Å)
    ([6.3, 6.6, 6.2, 6.2, 7.3, 6.2, 5.9, 6.3, 6.7, 7.9, 9.7, 11.3], [], 6),
    ([6.2, 6.5, 6.4, 6.2, 6.8, 8.8], [], 3),  # tetramers on carbon (169 Å): from 2.6 to 3.2 D
    ([6.2, 6.5, 6.4, 6.2, 6.8, 8.8], [4.6], None),  # measured further, under the floor: not the end
    ([6.2, 6.5, 6.4, 6.2, 6.8, 6.7], [], None),  # the best is not the last value
    ([5.1, 5.6, 6.2, 6.8, 7.3], [], None),  # a rise from the first signal: nothing else to take
    ([6.2, 0.0, 5.4, 5.9, 6.8], [], 2),  # a rise after an unmeasured trial diameter
])
def test_the_estimate_stops_before_a_rise_to_the_end_of_what_was_measured(
        signal: list[float], raw_after: list[float], stops_after: int | None) -> None:
    raw = np.array(signal + raw_after)
    padded = np.array(signal + [0.0] * len(raw_after))
    expected = padded if stops_after is None else np.where(np.arange(len(padded)) > stops_after,
                                                           0.0, padded)
    assert np.array_equal(before_last_rise(padded, raw), expected)
