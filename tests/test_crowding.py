"""The crowding decision as pure functions of two sizes' picks: when a smaller size's picks
replace the given size's, where it is tried first, and the floor its picks are kept to."""

from pathlib import Path

import numpy as np
import pytest

from cryostream.crowding import (
    MIN_CROWDED_DENSITY,
    MIN_FAINT_CROWDED_DENSITY,
    crowded_floor,
    in_part,
    judgements,
    resolves_crowding,
    trial_part,
)
from cryostream.io import Micrograph
from cryostream.neighbours import nearest_distances

GRID_25 = np.array([(row, col) for row in range(50, 500, 100) for col in range(50, 500, 100)],
                   float)  # given-size picks 100 px apart on a field of 500 x 500 px


def test_resolves_crowding_needs_many_new_strong_picks_at_the_same_centres() -> None:
    given = GRID_25
    between = given + 50.0
    strong, weak = np.full(len(given), 10.0), np.full(len(between), 5.0)

    def replaces(smaller: np.ndarray, merit: np.ndarray, area_px: float = 500.0 ** 2,
                 **options: bool) -> bool:
        return resolves_crowding(given, smaller, merit, 60, area_px, **options)

    assert replaces(np.vstack([given, between]), np.concatenate([strong, strong]))
    assert not replaces(np.vstack([given, between]), np.concatenate([strong, weak]))
    # the same picks on a field twice as wide: 0.09 smaller-size picks per diameter squared
    assert not replaces(np.vstack([given, between]), np.concatenate([strong, strong]),
                        area_px=1000.0 ** 2)
    assert not replaces(np.vstack([given + 20.0, between]), np.concatenate([strong, strong]))
    assert not replaces(np.vstack([given, given[:3] + 25.0]), np.concatenate([strong, strong[:3]]))
    most_moved = given.copy()
    most_moved[:15] += 20.0  # only 10 of 25 centres re-found: enough with a new pick for each
    assert replaces(np.vstack([most_moved, between]), np.concatenate([strong, strong]))
    assert not replaces(np.vstack([most_moved, between[:10]]),
                        np.concatenate([strong, strong[:10]]))
    assert not replaces(np.vstack([most_moved, between]),  # picks a smaller size made: split
                        np.concatenate([strong, strong]), merged=False)
    walls = given + 28.0  # 0.66 diameters away: a neighbour's wall, not a merged neighbour
    assert not replaces(np.vstack([most_moved, walls]), np.concatenate([strong, strong]))
    most_moved[:19] += 20.0  # only 6 of 25
    assert not replaces(np.vstack([most_moved, between]), np.concatenate([strong, strong]))
    far_away = given + 1000.0  # strong new picks, but nowhere near the particles found
    assert not replaces(np.vstack([given, far_away]), np.concatenate([strong, strong]))
    few_new, merit = np.vstack([given, between[:3]]), np.full(28, 10.0)
    assert not replaces(few_new, merit)
    assert replaces(few_new, merit, trial=True)


@pytest.mark.parametrize(("moved", "added", "new_merit", "replaced"), [
    (0, 4, 8.0, True),  # re-finds all, adds 0.16 per pick scoring 0.8 x the re-found ones
    (0, 4, 7.9, False),  # scoring under 0.8 x: noise beside particles found at their own size
    (0, 3, 10.0, False),  # 0.12 per pick: too few
    (7, 4, 10.0, True),  # re-finds 18 of 25 (0.72)
    (8, 4, 10.0, False),  # re-finds 17 (0.68): 0.3 new picks per pick needed
    (8, 8, 7.5, True),  # which score like the re-found ones at 0.7 x
])
def test_a_smaller_size_that_refinds_nearly_all_picks_needs_fewer_new_ones(
        moved: int, added: int, new_merit: float, replaced: bool) -> None:
    given = GRID_25
    kept = given.copy()
    kept[:moved] += 20.0  # not re-found
    smaller = np.vstack([kept, given[:added] + 50.0])
    merit = np.concatenate([np.full(len(given), 10.0), np.full(added, new_merit)])
    assert resolves_crowding(given, smaller, merit, 60, 500.0 ** 2) == replaced


@pytest.mark.parametrize(("moved", "merged", "replaced"), [
    (7, False, True),  # re-finds 18 of 25 (0.72): adds a neighbour beside nearly every pick
    (8, False, False),  # re-finds 17 (0.68): picks a smaller size (or the diameter check) made, split
    (8, True, True),  # the given size's picks: merged neighbours move the centres
])
def test_picks_that_are_not_merged_must_be_nearly_all_refound(moved: int, merged: bool,
                                                              replaced: bool) -> None:
    kept = GRID_25.copy()
    kept[:moved] += 20.0  # not re-found
    smaller = np.vstack([kept, GRID_25[:12] + 50.0])
    merit = np.full(len(smaller), 10.0)
    assert resolves_crowding(GRID_25, smaller, merit, 60, 500.0 ** 2, merged=merged) == replaced


def _given_and_grid_between(given: np.ndarray, side_px: int) -> np.ndarray:
    """``given`` picks, then a smaller size's picks 50 px apart over a ``side_px`` square, those
    over 30 px from every given one."""
    grid = np.array([(row, col) for row in range(25, side_px, 50) for col in range(25, side_px, 50)],
                    float)
    return np.vstack([given, grid[nearest_distances(grid, given) > 30]])


def test_a_trial_where_the_given_size_found_a_few_picks_among_many_runs_the_whole_pass() -> None:
    """Four given-size picks among 100 new ones 1.8 diameters from them: the distance measures how
    few the given picks are. Dense enough, the trial passes; as sparse as noise, it does not."""
    given = np.array([(150.0, 150.0), (150.0, 350.0), (350.0, 150.0), (350.0, 350.0)])
    smaller = _given_and_grid_between(given, 500)
    merit = np.full(len(smaller), 10.0)
    assert resolves_crowding(given, smaller, merit, 60, 500.0 ** 2, trial=True)
    assert not resolves_crowding(given, smaller, merit, 60, 1600.0 ** 2, trial=True)


@pytest.mark.parametrize(("side_px", "replaced"), [(900, True), (3000, False)])
def test_new_picks_that_outnumber_the_given_ones_need_not_lie_among_them(side_px: int,
                                                                        replaced: bool) -> None:
    """Nine given picks 5 diameters apart (a faint micrograph: the given size found few above the
    floor) and a smaller size's 300 more between them, most over 1.5 diameters from the nearest:
    they replace the given picks where they pack as densely as particles, not where as sparse as
    noise."""
    given = np.array([(row, col) for row in (150, 450, 750) for col in (150, 450, 750)], float)
    smaller = _given_and_grid_between(given, 900)
    assert np.median(nearest_distances(smaller[len(given):], given)) > 1.5 * 60
    assert resolves_crowding(given, smaller, np.full(len(smaller), 10.0), 60,
                             float(side_px) ** 2) == replaced


@pytest.mark.parametrize(("smaller_picks", "side_px", "replaced"), [
    (40, 500, True),  # 1.02 per given diameter squared: denser than particles that large pack
    (40, 700, False),  # 0.52, with 2 new picks per given one
    (70, 1000, True),  # 0.45, but 3 new picks per given one
    (60, 1000, False),  # 0.38, with 2.75 per given one
])
def test_picks_that_swamp_the_given_ones_need_not_refind_them(smaller_picks: int, side_px: int,
                                                              replaced: bool) -> None:
    """A diameter about twice the particles' (a box size) leaves its 16 picks between particles: a
    smaller size re-finds 4 of them (0.25, under the 0.3 needed otherwise)."""
    given = np.array([(row, col) for row in (70, 190, 310, 430) for col in (70, 190, 310, 430)],
                     float)
    given[:4] = [(75, 75), (75, 175), (175, 75), (175, 175)]  # on a smaller-size pick
    smaller = np.array([(row, col) for row in range(25, 500, 50) for col in range(25, 500, 50)],
                       float)[:smaller_picks]
    assert resolves_crowding(given, smaller, np.full(smaller_picks, 10.0), 80,
                             float(side_px) ** 2) == replaced


@pytest.mark.parametrize(("spacing_px", "diameter_px", "side_px"), [
    (40, 20, 256),  # 36 picks in a quarter of each side: tried there
    (60, 20, 512),  # 25 there: tried on half of each side
    (40, 50, 400),  # a quarter is under 8 diameters across: 400 px
])
def test_a_smaller_size_is_tried_on_the_smallest_central_part_holding_enough_picks(
        spacing_px: int, diameter_px: float, side_px: int) -> None:
    micrograph = Micrograph(np.zeros((1024, 1024), np.float32), 1.0, Path("crowded.mrc"))
    centres = np.array([(row, col) for row in range(spacing_px // 2, 1024, spacing_px)
                        for col in range(spacing_px // 2, 1024, spacing_px)], float)
    part, offset = trial_part(micrograph, diameter_px, centres, edge_px=5.0)
    assert part.shape == (side_px, side_px)
    assert tuple(offset) == ((1024 - side_px) // 2,) * 2
    expected = np.all((centres >= offset + 5) & (centres <= offset + side_px - 6), axis=1)
    assert np.array_equal(in_part(centres, offset, part.shape, edge_px=5.0), expected)


@pytest.mark.parametrize(("refound_merit", "floor", "expected"),
                         [((7.0, 8.0, 9.0), 4.0, 4.0),  # the particles score well above the floor
                          ((4.0, 5.0, 6.0), 4.0, 3.5),  # they straddle it: 0.7 x their median
                          ((4.0, 5.0, 6.0), 0.0, 0.0)])  # no floor to lower
def test_crowded_floor_follows_the_particles_both_sizes_find(refound_merit: tuple[float, ...],
                                                             floor: float, expected: float) -> None:
    centres = np.array([[100.0, 100.0], [100.0, 200.0], [200.0, 100.0]])
    added = np.array([[150.0, 150.0], [200.0, 200.0], [250.0, 150.0]])  # strong, but not re-found
    crowded = np.concatenate([centres + 2.0, added])
    merit = np.array([*refound_merit, 100.0, 100.0, 100.0])
    assert crowded_floor(centres, crowded, merit, 50.0, floor) == pytest.approx(expected)


@pytest.mark.parametrize(("found", "replaced"), [(None, False), (69, False), (70, True)])
def test_the_density_may_count_picks_found_below_the_floor(found: int | None,
                                                           replaced: bool) -> None:
    """25 given picks and 25 new ones between them on a field of 1000 x 1000 px: 0.18 picks per
    squared diameter (60 px); counted down to a lower floor, 70 reach 0.25."""
    given = GRID_25
    smaller = np.vstack([given, given + 50.0])
    assert resolves_crowding(given, smaller, np.full(len(smaller), 10.0), 60, 1000.0 ** 2,
                             found=found) == replaced


@pytest.mark.parametrize(("found", "min_density", "replaced"),
                         [(70, MIN_CROWDED_DENSITY, True), (92, MIN_FAINT_CROWDED_DENSITY, False),
                          (93, MIN_FAINT_CROWDED_DENSITY, True)])
def test_the_density_needed_is_a_parameter(found: int, min_density: float, replaced: bool) -> None:
    """The same 25 + 25 picks: one per 3 squared diameters needs 93 found (92 make 0.331)."""
    smaller = np.vstack([GRID_25, GRID_25 + 50.0])
    assert resolves_crowding(GRID_25, smaller, np.full(len(smaller), 10.0), 60, 1000.0 ** 2,
                             found=found, min_density=min_density) == replaced


@pytest.mark.parametrize(("kept_floor", "densities"),
                         [(4.0, [MIN_CROWDED_DENSITY]),  # nothing kept below the floor
                          (3.5, [MIN_CROWDED_DENSITY, MIN_FAINT_CROWDED_DENSITY])])
def test_picks_kept_below_the_floor_are_judged_at_that_floor_too(kept_floor: float,
                                                                 densities: list[float]) -> None:
    judged, kept = GRID_25[:20], GRID_25
    levels = judgements(judged, kept, 4.0, kept_floor)
    assert [density for _, _, density in levels] == densities
    assert levels[0][0] is judged and levels[0][1] == 4.0
    assert all(given is kept and level == kept_floor for given, level, _ in levels[1:])
