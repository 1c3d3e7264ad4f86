"""One size's pass: the edge, floor and distance rules of :func:`clean`, and the binned 8-bit
image the filters run on."""

from pathlib import Path

import numpy as np
import pytest

from cryostream.candidates import bin_factor, clean, converted
from cryostream.config import preset
from cryostream.io import Micrograph

CONFIG = preset("default", diameter_angstrom=40.0, min_figure_of_merit=4.0, adaptive_threshold=False)


@pytest.mark.parametrize(("centres", "merit", "kept"), [
    ([(50, 50), (150, 150)], [5.0, 6.0], [1, 0]),  # best first
    ([(5, 50), (150, 195)], [5.0, 6.0], []),  # within the margin of an edge
    ([(50, 50), (150, 150)], [3.9, 6.0], [1]),  # under the floor
    ([(50, 50), (60, 50)], [5.0, 6.0], [1]),  # closer than the minimum distance: the better stays
    ([(50, 50), (90, 50)], [5.0, 6.0], [1, 0]),
])
def test_clean_keeps_picks_inside_above_the_floor_and_apart(centres: list, merit: list,
                                                             kept: list) -> None:
    keep = clean(np.array(centres, float).reshape(-1, 2), np.array(merit), (200, 200), 40.0, 10.0,
                 CONFIG)
    assert keep.tolist() == kept


@pytest.mark.parametrize(("diameter_px", "working_px", "expected"), [
    (40.0, 16.0, 2), (48.0, 16.0, 3), (40.0, 0.0, 1), (10.0, 16.0, 1)])
def test_bin_factor_is_whole_and_never_upsamples(diameter_px: float, working_px: float,
                                                 expected: int) -> None:
    assert bin_factor(diameter_px, working_px) == expected


def test_converted_is_binned_to_eight_bits() -> None:
    data = np.random.default_rng(0).normal(size=(100, 120)).astype(np.float32)
    image = converted(Micrograph(data, 1.0, Path("m.mrc")), CONFIG, 4)
    assert image.dtype == np.uint8 and image.shape == (25, 30)
    assert image.min() == 0 and image.max() == 255
