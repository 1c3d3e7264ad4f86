"""Pixel filters: pure functions from an image to an image, composed into pipelines described as data.

The seed report's filters (less-than, more-than, range, convert, Laplacian) zero the pixels they do
not keep; the pixels still non-zero at the end of a pipeline are the points that get clustered.
The other filters (flatten, normalise, CLAHE, Gaussian, difference of Gaussians, adaptive
thresholds, morphology, component cleaning) come from AutoCryoPicker and the seed's further work.

A pipeline is a list of steps; a step is ``{"filter": NAME, **parameters}`` or
``{"pipeline": [steps...]}`` (a nested pipeline). Spatial parameters end in ``_px`` (pixels of the
working image) or ``_diameters`` (multiples of the particle diameter, converted to ``_px`` when the
pipeline runs), so one pipeline works at any magnification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from .convert import median_value, regular_subsample, to_uint8
from .peaks import disc_element, local_maxima
from .template import disc_kernel, radial_template

LAPLACIAN_8_NEIGHBOUR = ((1, 1, 1), (1, -8, 1), (1, 1, 1))
MAD_TO_SIGMA = 1.4826
ROBUST_SAMPLE = 100_000  # pixels: a regular subsample this large pins a median to ~0.3 %
QUIET_TILES = 4  # threshold_sigma compares the whole image's sigma with that of its quieter tiles
QUIET_QUANTILE = 0.25  # (this quantile of 4 x 4 tiles' sigmas) and takes the latter when the former
QUIET_RATIO = 2.0  # is over this x it: particles and carbon edges make 1.0-1.9 (234 of 240 micrographs
#                    of 40 sets), contamination and carbon filling much of a micrograph 2.1-5.8


def less_than(image: np.ndarray, threshold: float) -> np.ndarray:
    """Keep pixels with value < ``threshold``; zero the rest."""
    return np.where(image < threshold, image, 0).astype(image.dtype, copy=False)


def more_than(image: np.ndarray, threshold: float) -> np.ndarray:
    """Keep pixels with value > ``threshold``; zero the rest (a float32 image through OpenCV's
    threshold: the same pixels, compared with the threshold as float32 as NumPy does, 15x
    faster)."""
    image = np.asarray(image)
    if image.dtype == np.float32 and image.ndim == 2:
        return cv2.threshold(image, float(threshold), 0.0, cv2.THRESH_TOZERO)[1]
    return np.where(image > threshold, image, 0).astype(image.dtype, copy=False)


def in_range(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Keep pixels with ``low <= value <= high``; zero the rest (the seed's range filter)."""
    return np.where((image >= low) & (image <= high), image, 0).astype(image.dtype, copy=False)


def convert(image: np.ndarray, value: float, to: float) -> np.ndarray:
    """Replace every pixel equal to ``value`` by ``to``."""
    return np.where(image == value, to, image).astype(image.dtype, copy=False)


def laplacian(image: np.ndarray,
              kernel: Sequence[Sequence[float]] | np.ndarray = LAPLACIAN_8_NEIGHBOUR) -> np.ndarray:
    """Convolve with a Laplacian ``kernel`` whose entries sum to zero (float32 result)."""
    kernel_array = np.asarray(kernel, dtype=np.float32)
    if kernel_array.ndim != 2 or kernel_array.shape[0] % 2 == 0 or kernel_array.shape[1] % 2 == 0:
        raise ValueError(f"Laplacian kernel must be a 2-D array of odd size, got shape "
                         f"{kernel_array.shape}")
    if abs(float(kernel_array.sum())) > 1e-6 * max(1.0, float(np.abs(kernel_array).sum())):
        raise ValueError(f"Laplacian kernel entries must sum to 0, they sum to "
                         f"{float(kernel_array.sum()):g}")
    return cv2.filter2D(np.asarray(image, dtype=np.float32), -1, kernel_array,
                        borderType=cv2.BORDER_REFLECT)


def disc_contrast(image: np.ndarray, radius_px: float, annulus_ratio: float = 1.5,
                  noise_units: bool = False) -> np.ndarray:
    """Mean inside a particle-sized disc minus the mean of the ring around it, at every pixel: the
    seed's Laplacian filter with a zero-sum kernel scaled to the particle (float32).

    With ``noise_units`` the response is divided by the kernel's norm, so for white input noise
    of sigma 1 the response noise has sigma 1 too (a signal-to-noise ratio)."""
    kernel = disc_kernel(radius_px, annulus_ratio)
    response = laplacian(image, kernel)
    return response / float(np.linalg.norm(kernel)) if noise_units else response


def stretch(image: np.ndarray, low_percentile: float = 2.0,
            high_percentile: float = 98.0) -> np.ndarray:
    """Percentile contrast stretch to 8 bits."""
    return to_uint8(image, low_percentile, high_percentile)


def invert(image: np.ndarray) -> np.ndarray:
    """Negate intensities so dark particles become bright (float32)."""
    return -np.asarray(image, dtype=np.float32)


def normalise(image: np.ndarray) -> np.ndarray:
    """Robust z-score: subtract the median, divide by the MAD-estimated standard deviation."""
    image = np.asarray(image, dtype=np.float32)
    centre, sigma = _robust_centre_sigma(image)
    return (image - centre) / sigma


def normalise_noise(image: np.ndarray) -> np.ndarray:
    """Subtract the median and divide by the pixel noise sigma, estimated from differences of
    neighbouring pixels (robust to how crowded the micrograph is, unlike the image's own spread)."""
    image = np.asarray(image, dtype=np.float32)
    differences = regular_subsample(np.diff(image, axis=1), ROBUST_SAMPLE)
    sigma = MAD_TO_SIGMA * median_value(np.abs(differences - median_value(differences))) / np.sqrt(2)
    return (image - median_value(regular_subsample(image, ROBUST_SAMPLE))) / (sigma if sigma > 0 else 1.0)


def flatten(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Subtract a Gaussian-blurred background (ice thickness gradients, uneven illumination).

    The background is smooth, so it is estimated on a copy shrunk to about 4 pixels per sigma and
    enlarged back: the same result as a full-size blur at a fraction of the cost."""
    image = np.asarray(image, dtype=np.float32)
    shrink = max(1.0, sigma_px / 4.0)
    small = cv2.resize(image, (max(1, round(image.shape[1] / shrink)),
                               max(1, round(image.shape[0] / shrink))), interpolation=cv2.INTER_AREA)
    background = cv2.resize(gaussian(small, sigma_px / shrink), (image.shape[1], image.shape[0]),
                             interpolation=cv2.INTER_LINEAR)
    return image - background


def gaussian(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian low-pass filter (denoising)."""
    return cv2.GaussianBlur(np.asarray(image, dtype=np.float32), (0, 0), sigmaX=float(sigma_px),
                            borderType=cv2.BORDER_REFLECT)


def median(image: np.ndarray, size_px: int) -> np.ndarray:
    """Median filter with a square window of odd ``size_px`` (salt-and-pepper / hot pixels)."""
    from scipy import ndimage  # SciPy loads slowly; only this filter needs it

    size = max(3, int(round(size_px)) | 1)
    return ndimage.median_filter(np.asarray(image, dtype=np.float32), size=size, mode="reflect")


def difference_of_gaussians(image: np.ndarray, sigma_low_px: float,
                            sigma_high_px: float) -> np.ndarray:
    """Band-pass: blur(sigma_low) - blur(sigma_high); a blob detector tuned to the particle size."""
    image = np.asarray(image, dtype=np.float32)
    return gaussian(image, sigma_low_px) - gaussian(image, sigma_high_px)


def equalise(image: np.ndarray) -> np.ndarray:
    """Global histogram equalisation (8-bit)."""
    return cv2.equalizeHist(_as_uint8(image))


def clahe(image: np.ndarray, clip_limit: float = 2.0, tile_px: float = 64.0) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (8-bit) with tiles of about ``tile_px``."""
    image = _as_uint8(image)
    tiles = (max(1, round(image.shape[1] / tile_px)), max(1, round(image.shape[0] / tile_px)))
    return cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tiles).apply(image)


def threshold_sigma(image: np.ndarray, n_sigma: float) -> np.ndarray:
    """Histogram-adaptive threshold: keep pixels above median + ``n_sigma`` robust sigmas.

    The sigma is the whole image's, or that of its quieter parts (:func:`quiet_sigma`) when the
    whole image's is over ``QUIET_RATIO`` times that: contamination and carbon then fill a large
    part of the image with responses far stronger than any particle's, and a sigma taken over
    all of it puts the threshold above every particle (a simulated thick-ice micrograph with
    carbon and two contaminations: 0 of 9 particles picked, a ratio of 5.8)."""
    image = np.asarray(image, dtype=np.float32)
    centre, sigma = _robust_centre_sigma(image)
    quiet = quiet_sigma(image)
    return more_than(image, centre + n_sigma * (quiet if sigma > QUIET_RATIO * quiet else sigma))


def quiet_sigma(image: np.ndarray) -> float:
    """The robust sigma of the quieter parts of ``image``: the ``QUIET_QUANTILE`` of the robust
    sigmas of its ``QUIET_TILES`` x ``QUIET_TILES`` tiles (the lower neighbour: ``np.quantile``
    imports ``numpy.ma``, a start-up cost)."""
    sigmas = [_robust_centre_sigma(tile)[1] for band in np.array_split(image, QUIET_TILES)
              for tile in np.array_split(band, QUIET_TILES, axis=1) if tile.size]
    return float(np.sort(sigmas)[int(QUIET_QUANTILE * (len(sigmas) - 1))])


def threshold_otsu(image: np.ndarray) -> np.ndarray:
    """Histogram-adaptive threshold: keep pixels above Otsu's threshold."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    scaled = ((image - low) * (255.0 / (high - low))).astype(np.uint8) if high > low else \
        np.zeros(image.shape, np.uint8)
    level, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return more_than(image, low + level * (high - low) / 255.0)


def closing(image: np.ndarray, radius_px: float) -> np.ndarray:
    """Morphological closing with a disc: fills small gaps inside particles."""
    return cv2.morphologyEx(np.asarray(image), cv2.MORPH_CLOSE, disc_element(radius_px))


def opening(image: np.ndarray, radius_px: float) -> np.ndarray:
    """Morphological opening with a disc: removes specks smaller than the disc."""
    return cv2.morphologyEx(np.asarray(image), cv2.MORPH_OPEN, disc_element(radius_px))


def clean_components(image: np.ndarray, min_diameter_px: float = 0.0,
                     max_diameter_px: float = np.inf, min_roundness: float = 0.0) -> np.ndarray:
    """Zero connected components whose size or roundness is out of range (AutoCryoPicker's
    cleaning). Size is the equivalent diameter (of the disc with the component's area); roundness
    is 4*pi*area/perimeter^2 (1 for a disc). Drops specks, and carbon edges or ice that are larger
    or more elongated than particles."""
    image = np.asarray(image)
    count, labels = cv2.connectedComponents((image != 0).astype(np.uint8), connectivity=8)
    areas = np.bincount(labels.ravel(), minlength=count).astype(np.float64)  # label 0: the zeros
    diameters = 2.0 * np.sqrt(areas / np.pi)
    keep = (diameters >= min_diameter_px) & (diameters <= max_diameter_px)
    if min_roundness > 0:
        keep &= _component_roundness(labels, count, areas) >= min_roundness
    if keep[1:].all():
        return image  # nothing to drop (often): no copy
    keep[0] = False
    return np.where(keep[labels], image, 0).astype(image.dtype, copy=False)


FILTERS: dict[str, Callable[..., np.ndarray]] = {
    "less_than": less_than,
    "more_than": more_than,
    "range": in_range,
    "convert": convert,
    "laplacian": laplacian,
    "disc_contrast": disc_contrast,
    "radial_template": radial_template,
    "stretch": stretch,
    "invert": invert,
    "normalise": normalise,
    "normalise_noise": normalise_noise,
    "flatten": flatten,
    "gaussian": gaussian,
    "median": median,
    "dog": difference_of_gaussians,
    "equalise": equalise,
    "clahe": clahe,
    "threshold_sigma": threshold_sigma,
    "threshold_otsu": threshold_otsu,
    "local_maxima": local_maxima,
    "closing": closing,
    "opening": opening,
    "clean_components": clean_components,
}


def apply_pipeline(image: np.ndarray, steps: Sequence[Mapping[str, Any]],
                   diameter_px: float) -> np.ndarray:
    """Run a (possibly nested) filter pipeline; ``diameter_px`` converts ``*_diameters`` params."""
    for step in steps:
        image = apply_step(image, step, diameter_px)
    return image


def apply_step(image: np.ndarray, step: Mapping[str, Any], diameter_px: float) -> np.ndarray:
    """Run one pipeline step (a filter or a nested pipeline)."""
    if "pipeline" in step:
        return apply_pipeline(image, step["pipeline"], diameter_px)
    name, parameters = resolve_step(step, diameter_px)
    return FILTERS[name](image, **parameters)


def resolve_step(step: Mapping[str, Any], diameter_px: float) -> tuple[str, dict[str, Any]]:
    """A step's filter name and parameters, its ``*_diameters`` converted to ``*_px`` (steps are
    checked when a configuration is made: :func:`cryostream.config.check_pipeline`)."""
    name = step["filter"]
    parameters: dict[str, Any] = {}
    for key, value in step.items():
        if key == "filter":
            continue
        if key.endswith("_diameters"):
            parameters[key.removesuffix("_diameters") + "_px"] = float(value) * diameter_px
        else:
            parameters[key] = value
    return name, parameters


def _robust_centre_sigma(image: np.ndarray) -> tuple[float, float]:
    sample = regular_subsample(image, ROBUST_SAMPLE)
    centre = median_value(sample)
    sigma = MAD_TO_SIGMA * median_value(np.abs(sample - centre))
    if sigma <= 0:
        sigma = float(sample.std()) or 1.0
    return centre, sigma


def _as_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else to_uint8(image, 0.0, 100.0)


def _component_roundness(labels: np.ndarray, count: int, areas: np.ndarray) -> np.ndarray:
    edges = (labels != cv2.erode(labels.astype(np.float32), np.ones((3, 3), np.uint8))
             .astype(labels.dtype)) & (labels > 0)
    perimeter = np.bincount(labels[edges], minlength=count).astype(np.float64)
    return np.where(perimeter > 0, 4 * np.pi * areas / np.maximum(perimeter, 1) ** 2, 0.0)
