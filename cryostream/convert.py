"""Binning to a working pixel size and contrast stretching to 8 bits (AutoCryoPicker's conversion)."""

from __future__ import annotations

import cv2
import numpy as np

PERCENTILE_SAMPLE_PX = 250_000


def bin_factor_for(diameter_px: float, working_diameter_px: float, at_least: bool = False) -> int:
    """The whole downsampling factor (>= 1) that brings a particle of ``diameter_px`` closest to
    ``working_diameter_px`` (with ``at_least``: the largest that keeps it at least that big);
    never upsamples.

    Whole factors average whole blocks of pixels, so white noise stays white. A fractional factor
    shares pixels between neighbours, which correlates the noise and makes every noise-unit
    filter response (an SNR) too high: on pure noise, 70-200 picks instead of a handful."""
    ratio = float(diameter_px) / float(working_diameter_px)
    return max(1, int(ratio) if at_least else round(ratio))


def bin_blocks(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of ``image`` (float32). The last rows and columns
    that do not fill a block (fewer than ``factor``) are left out, so binned pixel (r, c) covers
    original rows and columns [factor * r, factor * (r + 1))."""
    image = np.asarray(image, dtype=np.float32)
    if factor <= 1:
        return image
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    return cv2.resize(image[:rows * factor, :cols * factor], (cols, rows),
                      interpolation=cv2.INTER_AREA)


def bin_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Area-average ``image`` down by ``factor`` (any real factor >= 1) as float32, for display."""
    image = np.asarray(image, dtype=np.float32)
    if factor <= 1.0:
        return image
    rows = max(1, round(image.shape[0] / factor))
    cols = max(1, round(image.shape[1] / factor))
    return cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)


def robust_range(image: np.ndarray, low_percentile: float = 2.0,
                 high_percentile: float = 98.0) -> tuple[float, float]:
    """Low/high percentiles of ``image``, estimated on a regular subsample for speed."""
    low, high = percentiles(regular_subsample(image, PERCENTILE_SAMPLE_PX),
                            [low_percentile, high_percentile])
    return float(low), float(high)


def percentiles(values: np.ndarray, percents: list[float]) -> np.ndarray:
    """``np.percentile(values, percents)`` (linear interpolation, the same floating-point steps
    and result) for finite ``values``, at a fraction of its cost: NumPy selects several ranks in
    one slow general-purpose partition, where one rank at a time takes its vectorised one."""
    flat = np.array(values).ravel()
    virtual = (flat.size - 1) * (np.asarray(percents, dtype=float) / 100)
    below = np.floor(virtual).astype(np.intp)
    above = np.minimum(below + 1, flat.size - 1)
    lower, upper = _order_statistics(flat, below), _order_statistics(flat, above)
    gamma = virtual - below
    difference = upper - lower
    return np.where(gamma >= 0.5, upper - difference * (1 - gamma), lower + difference * gamma)


def median_value(values: np.ndarray) -> float:
    """``np.median(values)`` (the same result, NaN when empty) for finite ``values``, at a
    fraction of its cost (see :func:`percentiles`), and without loading ``numpy.ma`` (50 ms at
    start-up), which ``np.median`` imports to check for masked arrays."""
    flat = np.asarray(values).ravel()
    if flat.size == 0:
        return float("nan")
    half = flat.size // 2
    part = np.partition(flat, half)
    if flat.size % 2:
        return float(part[half])
    return float(np.mean(np.stack([part[:half].max(), part[half]])))


def _order_statistics(flat: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The values of rank ``ranks`` in ``flat`` (partitioned in place), one rank at a time."""
    found = np.empty(len(ranks), flat.dtype)
    for index, rank in enumerate(ranks):
        flat.partition(int(rank))
        found[index] = flat[rank]
    return found


def regular_subsample(image: np.ndarray, count: int) -> np.ndarray:
    """Every k-th pixel of ``image`` (flattened), about ``count`` of them: enough for a
    percentile or median at a fraction of the cost."""
    flat = np.asarray(image).ravel()
    return flat[:: max(1, flat.size // count)]


def to_uint8(image: np.ndarray, low_percentile: float = 2.0,
             high_percentile: float = 98.0) -> np.ndarray:
    """Clip to the robust percentile range and rescale to 0-255 (uint8)."""
    if not 0.0 <= low_percentile < high_percentile <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got "
                         f"{low_percentile}, {high_percentile}")
    low, high = robust_range(image, low_percentile, high_percentile)
    if high <= low:
        return np.zeros(np.shape(image), dtype=np.uint8)
    scaled = (np.asarray(image, dtype=np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8)
