"""Pick overlays: the micrograph as a person looks at it, with a circle of the particle diameter at
each pick and, given truth, true positives, false positives and misses told apart.

Colours are from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); misses are also drawn dashed, so the classes differ in shape as well as colour.
Coordinates are in the original micrograph's pixel frame (x = column, y = row); big micrographs are
downscaled for display and the circles scaled with them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from .config import PickerConfig
from .convert import bin_image, to_uint8
from .filters import gaussian
from .io import BadInputError, read_micrograph
from .star import read_provenance, write_atomically

# Okabe-Ito colours, RGB.
PICK_RGB = (230, 159, 0)  # orange
TRUE_POSITIVE_RGB = (0, 158, 115)  # bluish green
FALSE_POSITIVE_RGB = (213, 94, 0)  # vermillion
MISS_RGB = (86, 180, 233)  # sky blue
LEGEND_BACKGROUND_RGB = (32, 32, 32)
LEGEND_TEXT_RGB = (255, 255, 255)

DEFAULT_MAX_SIDE_PX = 2048
DEFAULT_LOW_PASS_DIAMETERS = 0.05
OVERLAY_FORMATS = (".png", ".jpg", ".jpeg")
_SUBPIXEL_SHIFT = 4
_DASHES = 16


def overlay_counts(picks_xy: np.ndarray, diameter_px: float, truth_xy: np.ndarray | None = None,
                   radius_diameters: float = 0.5) -> dict[str, int]:
    """Number of picks and, with truth, true positives, false positives and misses (one-to-one
    matching within ``radius_diameters`` x diameter, as :mod:`cryostream.evaluation` scores)."""
    from .metrics import match_distance  # SciPy's optimiser: loaded when truth is given

    picks_xy = _points(picks_xy)
    if truth_xy is None:
        return {"picks": len(picks_xy)}
    truth_xy = _points(truth_xy)
    matched = len(match_distance(picks_xy, truth_xy, radius_diameters * diameter_px))
    return {"picks": len(picks_xy), "true positives": matched,
            "false positives": len(picks_xy) - matched, "misses": len(truth_xy) - matched}


def display_image(image: np.ndarray, diameter_px: float, max_side_px: int = DEFAULT_MAX_SIDE_PX,
                  low_pass_diameters: float = 0.0, low_percentile: float = 1.0,
                  high_percentile: float = 99.0) -> tuple[np.ndarray, np.ndarray]:
    """The 8-bit display image (area-downscaled so its longer side is at most ``max_side_px``,
    optionally Gaussian low-passed with sigma = ``low_pass_diameters`` x diameter, contrast
    stretched) and the (x, y) scale from original to display pixels."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D micrograph, got an array of shape {image.shape}")
    factor = max(1.0, max(image.shape) / float(max_side_px))
    small = bin_image(image, factor)
    scale = np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]])
    sigma_px = low_pass_diameters * diameter_px * float(scale.mean())
    if sigma_px >= 0.3:
        small = gaussian(small, sigma_px)
    return to_uint8(small, low_percentile, high_percentile), scale


def draw_overlay(image: np.ndarray, picks_xy: np.ndarray, diameter_px: float,
                 truth_xy: np.ndarray | None = None, *, radius_diameters: float = 0.5,
                 low_pass_diameters: float = 0.0, max_side_px: int = DEFAULT_MAX_SIDE_PX,
                 low_percentile: float = 1.0, high_percentile: float = 99.0) -> np.ndarray:
    """An RGB uint8 overlay of ``picks_xy`` ((N, 2) x, y in original pixels) on ``image``.

    Without truth every pick is an orange circle. With ``truth_xy`` true positives are bluish
    green, false positives vermillion and missed truth particles dashed sky blue. A legend bar with
    the counts is added below the image; the image part keeps the display scale of
    :func:`display_image`, so circles sit at the picks with the particle's diameter.
    """
    gray, scale = display_image(image, diameter_px, max_side_px, low_pass_diameters,
                                low_percentile, high_percentile)
    canvas = np.repeat(gray[:, :, None], 3, axis=2)
    picks_xy = _points(picks_xy)
    radius = diameter_px / 2.0 * float(scale.mean())
    thickness = max(2 if radius >= 8 else 1, round(max(canvas.shape[:2]) / 450))
    counts = overlay_counts(picks_xy, diameter_px, truth_xy, radius_diameters)
    if truth_xy is None:
        _circles(canvas, picks_xy, scale, radius, PICK_RGB, thickness)
        legend = [("picks", PICK_RGB, False)]
    else:
        from .metrics import match_distance

        truth_xy = _points(truth_xy)
        matched = match_distance(picks_xy, truth_xy, radius_diameters * diameter_px)
        is_true = np.zeros(len(picks_xy), bool)
        is_true[matched[:, 0]] = True
        is_found = np.zeros(len(truth_xy), bool)
        is_found[matched[:, 1]] = True
        _circles(canvas, truth_xy[~is_found], scale, radius, MISS_RGB, thickness, dashed=True)
        _circles(canvas, picks_xy[~is_true], scale, radius, FALSE_POSITIVE_RGB, thickness)
        _circles(canvas, picks_xy[is_true], scale, radius, TRUE_POSITIVE_RGB, thickness)
        legend = [("true positives", TRUE_POSITIVE_RGB, False),
                  ("false positives", FALSE_POSITIVE_RGB, False), ("misses", MISS_RGB, True)]
    return np.vstack([canvas, _legend_bar(canvas.shape[1], [(f"{label}: {counts[label]}", rgb,
                                                             dashed)
                                                            for label, rgb, dashed in legend])])


def encode_image(rgb: np.ndarray, suffix: str = ".png") -> bytes:
    """PNG/JPEG bytes of an RGB uint8 image."""
    if suffix.lower() not in OVERLAY_FORMATS:
        raise ValueError(f"overlay images are {', '.join(OVERLAY_FORMATS)}, not {suffix!r}")
    ok, encoded = cv2.imencode(suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV could not encode the overlay as {suffix}")
    return encoded.tobytes()


def recorded_diameter_px(star_path: str | Path) -> float | None:
    """The particle diameter in pixels recorded in a cryostream STAR header, if any."""
    value = read_provenance(star_path).get("diameter_px")
    return float(value) if value is not None else None


def write_preview(micrograph_path: str | Path, out_path: str | Path,
                  config: PickerConfig | None = None, picks_path: str | Path | None = None,
                  truth_path: str | Path | None = None,
                  low_pass_diameters: float = DEFAULT_LOW_PASS_DIAMETERS,
                  max_side_px: int = DEFAULT_MAX_SIDE_PX,
                  pixel_size_angstrom: float | None = None) -> dict[str, int]:
    """Write the overlay of one micrograph to ``out_path`` (PNG or JPEG) and return its counts.

    Picks come from ``picks_path`` (a coordinate STAR) or, without one, from picking the
    micrograph with ``config``. The diameter is ``config``'s (Å, converted with the pixel size:
    ``pixel_size_angstrom`` or the header's) when given, else the one recorded in the picks file.
    """
    from .evaluation import coordinates_xy  # pandas and SciPy: loaded when an overlay is drawn
    from .picker import pick_micrograph, resolve_pixel_size

    micrograph_path, out_path = Path(micrograph_path), Path(out_path)
    if out_path.suffix.lower() not in OVERLAY_FORMATS:
        raise BadInputError(out_path, f"overlay must be {' or '.join(OVERLAY_FORMATS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        micrograph = read_micrograph(micrograph_path, pixel_size_angstrom)
    if picks_path is None:
        if config is None:
            raise BadInputError(micrograph_path, "without a picks file a configuration is "
                                "needed to pick it (give --diameter in Å or --config)")
        picks = pick_micrograph(micrograph, config)
        picks_xy, diameter_px = np.column_stack([picks.x, picks.y]), picks.diameter_px
    else:
        picks_xy = coordinates_xy(picks_path)
        recorded = (config.diameter_angstrom / resolve_pixel_size(micrograph)
                    if config is not None else recorded_diameter_px(picks_path))
        if recorded is None:
            raise BadInputError(picks_path, "records no particle diameter; pass --diameter in Å "
                                "(with --pixel-size for PNG/JPEG/TIFF micrographs)")
        diameter_px = recorded
    truth_xy = coordinates_xy(truth_path) if truth_path is not None else None
    overlay = draw_overlay(micrograph.data, picks_xy, diameter_px, truth_xy,
                           low_pass_diameters=low_pass_diameters, max_side_px=max_side_px)
    write_atomically(out_path, encode_image(overlay, out_path.suffix))
    return overlay_counts(picks_xy, diameter_px, truth_xy)


def _circles(canvas: np.ndarray, points_xy: np.ndarray, scale: np.ndarray, radius: float,
             rgb: tuple[int, int, int], thickness: int, dashed: bool = False) -> None:
    """Anti-aliased circles at sub-pixel precision; ``dashed`` draws every other arc."""
    one = 1 << _SUBPIXEL_SHIFT
    radius_fixed = max(one, round(radius * one))
    for x, y in (points_xy + 0.5) * scale - 0.5:
        centre = (round(x * one), round(y * one))
        if dashed:
            step = 360 / _DASHES
            for start in np.arange(0, 360, 2 * step):
                cv2.ellipse(canvas, centre, (radius_fixed, radius_fixed), 0, start, start + step,
                            rgb, thickness, cv2.LINE_AA, _SUBPIXEL_SHIFT)
        else:
            cv2.circle(canvas, centre, radius_fixed, rgb, thickness, cv2.LINE_AA, _SUBPIXEL_SHIFT)


def _legend_bar(width: int, entries: list[tuple[str, tuple[int, int, int], bool]]) -> np.ndarray:
    """A dark bar with a marker and a label per entry, sized to fit ``width``."""
    font, pad = cv2.FONT_HERSHEY_SIMPLEX, 0.6
    text_widths = [cv2.getTextSize(label, font, 1.0, 2)[0][0] for label, _, _ in entries]
    text_height = cv2.getTextSize("Ag", font, 1.0, 2)[0][1]
    unit_width = sum(text_widths) + len(entries) * text_height * (2 + 2 * pad) + text_height * pad
    font_scale = min(max(width / 1400, 0.5), width / unit_width)
    height = max(12, round(text_height * font_scale * 2.2))
    bar = np.empty((height, width, 3), np.uint8)
    bar[:] = LEGEND_BACKGROUND_RGB
    line = max(1, round(font_scale * 2))
    marker = max(3, round(text_height * font_scale * 0.5))
    x, baseline = text_height * font_scale * pad, round(height / 2 + text_height * font_scale / 2)
    for (label, rgb, dashed), text_width in zip(entries, text_widths, strict=True):
        _circles(bar, np.array([[x + marker, height / 2 - 0.5]]), np.ones(2), marker, rgb, line,
                 dashed)
        x += 2 * marker + text_height * font_scale * pad
        cv2.putText(bar, label, (round(x), baseline), font, font_scale, LEGEND_TEXT_RGB, line,
                    cv2.LINE_AA)
        x += text_width * font_scale + text_height * font_scale * 2 * pad
    return bar


def _points(points: np.ndarray | None) -> np.ndarray:
    return np.asarray(points if points is not None else [], dtype=float).reshape(-1, 2)
