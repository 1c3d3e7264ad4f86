import numpy as np
import pytest

from cryostream.centring import centred_on_response

SHAPE = (100, 100)


def _ring(centre: tuple[float, float], radius_px: float = 8.0, width_px: float = 2.0) -> np.ndarray:
    """The response of a matched filter to a hollow particle: a ring around its centre."""
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    return np.where(np.abs(np.hypot(rows - centre[0], cols - centre[1]) - radius_px) <= width_px,
                    1.0, 0.0)


@pytest.mark.parametrize("start", [(50.0, 50.0), (53.0, 48.0), (45.5, 54.5), (50.0, 57.0)])
def test_a_pick_off_a_ring_moves_to_its_centre(start: tuple[float, float]) -> None:
    moved = centred_on_response(_ring((50.0, 50.0)), np.array([start]), radius_px=12.0)
    assert np.hypot(*(moved[0] - 50.0)) < 0.5


def test_one_step_moves_part_of_the_way_and_more_steps_the_rest() -> None:
    start = np.array([[54.0, 50.0]])
    offsets = [np.hypot(*(centred_on_response(_ring((50.0, 50.0)), start, 12.0, steps)[0] - 50.0))
               for steps in (0, 1, 3)]
    assert offsets[0] == 4.0 and offsets[0] > offsets[1] > offsets[2]


def test_a_neighbours_fringe_pulls_less_than_it_pulls_the_mean_of_the_pixels() -> None:
    """A particle's strong response and a neighbour's weak fringe on one side: the mean of the
    pixels above a threshold lies between them; the squared response's centroid on the particle."""
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    distance = np.hypot(rows - 50, cols - 50)
    response = np.exp(-distance ** 2 / (2 * 4.0 ** 2))
    response[(distance > 8) & (distance <= 14) & (cols > 53)] = 0.2
    above = response > 0.1
    mean = np.array([rows[above].mean(), cols[above].mean()])
    moved = centred_on_response(response * above, mean[None], radius_px=10.0)[0]
    assert np.hypot(*(mean - 50.0)) > 2.0 and np.hypot(*(moved - 50.0)) < 1.0


@pytest.mark.parametrize("start", [(0.0, 0.0), (99.0, 50.0)])
def test_picks_without_response_or_at_the_edge_stay_inside(start: tuple[float, float]) -> None:
    response = _ring((96.0, 50.0), radius_px=3.0, width_px=1.0)
    moved = centred_on_response(response, np.array([start]), radius_px=6.0)[0]
    if start == (0.0, 0.0):
        assert tuple(moved) == start
    else:
        assert np.hypot(*(moved - (96.0, 50.0))) < 0.5


def test_no_picks_give_no_picks() -> None:
    assert centred_on_response(_ring((50.0, 50.0)), np.empty((0, 2)), 12.0).shape == (0, 2)
