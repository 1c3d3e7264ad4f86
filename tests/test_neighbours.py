import numpy as np
import pytest

from cryostream.neighbours import (
    NEAREST_BLOCK,
    close_pairs,
    median_spacing,
    nearest_distances,
    suppress_close,
)


def _all_distances(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    return np.hypot(*(points[:, None, :] - others[None, :, :]).transpose(2, 0, 1))


def test_suppress_close_keeps_the_best_of_each_group() -> None:
    points = np.array([[0, 0], [0, 3], [10, 10], [0, 8]], float)
    assert suppress_close(points, 5.0).tolist() == [0, 2, 3]


@pytest.mark.parametrize("points", [np.empty((0, 2)), np.array([[1.0, 2.0]])])
def test_suppress_close_keeps_too_few_points_to_compare(points: np.ndarray) -> None:
    assert suppress_close(points, 5.0).tolist() == list(range(len(points)))


@pytest.mark.parametrize(("count", "distance"), [(2, 1.0), (50, 3.0), (400, 10.0), (400, 0.5)])
def test_close_pairs_are_every_ordered_pair_within_the_distance(count: int, distance: float) -> None:
    points = np.random.default_rng(count).uniform(0, 100, (count, 2))
    first, second = close_pairs(points, distance)
    close = _all_distances(points, points) <= distance
    np.fill_diagonal(close, False)
    found = np.zeros_like(close)
    found[first, second] = True
    assert len(first) == close.sum() and np.array_equal(found, close)


@pytest.mark.parametrize(("count", "others"), [(1, 1), (10, 3), (NEAREST_BLOCK + 7, 40)])
def test_nearest_distances_match_brute_force(count: int, others: int) -> None:
    rng = np.random.default_rng(others)
    points, targets = rng.uniform(0, 50, (count, 2)), rng.uniform(0, 50, (others, 2))
    np.testing.assert_allclose(nearest_distances(points, targets),
                               _all_distances(points, targets).min(axis=1))


@pytest.mark.parametrize("count", [2, 7, NEAREST_BLOCK + 3])
def test_own_nearest_distances_leave_each_point_out(count: int) -> None:
    points = np.random.default_rng(count).uniform(0, 500, (count, 2))
    distances = _all_distances(points, points)
    np.fill_diagonal(distances, np.inf)
    assert np.allclose(nearest_distances(points, points, own=True), distances.min(axis=1))
    assert median_spacing(points) == pytest.approx(np.median(distances.min(axis=1)))


@pytest.mark.parametrize("points", [np.empty((0, 2)), np.array([[3.0, 4.0]])])
def test_fewer_than_two_points_are_infinitely_spaced(points: np.ndarray) -> None:
    assert median_spacing(points) == np.inf
