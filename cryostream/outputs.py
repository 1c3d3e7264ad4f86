"""What gets written for each picked micrograph, shared by ``pick``, ``watch`` and the shims."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import __version__
from .config import PickerConfig, dump_config
from .picker import Picks
from .star import DEFAULT_SUFFIX, coordinate_path, write_atomically, write_box, write_star

COMBINED_STAR = "particles.star"
IMAGE_FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class OutputOptions:
    """Output folder and file choices. ``input_root`` mirrors the input tree under ``out_dir``."""

    out_dir: Path
    suffix: str = DEFAULT_SUFFIX
    box: bool = False
    image_format: str | None = None
    input_root: Path | None = None


def provenance(config: PickerConfig, picks: Picks | None = None) -> list[str]:
    """Comment lines recording how picks were made, so they can be reproduced."""
    lines = [f"cryostream {__version__}", f"config_digest: {config.digest()}"]
    if picks is not None:
        lines += [f"micrograph: {picks.micrograph}", f"pixel_size_angstrom: "
                  f"{picks.pixel_size_angstrom:g}", f"diameter_px: {picks.diameter_px:g}"]
    lines += [f"config: {line}" for line in _config_lines(config)]
    return lines


def write_outputs(picks: Picks, options: OutputOptions, config: PickerConfig,
                  image8: np.ndarray | None = None) -> list[Path]:
    """Write one micrograph's STAR (and .box / 8-bit image when asked); returns the paths."""
    star_path = coordinate_path(picks.micrograph, options.out_dir, options.suffix,
                                input_root=options.input_root)
    written = [write_star(picks, star_path, provenance(config, picks))]
    if options.box:
        written.append(write_box(picks, star_path.with_suffix(".box")))
    if options.image_format and image8 is not None:
        image_path = coordinate_path(picks.micrograph, options.out_dir, "8bit",
                                     f".{options.image_format}", options.input_root)
        ok, encoded = cv2.imencode(f".{options.image_format}", image8)
        if ok:
            written.append(write_atomically(image_path, encoded.tobytes()))
    return written


def read_provenance(path: str | Path) -> dict[str, str]:
    """The ``# key: value`` comment lines at the top of a STAR file written by cryostream."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("data_"):
            break
        if line.startswith("# ") and ": " in line:
            key, value = line[2:].split(": ", 1)
            values.setdefault(key, value)
    return values


def _config_lines(config: PickerConfig) -> Sequence[str]:
    return [line for line in dump_config(config).splitlines() if line.strip()]
