import numpy as np
import pytest

from cryostream.convert import bin_factor_for, bin_image, to_uint8


def test_to_uint8_clips_percentiles_and_spans_full_range() -> None:
    image = np.linspace(0, 1000, 10_000, dtype=np.float32).reshape(100, 100)
    converted = to_uint8(image, 2, 98)
    assert converted.dtype == np.uint8
    assert converted.min() == 0 and converted.max() == 255
    assert (converted == 0).mean() == pytest.approx(0.02, abs=0.005)


def test_to_uint8_rejects_bad_percentiles() -> None:
    with pytest.raises(ValueError, match="percentiles"):
        to_uint8(np.ones((4, 4)), 50, 10)


def test_binning_averages_areas_and_never_upsamples() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    binned = bin_image(image, 2.0)
    assert binned.tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert bin_image(image, 0.5).shape == (4, 4)
    assert bin_factor_for(150, 20) == 7.5 and bin_factor_for(10, 20) == 1.0
