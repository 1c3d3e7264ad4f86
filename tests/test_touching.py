"""Particles touching a picked one: a peak of the response next to a pick is picked when the
micrograph there looks like the picked particles, and only on a crowded micrograph."""

import numpy as np
import pytest

from cryostream.touching import touching_peaks

DIAMETER = 12.0
SHAPE = (96, 96)
LATTICE = [(row, col) for row in range(12, 90, 14) for col in range(12, 90, 14)]  # 36 picks


def _scene(particles: list[tuple[int, int]], peaks: list[tuple[int, int]],
           contrast: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A response with a peak of 8 at each of ``particles`` and ``peaks``, and an image in noise
    units with a bright disc (``contrast``, default 1) at each of ``particles``."""
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    response = np.zeros(SHAPE, np.float32)
    image = np.random.default_rng(0).normal(0.0, 0.3, SHAPE).astype(np.float32)
    for centre in [*particles, *peaks]:
        bump = 8.0 * np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / 8.0)
        response = np.maximum(response, bump.astype(np.float32))
    for centre, level in zip(particles, contrast or [1.0] * len(particles), strict=True):
        image[(rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= (DIAMETER / 2) ** 2] += level
    return response, image


def _found(response: np.ndarray, image: np.ndarray, picks: list[tuple[int, int]]) -> list:
    peaks, values = touching_peaks(response, image, np.array(picks, float), 4.0, DIAMETER, 6.0,
                                   1.2 * DIAMETER)
    assert len(values) == len(peaks)
    return sorted(tuple(int(v) for v in peak) for peak in peaks)


@pytest.mark.parametrize(("unpicked", "found"), [
    ((54, 64), [(54, 64)]),  # 10 px (0.83 D) from the pick at (54, 54)
    ((54, 60), []),  # 6 px: closer than 0.6 D, a hollow shell's wall or a domain
    ((75, 75), [(75, 75)]),  # among four picks, 10 px from each
])
def test_an_unpicked_particle_next_to_a_pick_is_found(unpicked: tuple[int, int],
                                                        found: list) -> None:
    picks = [centre for centre in LATTICE if np.hypot(*np.subtract(centre, unpicked)) > 5]
    response, image = _scene([*picks, unpicked], [])
    assert _found(response, image, picks) == found


@pytest.mark.parametrize("contrast", [0.0, 3.0])
def test_a_peak_where_the_image_is_unlike_the_picked_particles_is_not_found(contrast: float) -> None:
    """Nothing there (the gap between crowded neighbours, where a template holding a ring of
    them responds) or denser than particles (contamination)."""
    response, image = _scene([*LATTICE, (75, 75)], [], [1.0] * len(LATTICE) + [contrast])
    assert _found(response, image, LATTICE) == []


def test_nothing_is_found_far_from_the_picks_or_on_a_sparse_micrograph() -> None:
    lone = [(12, 12), (12, 26), (26, 12)]
    response, image = _scene([*lone, (26, 26), (80, 80)], [])
    assert _found(response, image, lone) == []  # (26, 26) touches them, but 3 picks are sparse
    crowded = [centre for centre in LATTICE if centre[0] < 60]
    response, image = _scene([*crowded, (82, 82)], [])
    assert _found(response, image, crowded) == []  # 30 px from the nearest pick


def test_peaks_under_the_floor_are_not_found() -> None:
    picks = [centre for centre in LATTICE if centre != (54, 54)]
    response, image = _scene(LATTICE, [])
    assert _found(response / 2.5, image, picks) == []


@pytest.mark.parametrize(("unpicked", "found"), [(7, 7), (8, 0)])
def test_nothing_is_found_when_many_picks_have_an_unpicked_neighbour(unpicked: int,
                                                                     found: int) -> None:
    """8 of 36 picks with an unexplained peak next to them (over a fifth) are not whole particles
    (a shell's walls picked apart); 7 are."""
    gaps = [(row, col) for row in (19, 47, 75) for col in (19, 47, 75)][:unpicked]
    response, image = _scene([*LATTICE, *gaps], [])
    assert len(_found(response, image, LATTICE)) == found
