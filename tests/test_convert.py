import numpy as np
import pytest

from cryostream import filters
from cryostream.convert import bin_blocks, bin_factor_for, bin_image, median_value, percentiles, to_uint8


def test_to_uint8_clips_percentiles_and_spans_full_range() -> None:
    image = np.linspace(0, 1000, 10_000, dtype=np.float32).reshape(100, 100)
    converted = to_uint8(image, 2, 98)
    assert converted.dtype == np.uint8
    assert converted.min() == 0 and converted.max() == 255
    assert (converted == 0).mean() == pytest.approx(0.02, abs=0.005)


def test_to_uint8_rejects_bad_percentiles() -> None:
    with pytest.raises(ValueError, match="percentiles"):
        to_uint8(np.ones((4, 4)), 50, 10)


def test_binning_averages_whole_blocks_and_never_upsamples() -> None:
    image = np.arange(20, dtype=np.float32).reshape(5, 4)
    assert bin_blocks(image, 2).tolist() == [[2.5, 4.5], [10.5, 12.5]]  # the odd last row is left out
    assert bin_blocks(image, 1).shape == (5, 4)
    assert bin_factor_for(140, 20) == 7 and bin_factor_for(150, 19) == 8
    assert bin_factor_for(10, 20) == 1 and bin_factor_for(105, 16, at_least=True) == 6


def test_whole_block_binning_keeps_noise_units_honest() -> None:
    """Binned white noise, normalised by its pixel noise: a particle-sized filter's response has
    sigma 1 after whole-block binning, so an SNR floor means what it says. A fractional factor
    shares pixels between neighbours and inflates it (why the picker bins by whole factors)."""
    noise = np.random.default_rng(0).normal(size=(1200, 1200)).astype(np.float32)

    def response_sigma(binned: np.ndarray) -> float:
        response = filters.disc_contrast(filters.normalise_noise(binned), 6.4, noise_units=True)
        return float(response[20:-20, 20:-20].std())

    assert response_sigma(bin_blocks(noise, 2)) == pytest.approx(1.0, abs=0.05)
    assert response_sigma(bin_blocks(noise, 3)) == pytest.approx(1.0, abs=0.05)
    assert response_sigma(bin_image(noise, 1.75)) > 1.2


def test_display_binning_takes_any_factor() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert bin_image(image, 2.0).tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert bin_image(image, 0.5).shape == (4, 4)
    assert bin_image(np.ones((10, 10)), 2.5).shape == (4, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_percentiles_and_median_match_numpy_exactly(dtype: type) -> None:
    rng = np.random.default_rng(3)
    for size in (1, 2, 5, 100, 1001, 4096):
        values = (rng.normal(size=size) * 40 + 100).clip(0, 255).astype(dtype)
        for percents in ([2.0, 98.0], [0.0, 100.0], [37.5, 12.25]):
            expected = np.percentile(values, percents)
            found = percentiles(values, percents)
            assert found.dtype == expected.dtype and np.array_equal(found, expected)
        assert median_value(values) == float(np.median(values))
