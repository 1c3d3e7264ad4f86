"""The learned radial template (``cryostream.template``): what it learns, and the transforms it
keeps between micrographs."""

import numpy as np
import pytest

from cryostream import filters, template


def _rings_on_noise() -> tuple[np.ndarray, np.ndarray]:
    """Bright hollow shells (radii 4 to 9 px, like apoferritin, contrast 1) on white noise of sigma 1."""
    rng = np.random.default_rng(3)
    centres = np.array([(r, c) for r in range(30, 230, 40) for c in range(30, 230, 40)])
    yy, xx = np.mgrid[:260, :260]
    image = rng.normal(size=(260, 260)).astype(np.float32)
    for row, column in centres:
        image[np.abs(np.hypot(yy - row, xx - column) - 6.5) <= 2.5] += 1.0
    return image, centres


def test_radial_template_learns_the_particle_profile_and_beats_a_flat_disc() -> None:
    image, centres = _rings_on_noise()
    learned = template.radial_template(image, radius_px=7.2, template_radius_px=22.5)
    flat_disc = filters.disc_contrast(image, radius_px=7.2, noise_units=True)
    assert learned[centres[:, 0], centres[:, 1]].mean() > 1.5 * flat_disc[centres[:, 0], centres[:, 1]].mean()
    for row, column in centres:
        window = learned[row - 6:row + 7, column - 6:column + 7]
        peak = np.unravel_index(np.argmax(window), window.shape)
        assert np.hypot(peak[0] - 6, peak[1] - 6) <= 3.0
    assert learned[240:].std() == pytest.approx(1.0, rel=0.3)


def _discs_and_contamination(seed: int, contaminated: bool) -> tuple[np.ndarray, np.ndarray]:
    """Faint discs (radius 6 px, contrast 0.6) on white noise of sigma 1 and, when
    ``contaminated``, three blobs twice as wide and 20 x as bright at random places; the discs
    away from the blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:320, :320]
    image = rng.normal(size=(320, 320)).astype(np.float32)
    centres = np.array([(r, c) for r in range(30, 300, 40) for c in range(30, 300, 40)])
    for row, column in centres:
        image[np.hypot(yy - row, xx - column) <= 6] += 0.6
    blobs = rng.uniform(40, 280, size=(3, 2))
    if contaminated:
        for row, column in blobs:
            image[np.hypot(yy - row, xx - column) <= 12] += 20.0
    to_blobs = np.hypot(centres[:, None, 0] - blobs[:, 0], centres[:, None, 1] - blobs[:, 1])
    return image, centres[to_blobs.min(axis=1) > 27]


@pytest.mark.parametrize("seed", [1, 2, 5, 7])
@pytest.mark.parametrize("unit_norm_seeds", [True, False])
def test_unit_norm_seeds_keep_a_few_much_brighter_objects_from_taking_the_template_over(
        seed: int, unit_norm_seeds: bool) -> None:
    responses = []
    for contaminated in (False, True):
        image, centres = _discs_and_contamination(seed, contaminated)
        learned = template.radial_template(image, radius_px=7.2, template_radius_px=22.5,
                                           unit_norm_seeds=unit_norm_seeds)
        responses.append(learned[centres[:, 0], centres[:, 1]].mean())
    assert (responses[1] >= 0.97 * responses[0]) == unit_norm_seeds


@pytest.mark.parametrize(("shape", "min_seeds"), [
    ((128, 128), 10_000),  # too few seeds
    ((24, 64), 1),  # no seed's patch (31 px across) fits
])
def test_radial_template_without_enough_seeds_is_the_disc_response(shape: tuple[int, int],
                                                                    min_seeds: int) -> None:
    noise = np.random.default_rng(4).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(  # the template correlates in Fourier space: float32 rounding
        template.radial_template(noise, radius_px=6, template_radius_px=15, min_seeds=min_seeds),
        filters.disc_contrast(noise, radius_px=6, noise_units=True), atol=1e-5)


def test_radial_template_reuses_the_disc_transform_without_changing_it() -> None:
    rng = np.random.default_rng(6)
    first, second = (rng.normal(size=(96, 96)).astype(np.float32) for _ in range(2))
    before = template.radial_template(second, radius_px=5, template_radius_px=12)
    template.radial_template(first, radius_px=5, template_radius_px=12)
    assert np.array_equal(template.radial_template(second, radius_px=5, template_radius_px=12),
                          before)
    cached = template._disc_spectrum(5, 1.5, (128, 128))
    assert not cached.flags.writeable and cached is template._disc_spectrum(5, 1.5, (128, 128))
    large = (1024, template.MAX_KEPT_PIXELS // 1024 + 2)  # too large to keep: computed again
    assert template._disc_spectrum(5, 1.5, large) is not template._disc_spectrum(5, 1.5, large)


def test_radial_grid_rings_count_every_pixel_and_the_window_tapers_to_zero() -> None:
    ring, counts, window = template._radial_grid(6, 5.0)
    assert ring.shape == window.shape == (13, 13) and ring[6, 6] == 0
    assert counts.sum() == 13 * 13 and window[6, 6] == 1.0 and window[6, 12] == 0.0
    assert not (ring.flags.writeable or counts.flags.writeable or window.flags.writeable)
    half = template.MAX_KEPT_HALF + 1  # too large to keep: computed again
    assert template._radial_grid(half, 9.0)[0] is not template._radial_grid(half, 9.0)[0]


@pytest.mark.parametrize("length", [1, 5, 213, 225, 637, 724])
def test_fast_dft_sizes_are_even_2_3_5_smooth_and_not_shorter(length: int) -> None:
    size = template.fast_dft_size(length)
    rest = size
    for prime in (2, 3, 5):
        while rest % prime == 0:
            rest //= prime
    assert size >= length and size % 2 == 0 and rest == 1
