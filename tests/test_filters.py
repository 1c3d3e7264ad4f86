import numpy as np
import pytest

from cryostream import filters
from cryostream.filters import apply_pipeline


def test_seed_filters_keep_and_zero_the_right_pixels() -> None:
    image = np.array([[10, 69, 70], [74, 75, 200]], dtype=np.uint8)
    assert filters.in_range(image, 69, 74).tolist() == [[0, 69, 70], [74, 0, 0]]
    assert filters.less_than(image, 70).tolist() == [[10, 69, 0], [0, 0, 0]]
    assert filters.more_than(image, 74).tolist() == [[0, 0, 0], [0, 75, 200]]
    assert filters.convert(image, 70, 1).tolist() == [[10, 69, 1], [74, 75, 200]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_more_than_keeps_what_numpy_keeps_for_every_type(dtype: type) -> None:
    image = (np.random.default_rng(7).normal(size=(23, 31)) * 40 + 100).clip(0, 255).astype(dtype)
    for threshold in (99, 100.5, 0.99999999, -3):
        kept = filters.more_than(image, threshold)
        assert kept.dtype == image.dtype
        assert np.array_equal(kept, np.where(image > threshold, image, 0))


def test_laplacian_rejects_a_kernel_that_does_not_sum_to_zero() -> None:
    with pytest.raises(ValueError, match="sum to 0"):
        filters.laplacian(np.zeros((5, 5)), [[0, 1, 0], [1, -3, 1], [0, 1, 0]])
    flat = filters.laplacian(np.full((9, 9), 7.0))
    assert np.allclose(flat, 0)


def test_disc_contrast_peaks_on_a_dark_disc_of_the_particle_size() -> None:
    image = np.zeros((81, 81), np.float32)
    yy, xx = np.mgrid[:81, :81]
    image[np.hypot(yy - 40, xx - 30) <= 10] = 1.0
    response = filters.disc_contrast(image, radius_px=8)
    peak = np.unravel_index(np.argmax(response), response.shape)
    assert np.hypot(peak[0] - 40, peak[1] - 30) <= 2.5
    assert response[40, 30] > 0.9 * response.max() > 0
    assert abs(float(filters.disc_kernel(8).sum())) < 1e-6


def test_noise_normalisation_gives_unit_sigma_on_white_noise() -> None:
    noise = np.random.default_rng(0).normal(5.0, 3.0, (256, 256)).astype(np.float32)
    normalised = filters.normalise_noise(noise)
    assert normalised.std() == pytest.approx(1.0, rel=0.05)
    snr = filters.disc_contrast(normalised, radius_px=6, noise_units=True)
    assert snr[20:-20, 20:-20].std() == pytest.approx(1.0, rel=0.15)


def test_clean_components_drops_small_and_elongated_blobs() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[5:7, 5:7] = 1
    mask[20:40, 20:40] = 1
    yy, xx = np.mgrid[:60, :60]
    mask[(np.abs(yy - 50) <= 1) & (xx > 5) & (xx < 55)] = 1
    cleaned = filters.clean_components(mask, min_diameter_px=3.6, min_roundness=0.5)
    assert cleaned[30, 30] == 1 and cleaned[5, 5] == 0 and cleaned[50, 30] == 0


def test_nested_pipeline_described_as_data_with_diameter_units() -> None:
    image = np.random.default_rng(1).normal(size=(64, 64)).astype(np.float32)
    steps = [{"pipeline": [{"filter": "gaussian", "sigma_diameters": 0.1}]},
             {"filter": "more_than", "threshold": 0.0}]
    direct = filters.more_than(filters.gaussian(image, 2.0), 0.0)
    np.testing.assert_allclose(apply_pipeline(image, steps, diameter_px=20.0), direct)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("structured_fraction", [0.0, 0.55])
def test_threshold_sigma_keeps_faint_particles_beside_carbon_and_contamination(
        seed: int, structured_fraction: float) -> None:
    random = np.random.default_rng(seed)
    image = random.normal(0.0, 1.0, (256, 256)).astype(np.float32)
    structured = int(structured_fraction * image.shape[1])
    image[:, :structured] *= 30.0  # responses far stronger than any particle's
    rows, cols = np.mgrid[:256, :256]
    blobs = np.zeros(image.shape, bool)
    for row in range(24, 256, 48):
        blobs |= (rows - row) ** 2 + (cols - 230) ** 2 <= 25
    image[blobs] += 3.0
    kept = filters.threshold_sigma(image, 1.0) > 0
    whole_image_rule = image > np.median(image) + 1.4826 * np.median(np.abs(image - np.median(image)))
    if structured_fraction == 0:
        assert np.array_equal(kept, whole_image_rule)
    else:
        assert kept[blobs].mean() > 0.9 and whole_image_rule[blobs].mean() < 0.1
