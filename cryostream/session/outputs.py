"""What is written for each picked micrograph, and the combined particles STAR, for every front door.

Every file is written atomically (temporary file, then rename), so a reader or a crash never sees
half a file; the journal marks a micrograph done only after its files exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..config import PickerConfig, dump_config
from ..io import BadInputError
from ..picker import Picks
from ..star import (
    read_coordinates,
    read_provenance,
    write_atomically,
    write_box,
    write_combined_star,
    write_star,
)

COMBINED_STAR = "particles.star"


@dataclass(frozen=True)
class OutputOptions:
    """The output folder and what is written besides each coordinate STAR."""

    out_dir: Path
    box: bool = False
    image_format: str | None = None
    combined_star: bool = True


def provenance(config: PickerConfig, picks: Picks | None = None,
               notes: Sequence[str] = ()) -> list[str]:
    """Comment lines recording how picks were made, so they can be reproduced (``notes``: what
    the session adds, such as how the diameter was measured)."""
    lines = [f"cryostream {__version__}", f"config_digest: {config.digest()}", *notes]
    if picks is not None:
        rows, columns = picks.micrograph_shape
        lines += [f"micrograph: {picks.micrograph}", f"micrograph_shape_px: {rows} {columns}",
                  f"pixel_size_angstrom: {picks.pixel_size_angstrom:g}",
                  f"diameter_px: {picks.diameter_px:g}"]
    lines += [f"config: {line}" for line in dump_config(config).splitlines() if line.strip()]
    return lines


def write_outputs(picks: Picks, star_path: Path, options: OutputOptions, config: PickerConfig,
                  image8: np.ndarray | None = None, notes: Sequence[str] = ()) -> list[Path]:
    """Write one micrograph's STAR (and .box / 8-bit image when asked) next to ``star_path``;
    returns the paths, the STAR first."""
    written = [write_star(picks, star_path, provenance(config, picks, notes))]
    if options.box:
        written.append(write_box(picks, star_path.with_suffix(".box")))
    if options.image_format and image8 is not None:
        ok, encoded = cv2.imencode(f".{options.image_format}", image8)
        if ok:
            image_path = star_path.with_name(f"{picks.micrograph.stem}_8bit.{options.image_format}")
            written.append(write_atomically(image_path, encoded.tobytes()))
    return written


def write_combined(named_picks: Iterable[tuple[str, Picks]], out_dir: Path,
                   config: PickerConfig, notes: Sequence[str] = ()) -> Path:
    """Write ``out_dir/particles.star`` with every pick, sorted by micrograph name."""
    return write_combined_star(sorted(named_picks, key=lambda item: item[0]),
                               out_dir / COMBINED_STAR, provenance(config, notes=notes))


def picks_from_star(star_path: Path, micrograph: str) -> Picks:
    """The picks of a per-micrograph STAR written by cryostream (for the combined STAR)."""
    table = read_coordinates(star_path)
    try:
        recorded = read_provenance(star_path)
    except OSError as error:
        raise BadInputError(star_path, f"cannot be read ({error.strerror})") from error
    merit = (table["rlnAutopickFigureOfMerit"].to_numpy(float) if "rlnAutopickFigureOfMerit" in table
             else np.ones(len(table)))
    rows, columns = (int(value) for value in recorded.get("micrograph_shape_px", "0 0").split())
    return Picks(x=table["rlnCoordinateX"].to_numpy(float), y=table["rlnCoordinateY"].to_numpy(float),
                 figure_of_merit=merit, diameter_px=float(recorded.get("diameter_px", 0)),
                 pixel_size_angstrom=float(recorded.get("pixel_size_angstrom", 0)),
                 micrograph_shape=(rows, columns), micrograph=Path(micrograph))

