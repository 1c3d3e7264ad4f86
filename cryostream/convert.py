"""Binning to a working pixel size and contrast stretching to 8 bits (AutoCryoPicker's conversion)."""

from __future__ import annotations

import cv2
import numpy as np

PERCENTILE_SAMPLE_PX = 1_000_000


def bin_factor_for(diameter_px: float, working_diameter_px: float) -> float:
    """Downsampling factor (>= 1) that shrinks a particle of ``diameter_px`` to about
    ``working_diameter_px``; never upsamples."""
    return max(1.0, float(diameter_px) / float(working_diameter_px))


def bin_image(image: np.ndarray, factor: float) -> np.ndarray:
    """Area-average ``image`` down by ``factor`` (any real factor >= 1) as float32."""
    image = np.asarray(image, dtype=np.float32)
    if factor <= 1.0:
        return image
    rows = max(1, round(image.shape[0] / factor))
    cols = max(1, round(image.shape[1] / factor))
    return cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)


def robust_range(image: np.ndarray, low_percentile: float = 2.0,
                 high_percentile: float = 98.0) -> tuple[float, float]:
    """Low/high percentiles of ``image``, estimated on a regular subsample for speed."""
    flat = np.asarray(image).ravel()
    step = max(1, flat.size // PERCENTILE_SAMPLE_PX)
    low, high = np.percentile(flat[::step], [low_percentile, high_percentile])
    return float(low), float(high)


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
