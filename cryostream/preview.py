"""Pick overlays: the micrograph as a person looks at it, with a circle of the particle diameter at
each pick and, given truth, true positives, false positives and misses told apart.

Colours are from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); misses are also drawn dashed, so the classes differ in shape as well as colour.
Coordinates are in the original micrograph's pixel frame (x = column, y = row); big micrographs are
downscaled for display and the circles scaled with them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .config import PickerConfig
from .convert import bin_image, to_uint8
from .evaluation import Scale
from .filters import gaussian
from .io import BadInputError, read_micrograph
from .star import write_atomically

if TYPE_CHECKING:
    from PIL import ImageFont

# Okabe-Ito colours, RGB.
PICK_RGB = (230, 159, 0)  # orange
TRUE_POSITIVE_RGB = (0, 158, 115)  # bluish green
FALSE_POSITIVE_RGB = (213, 94, 0)  # vermillion
MISS_RGB = (86, 180, 233)  # sky blue
LEGEND_BACKGROUND_RGB = (32, 32, 32)
LEGEND_TEXT_RGB = (255, 255, 255)

MIN_FONT_PX, MAX_FONT_PX = 10, 40  # legend and caption text; 14 px at 480 px (a thumbnail)
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
                 low_percentile: float = 1.0, high_percentile: float = 99.0,
                 caption: str | None = None) -> np.ndarray:
    """An RGB uint8 overlay of ``picks_xy`` ((N, 2) x, y in original pixels) on ``image``.

    Without truth every pick is an orange circle. With ``truth_xy`` true positives are bluish
    green, false positives vermillion and missed truth particles dashed sky blue. A legend bar with
    the counts is added below the image, and ``caption`` (one line of text) below that; the
    image part keeps the display scale of :func:`display_image`, so circles sit at the picks
    with the particle's diameter.
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
    bars = [_legend_bar(canvas.shape[1], [(f"{label}: {counts[label]}", rgb, dashed)
                                          for label, rgb, dashed in legend])]
    if caption:
        bars.append(_legend_bar(canvas.shape[1], [(caption, None, False)]))
    return np.vstack([canvas, *bars])


def encode_image(rgb: np.ndarray, suffix: str = ".png") -> bytes:
    """PNG/JPEG bytes of an RGB uint8 image."""
    if suffix.lower() not in OVERLAY_FORMATS:
        raise ValueError(f"overlay images are {', '.join(OVERLAY_FORMATS)}, not {suffix!r}")
    ok, encoded = cv2.imencode(suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV could not encode the overlay as {suffix}")
    return encoded.tobytes()


def write_preview(micrograph_path: str | Path, out_path: str | Path,
                  config: PickerConfig | None = None, picks_path: str | Path | None = None,
                  truth_path: str | Path | None = None,
                  low_pass_diameters: float = DEFAULT_LOW_PASS_DIAMETERS,
                  max_side_px: int = DEFAULT_MAX_SIDE_PX,
                  pixel_size_angstrom: float | None = None) -> tuple[dict[str, int], str]:
    """Write the overlay of one micrograph to ``out_path`` (PNG or JPEG), captioned with the file
    and the particle diameter (Å, px and pixel size); return its counts and the caption.

    Picks come from ``picks_path`` (a coordinate STAR) or, without one, from picking the
    micrograph with ``config``. The diameter is ``config``'s (Å, converted with the pixel size:
    ``pixel_size_angstrom`` or the header's) when given, else the one recorded in the picks file.
    """
    from .evaluation import coordinates_xy, picks_scale  # pandas and SciPy: loaded when drawn
    from .picker import pick_micrograph, resolve_pixel_size

    micrograph_path, out_path = Path(micrograph_path), Path(out_path)
    if out_path.suffix.lower() not in OVERLAY_FORMATS:
        raise BadInputError(out_path, f"overlay must be {' or '.join(OVERLAY_FORMATS)}")
    micrograph = read_micrograph(micrograph_path, pixel_size_angstrom)
    if picks_path is None:
        if config is None:
            raise BadInputError(micrograph_path, "without a picks file a configuration is "
                                "needed to pick it (give --diameter in Å or --config)")
        picks = pick_micrograph(micrograph, config)
        picks_xy, scale = (np.column_stack([picks.x, picks.y]),
                           Scale(picks.diameter_px, picks.pixel_size_angstrom))
    else:
        picks_xy = coordinates_xy(picks_path)
        scale = picks_scale(picks_path, config.diameter_angstrom if config else None,
                            resolve_pixel_size(micrograph) if config else
                            micrograph.pixel_size_angstrom)
    truth_xy = coordinates_xy(truth_path) if truth_path is not None else None
    caption = f"{micrograph_path.name} · particle diameter {scale.describe()}"
    overlay = draw_overlay(micrograph.data, picks_xy, scale.diameter_px, truth_xy,
                           low_pass_diameters=low_pass_diameters, max_side_px=max_side_px,
                           caption=caption)
    write_atomically(out_path, encode_image(overlay, out_path.suffix))
    return overlay_counts(picks_xy, scale.diameter_px, truth_xy), caption


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


def _legend_bar(width: int, entries: list[tuple[str, tuple[int, int, int] | None, bool]]
                ) -> np.ndarray:
    """A dark bar with a marker (none where the colour is None) and a label per entry, in a font
    sized to fit ``width``."""
    from PIL import Image, ImageDraw

    size = max(MIN_FONT_PX, min(round(width / 34), MAX_FONT_PX))
    while size > MIN_FONT_PX and _entries_width(entries, size) > width:
        size -= 1
    height, marker, pad = round(size * 1.9), max(3, round(size * 0.4)), size * 0.6
    bar = np.empty((height, width, 3), np.uint8)
    bar[:] = LEGEND_BACKGROUND_RGB
    line = max(1, round(size / 12))
    x, places = pad, []
    for label, rgb, dashed in entries:
        if rgb is not None:
            _circles(bar, np.array([[x + marker, height / 2 - 0.5]]), np.ones(2), marker, rgb,
                     line, dashed)
            x += 2 * marker + pad
        places.append((x, label))
        x += _font(size).getlength(label) + 2 * pad
    image = Image.fromarray(bar)
    draw = ImageDraw.Draw(image)
    for x, label in places:
        draw.text((x, height / 2), label, font=_font(size), fill=LEGEND_TEXT_RGB, anchor="lm")
    return np.asarray(image)


def _entries_width(entries: list[tuple[str, tuple[int, int, int] | None, bool]],
                   size: int) -> float:
    markers = sum(rgb is not None for _, rgb, _ in entries)
    return (sum(_font(size).getlength(label) for label, _, _ in entries)
            + markers * (0.8 * size + 0.6 * size) + len(entries) * 1.2 * size + 0.6 * size)


@cache
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans, which Matplotlib ships (it has Å, which OpenCV's fonts lack)."""
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" /
                                  "DejaVuSans.ttf"), size_px)


def _points(points: np.ndarray | None) -> np.ndarray:
    return np.asarray(points if points is not None else [], dtype=float).reshape(-1, 2)
