"""Peaks: disc maxima are exactly the pixels a dilation by the disc leaves unchanged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cryostream.peaks import disc_element, disc_maxima, local_maxima, nonzero_pixels


@pytest.mark.parametrize("radius_px", [1, 2.4, 5, 11])
@pytest.mark.parametrize("levels", [None, 4])  # None: continuous values; 4: many ties
@pytest.mark.parametrize("seed", [0, 1])
def test_disc_maxima_match_a_dilation_by_the_disc(radius_px: float, levels: int | None,
                                                  seed: int) -> None:
    image = cv2.GaussianBlur(np.random.default_rng(seed).normal(size=(97, 130)).astype(np.float32),
                             (0, 0), 1.5)
    if levels is not None:
        image = np.round(image * levels) / levels
    floor = float(np.median(image))
    dilated = cv2.dilate(image, disc_element(radius_px), borderType=cv2.BORDER_CONSTANT,
                         borderValue=-np.inf)
    expected = (image >= dilated) & (image > floor)
    np.testing.assert_array_equal(disc_maxima(image, radius_px, floor), expected)


def test_local_maxima_keep_the_peak_values_only() -> None:
    image = np.zeros((40, 40), np.float32)
    image[10, 10], image[12, 11], image[30, 25] = 5.0, 3.0, 2.0
    peaks = local_maxima(image, 4)
    assert {tuple(point) for point in np.argwhere(peaks)} == {(10, 10), (30, 25)}
    assert peaks[10, 10] == 5.0 and peaks.dtype == np.float32


@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 1.0])
def test_nonzero_pixels_match_numpy_in_raster_order(density: float) -> None:
    mask = np.random.default_rng(5).random((37, 53)) < density
    rows, columns = nonzero_pixels(mask)
    expected_rows, expected_columns = np.nonzero(mask)
    assert np.array_equal(rows, expected_rows) and np.array_equal(columns, expected_columns)
