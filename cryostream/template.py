"""The learned radial template, the default pipeline's particle detector: the strongest peaks of
a particle-sized disc detector are averaged and rotationally averaged into a kernel learned from
the micrograph itself, and the image is correlated with it in Fourier space (one transform of the
image serves every kernel; the disc's transform and each patch size's rings are kept for the
next micrograph, which asks for the same)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .peaks import disc_maxima, nonzero_pixels

DISC_SPECTRA = 16  # disc transforms kept: a micrograph uses 12 (3 passes, 9 diameter checks),
MAX_KEPT_PIXELS = 1 << 20  # each at most 4 MiB (a 4k micrograph binned to a 20 px particle
#                            needs 0.4 MiB; unbinned, 64 MiB: recomputed, not kept)
RADIAL_GRIDS = 16  # template grids kept: a micrograph uses 12, as many as disc transforms,
MAX_KEPT_HALF = 128  # each for a patch at most 257 px wide, 1.3 MiB (a 20 px particle's is 53)


def disc_kernel(radius_px: float, annulus_ratio: float = 1.5) -> np.ndarray:
    """A zero-sum particle-sized Laplacian: +1/area inside ``radius_px``, -1/area on the annulus out
    to ``annulus_ratio * radius_px`` (a centre-surround detector for round blobs of that size)."""
    outer = max(radius_px * annulus_ratio, radius_px + 1.0)
    half = int(np.ceil(outer))
    grid = np.arange(-half, half + 1, dtype=np.float32)
    distance = np.hypot(*np.meshgrid(grid, grid))
    inside = distance <= radius_px
    ring = (distance > radius_px) & (distance <= outer)
    kernel = inside / inside.sum() - ring / ring.sum()
    return kernel.astype(np.float32)


def radial_template(image: np.ndarray, radius_px: float, template_radius_px: float,
                    annulus_ratio: float = 1.5, seed_snr: float = 3.0, max_seeds: int = 200,
                    min_seeds: int = 10, passes: int = 2, unit_norm_seeds: bool = True) -> np.ndarray:
    """A zero-sum Laplacian learned from the micrograph itself, in noise units (float32).

    Seeds are the strongest local maxima of ``filters.disc_contrast`` (radius ``radius_px``) above
    ``seed_snr``; the rotational average of the image around them (each seed's patch at unit
    norm when ``unit_norm_seeds``, see :func:`_normalised_mean`), out to ``template_radius_px``,
    becomes the kernel (tapered by a cosine window, mean removed, unit norm), so the filter
    matches what this sample's particles look like (a hollow shell, a solid blob, defocus
    fringes, the ring of crowded neighbours) instead of a flat disc. Each further pass takes its
    seeds from the previous pass's response, which centres them on particles whose disc response
    peaks off-centre (hollow shells). Expects an image in noise units with particles bright (after
    ``normalise_noise`` and ``invert``). With fewer than ``min_seeds`` seeds (none on an image
    narrower than a seed's patch) it returns the response so far, so an empty micrograph does not
    invent a particle."""
    image = np.asarray(image, dtype=np.float32)
    disc = disc_kernel(radius_px, annulus_ratio)
    half = int(np.ceil(template_radius_px))
    border = max(half, disc.shape[0] // 2)
    spectrum = _padded_spectrum(image, border)
    response = _correlate(spectrum, image.shape, border, disc,
                          _disc_spectrum(radius_px, annulus_ratio, spectrum.shape))
    response /= float(np.linalg.norm(disc))
    if min(image.shape) < 2 * half + 1:  # no seed's patch fits
        return response
    windows = np.lib.stride_tricks.sliding_window_view(image, (2 * half + 1, 2 * half + 1))
    for _ in range(passes):
        seeds = _strongest_peaks(response, radius_px, seed_snr, half, max_seeds)
        if len(seeds) < min_seeds:
            return response
        patches = windows[seeds[:, 0] - half, seeds[:, 1] - half]  # 8x faster than by offsets
        mean_patch = _normalised_mean(patches) if unit_norm_seeds else patches.mean(axis=0)
        response = _correlate(spectrum, image.shape, border,
                              _radial_kernel(mean_patch, template_radius_px))
    return response


def _normalised_mean(patches: np.ndarray) -> np.ndarray:
    """The mean of the seeds' ``patches`` (N, h, w), each scaled to unit norm first, as particle
    images are normalised before they are averaged into 2D classes: a few seeds far stronger than
    the particles (contamination, a carbon edge) would otherwise make the template their profile
    and leave the particles a weak response (a simulated micrograph given 1.33 x its particles'
    diameter: 7 picks, all on contamination, F1 0.00; with unit-norm seeds 30 picks, F1 0.94)."""
    norms = np.sqrt(np.einsum("ijk,ijk->i", patches, patches))
    return (patches / norms[:, None, None]).mean(axis=0)


def _padded_spectrum(image: np.ndarray, border: int) -> np.ndarray:
    """The DFT (OpenCV's packed format) of ``image`` reflected out by ``border`` pixels on every
    side and zero-filled to a fast size: computed once, it serves every kernel
    :func:`radial_template` correlates the image with (as ``cv2.filter2D`` with
    ``BORDER_REFLECT`` would, which transforms the image again for each kernel)."""
    padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_REFLECT)
    canvas = np.zeros((fast_dft_size(padded.shape[0]), fast_dft_size(padded.shape[1])),
                      np.float32)
    canvas[:padded.shape[0], :padded.shape[1]] = padded
    return cv2.dft(canvas, nonzeroRows=padded.shape[0])


def fast_dft_size(length: int) -> int:
    """The smallest even length >= ``length`` whose only prime factors are 2, 3 and 5: OpenCV's
    optimal DFT sizes include odd ones (225, 243, 405, 675, 729), whose real transforms cost
    15-30 % more than the next even size."""
    size = cv2.getOptimalDFTSize(length)
    while size % 2:
        size = cv2.getOptimalDFTSize(size + 1)
    return int(size)


def _correlate(spectrum: np.ndarray, shape: tuple[int, int], border: int, kernel: np.ndarray,
               kernel_spectrum: np.ndarray | None = None) -> np.ndarray:
    """The correlation of the image behind ``spectrum`` (see :func:`_padded_spectrum`) with an
    odd-sized ``kernel`` at most ``2 * border + 1`` wide, cropped to the image's ``shape``;
    ``kernel_spectrum`` is the kernel's :func:`_kernel_spectrum` when known."""
    if kernel_spectrum is None:
        kernel_spectrum = _kernel_spectrum(kernel, spectrum.shape)
    product = cv2.mulSpectrums(spectrum, kernel_spectrum, 0, conjB=True)
    start = border - kernel.shape[0] // 2
    return cv2.dft(product, flags=cv2.DFT_INVERSE | cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)[
        start:start + shape[0], start:start + shape[1]]


def _kernel_spectrum(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The DFT (OpenCV's packed format) of ``kernel`` in the corner of a zero canvas of ``shape``."""
    canvas = np.zeros(shape, np.float32)
    canvas[:kernel.shape[0], :kernel.shape[1]] = kernel
    return cv2.dft(canvas, nonzeroRows=kernel.shape[0])


def _disc_spectrum(radius_px: float, annulus_ratio: float, shape: tuple[int, int]) -> np.ndarray:
    """:func:`_kernel_spectrum` of :func:`disc_kernel`, kept (read-only) for the next micrograph
    when the transform is at most ``MAX_KEPT_PIXELS``: it depends only on the particle size and
    the transform size, which a session repeats."""
    if shape[0] * shape[1] > MAX_KEPT_PIXELS:
        return _kernel_spectrum(disc_kernel(radius_px, annulus_ratio), shape)
    return _kept_disc_spectrum(radius_px, annulus_ratio, shape)


@functools.lru_cache(maxsize=DISC_SPECTRA)
def _kept_disc_spectrum(radius_px: float, annulus_ratio: float,
                        shape: tuple[int, int]) -> np.ndarray:
    """:func:`_disc_spectrum`, remembered."""
    spectrum = _kernel_spectrum(disc_kernel(radius_px, annulus_ratio), shape)
    spectrum.flags.writeable = False
    return spectrum


def _strongest_peaks(response: np.ndarray, radius_px: float, min_value: float, margin_px: int,
                     count: int) -> np.ndarray:
    """(row, column) of the ``count`` highest local maxima (within ``radius_px``) above
    ``min_value`` (and 0) and at least ``margin_px`` from the edge."""
    rows, columns = nonzero_pixels(disc_maxima(response, radius_px, max(min_value, 0.0)))
    inside = ((rows >= margin_px) & (rows < response.shape[0] - margin_px)
              & (columns >= margin_px) & (columns < response.shape[1] - margin_px))
    rows, columns = rows[inside], columns[inside]
    strongest = np.argsort(-response[rows, columns], kind="stable")[:count]
    return np.column_stack([rows[strongest], columns[strongest]])


def _radial_kernel(mean_patch: np.ndarray, radius_px: float) -> np.ndarray:
    """Rotationally average a square patch, taper it to zero at ``radius_px`` with a cosine window,
    and make it zero-sum with unit norm."""
    ring, counts, window = _radial_grid(mean_patch.shape[0] // 2, radius_px)
    profile = np.bincount(ring.ravel(), mean_patch.ravel()) / counts
    values = profile[ring]
    kernel = (values - (values * window).sum() / window.sum()) * window
    return (kernel / np.linalg.norm(kernel)).astype(np.float32)


def _radial_grid(half: int, radius_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a square patch ``2 * half + 1`` wide: each pixel's ring (distance from the centre,
    rounded), the pixels per ring (at least 1) and the cosine window tapering to zero at
    ``radius_px``; kept (read-only) up to ``MAX_KEPT_HALF``, as every micrograph of a session
    asks for the same."""
    if half > MAX_KEPT_HALF:
        return _new_radial_grid(half, radius_px)
    return _kept_radial_grid(half, radius_px)


@functools.lru_cache(maxsize=RADIAL_GRIDS)
def _kept_radial_grid(half: int, radius_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_radial_grid`, remembered (read-only)."""
    grid = _new_radial_grid(half, radius_px)
    for array in grid:
        array.flags.writeable = False
    return grid


def _new_radial_grid(half: int, radius_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_radial_grid`, computed."""
    grid = np.arange(-half, half + 1)
    distance = np.hypot(*np.meshgrid(grid, grid, indexing="ij"))
    ring = np.round(distance).astype(int)
    counts = np.maximum(np.bincount(ring.ravel()), 1)
    window = np.where(distance <= radius_px, 0.5 + 0.5 * np.cos(np.pi * distance / (radius_px + 1)), 0.0)
    return ring, counts, window
