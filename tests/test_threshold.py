import numpy as np
import pytest

from cryostream.threshold import (
    above_the_particles,
    adaptive_merit_threshold,
    decoy_floor,
    deeper_floor,
    faint_floor,
    outnumbers_decoys,
)


def test_adaptive_threshold_separates_two_populations() -> None:
    rng = np.random.default_rng(0)
    merit = np.concatenate([rng.lognormal(0.0, 0.2, 100), rng.lognormal(1.5, 0.2, 200)])
    threshold = adaptive_merit_threshold(merit)
    assert np.exp(0.4) < threshold < np.exp(1.1)
    assert adaptive_merit_threshold(merit[:5]) == 0.0


def _lognormals(seed: int, *populations: tuple[float, float, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.lognormal(np.log(median), spread, count)
                           for median, spread, count in populations])


@pytest.mark.parametrize("merit", [
    # contamination and carbon edges can outscore every particle: a small upper component is
    # that tail, and cutting below it would drop the whole micrograph
    _lognormals(4, (7.0, 0.2, 300), (50.0, 0.2, 10)),
    # a crowded micrograph's single population
    _lognormals(1, (np.exp(3.0), 0.06, 350)),
    # two close components of one skewed population
    _lognormals(2, (40.0, 0.05, 120), (48.0, 0.04, 230)),
], ids=["strong outliers", "one population", "two close components"])
def test_adaptive_threshold_keeps_one_population_whole(merit: np.ndarray) -> None:
    assert adaptive_merit_threshold(merit) == 0.0


@pytest.mark.parametrize(("above", "below", "floor", "expected"), [
    (np.linspace(4.0, 6.0, 40), np.linspace(3.5, 3.99, 10), 4.0, 3.5),  # faint particles thin out
    (np.linspace(4.0, 6.6, 40), np.linspace(3.8, 3.99, 5), 4.0, 0.7 * 5.3),  # 0.7 x their median
    (np.linspace(4.0, 6.0, 40), np.linspace(3.5, 3.99, 18), 4.0, 3.5),  # their mode below it
    # a noise tail grows, also further down
    (np.linspace(4.0, 6.0, 40), np.r_[np.linspace(3.5, 3.99, 25), np.linspace(3.0, 3.49, 75)],
     4.0, 4.0),
    (np.linspace(4.0, 6.0, 40), np.r_[np.linspace(3.5, 3.99, 60), np.linspace(3.0, 3.49, 180)],
     4.0, 4.0),
    # many just below, fewer further down: the particles' mode (simulated low-dose: 41 then 36)
    (np.linspace(4.0, 6.0, 40), np.r_[np.linspace(3.5, 3.99, 25), np.linspace(3.0, 3.49, 31)],
     4.0, 3.5),
    (np.linspace(4.0, 6.0, 40), np.r_[np.linspace(3.5, 3.99, 25), np.linspace(3.0, 3.49, 32)],
     4.0, 4.0),
    # thinning across the floor, and at most 2 x as many again further down (10, 15, 30)
    (np.linspace(4.0, 6.0, 40), np.r_[np.linspace(3.5, 3.99, 15), np.linspace(3.0, 3.49, 30)],
     4.0, 3.5),
    (np.linspace(4.0, 6.0, 40), np.r_[np.linspace(3.5, 3.99, 15), np.linspace(3.0, 3.49, 31)],
     4.0, 4.0),
    # a noise tail growing slowly across the floor and fast below it (given 0.75 x: 32, 52, 129)
    (np.r_[np.linspace(4.0, 4.49, 32), np.linspace(4.5, 6.0, 23)],
     np.r_[np.linspace(3.5, 3.99, 52), np.linspace(3.0, 3.49, 129)], 4.0, 4.0),
    (np.linspace(4.4, 6.4, 40), np.linspace(3.8, 3.99, 5), 4.0, 4.0),  # none just above
    (np.linspace(6.0, 9.0, 40), np.linspace(3.5, 3.99, 5), 4.0, 4.0),  # they score well above
    (np.linspace(4.0, 6.0, 9), np.linspace(3.5, 3.99, 2), 4.0, 4.0),  # too few to tell
    (np.linspace(6.0, 9.0, 40), np.linspace(5.25, 5.99, 5), 6.0, 5.25),  # any floor: 7/8 of it
])
def test_faint_floor_follows_the_particles_above_it(above: np.ndarray, below: np.ndarray,
                                                    floor: float, expected: float) -> None:
    assert faint_floor(np.concatenate([above, below]), floor) == pytest.approx(expected)


@pytest.mark.parametrize(("above", "candidates", "decoys", "expected"), [
    (20, 68, 23, 3.5),  # faint crowded particles under the floor
    (20, 52, 75, 4.0),  # noise from a template too small: more decoys than candidates
    (20, 11, 5, 4.0),  # 2.2 x the decoys, but too few to tell
    (20, 40, 20, 3.5),  # 1.5 x 20 + 10: just enough
    (20, 39, 20, 4.0),
    (9, 68, 23, 4.0),  # too few candidates reach the floor
])
def test_the_floor_is_lowered_where_candidates_outnumber_the_decoys(
        above: int, candidates: int, decoys: int, expected: float) -> None:
    merit = np.array([5.0] * above + [3.7] * candidates + [3.0] * 50)
    decoy_merit = np.array([3.7] * decoys + [3.0] * 100 + [4.5] * 3)  # outside 3.5-4: not counted
    assert decoy_floor(merit, decoy_merit, 4.0) == pytest.approx(expected)


@pytest.mark.parametrize(("first", "first_decoys", "kept_floor", "expected"), [
    (118, 32, 3.5, 3.0625),  # faint crowded particles below the first step too
    (54, 42, 3.5, 3.5),  # the first step added noise: no second
    (57, 32, 3.5, 3.5),  # one short of 1.5 x the decoys + 10
    (58, 32, 3.5, 3.0625),  # just enough
    (118, 32, 4.0, 4.0),  # the floor was not lowered at all
])
def test_a_second_step_down_follows_a_first_that_added_particles(
        first: int, first_decoys: int, kept_floor: float, expected: float) -> None:
    merit = np.array([5.0] * 100 + [3.7] * first + [3.2] * 150 + [2.0] * 20)
    decoy_merit = np.array([3.7] * first_decoys + [3.2] * 40 + [2.0] * 300)
    assert deeper_floor(merit, decoy_merit, 4.0, kept_floor) == pytest.approx(expected)


@pytest.mark.parametrize(("picks", "decoys", "ratio", "expected"), [
    (39, 8, None, True),  # faint crowded particles at 0.75 x a diameter given too large
    (90, 74, None, False),  # noise and split domains at a smaller size on a sparse micrograph
    (30, 20, None, True),  # 1.5 x: just enough
    (29, 20, None, False),
    (0, 0, None, True),
    (24, 20, 1.2, True),  # a ratio asked for: the crowded passes'
    (23, 20, 1.2, False),
])
def test_picks_outnumber_decoys_by_the_decoy_ratio(picks: int, decoys: int, ratio: float | None,
                                                   expected: bool) -> None:
    merit = np.array([4.5] * picks + [3.0] * 40)  # under the level: not counted
    decoy_merit = np.array([4.5] * decoys + [3.9] * 40)
    asked = {} if ratio is None else {"ratio": ratio}
    assert outnumbers_decoys(merit, decoy_merit, 4.0, **asked) is expected


@pytest.mark.parametrize(("merit", "floor", "dropped"), [
    ([60.0, 45.0, 30.0] + [8.0 + 0.02 * i for i in range(97)], None, 3),  # contamination: 3.7 x
    ([9.0 * 1.01 ** i for i in range(100)], 4.0, 0),  # particles' merit runs on without a gap
    ([15.0] * 10 + [4.5] * 30, None, 0),  # strong particles among noise: a quarter of the picks
    ([15.0] * 10 + [4.5] * 30, 4.0, 0),  # ... whose noise tail lies near the floor
    ([20.0] + [8.0] * 8, 4.0, 0),  # too few picks for a gap, and under 3 x the median
    ([40.0] + [8.0] * 8, 4.0, 1),  # 5 x the median of picks that score like particles
    ([30.0] + [0.0] * 20, None, 0),  # the rest scores nothing: no ratio to measure
    ([60.0] * 6 + [9.0 + 0.1 * i for i in range(14)], 4.0, 6),  # contamination: 30 % of the picks
    ([60.0] * 6 + [9.0 + 0.1 * i for i in range(14)], None, 0),  # no floor to judge the rest by
    ([60.0] * 6 + [5.0 + 0.1 * i for i in range(14)], 4.0, 0),  # the rest scores like noise
    ([60.0] * 6 + [9.0 + 0.1 * i for i in range(9)], 4.0, 6),  # few below the gap, 6 x their median
    ([60.0] * 6 + [9.0 + 0.1 * i for i in range(9)], None, 0),  # no floor to judge the rest by
    # a contamination blob on a sparse micrograph: 6 of 15 picks, too few below the gap
    ([46.6, 43.5, 34.3, 34.2, 33.6, 33.1, 12.3, 8.7, 8.3, 7.6, 7.3, 6.1, 5.5, 5.0, 4.4], 4.0, 6),
    ([46.6, 43.5, 34.3, 34.2, 33.6, 33.1, 12.3, 8.7, 8.3, 7.6, 7.3, 6.1, 5.5, 5.0, 4.4], None, 0),
    ([36.6, 35.8, 17.5, 12.7, 10.3, 9.9, 9.8, 8.6, 4.1, 4.0], 4.0, 2),  # 3.6 x, the rest 2.4 x
    ([20.0, 18.0, 16.0, 14.0, 12.0] + [9.0 - 0.01 * i for i in range(100)], 4.0, 0),  # under 3 x
])
def test_picks_far_above_the_rest_are_the_strongest_after_a_gap(merit: list[float],
                                                                 floor: float | None,
                                                                 dropped: int) -> None:
    mask = above_the_particles(np.array(merit), floor)
    assert mask.sum() == dropped
    assert np.array_equal(np.flatnonzero(mask), np.arange(dropped))
