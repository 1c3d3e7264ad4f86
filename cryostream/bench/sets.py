"""Labelled benchmark sets: reading a set folder and giving the picker float32 MRCs of it.

A set is a folder with ``images/<name>.*`` (any micrograph format cryostream reads),
``truth/<name>.star`` (rlnCoordinateX/Y in pixels of that image) and ``meta.json`` with either

- ``particle_diameter_angstrom``: the images are MRCs whose headers carry their real pixel size,
  picked as they are (the held-out kind: float32, real pixel sizes); or
- ``particle_diameter_px``: images of any format, converted to float32 MRCs with a 1.0 Å/px header,
  so diameters in Å equal diameters in px (the published PNG sets).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..convert import to_uint8
from ..io import MICROGRAPH_SUFFIXES, MRC_SUFFIXES, BadInputError, read_header, read_micrograph
from ..star import write_atomically
from .synthetic import synthetic_micrograph, write_mrc
from .truth import write_coordinates

CONVERTED_PIXEL_SIZE_ANGSTROM = 1.0


@dataclass(frozen=True)
class BenchSet:
    """One labelled set: micrograph files, their truth files (same order), the particle diameter
    and the pixel size the picker sees (the MRC headers', or 1.0 Å/px for converted images)."""

    name: str
    folder: Path
    diameter_angstrom: float
    pixel_size_angstrom: float
    images: tuple[Path, ...]
    truth: tuple[Path, ...]

    @property
    def diameter_px(self) -> float:
        return self.diameter_angstrom / self.pixel_size_angstrom

    @property
    def needs_conversion(self) -> bool:
        """True when the images are not all MRCs (they are converted at 1.0 Å/px)."""
        return not all(path.suffix.lower() in MRC_SUFFIXES for path in self.images)


def labelled_files(folder: str | Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The micrographs in ``folder/images`` and their truth files ``folder/truth/<stem>.star``."""
    folder = Path(folder)
    images_dir, truth_dir = folder / "images", folder / "truth"
    if not images_dir.is_dir() or not truth_dir.is_dir():
        raise BadInputError(folder, "is not a labelled set (needs images/ and truth/ folders)")
    images = tuple(sorted(path for path in images_dir.iterdir()
                          if path.suffix.lower() in MICROGRAPH_SUFFIXES))
    if not images:
        raise BadInputError(images_dir, f"holds no micrographs ({', '.join(MICROGRAPH_SUFFIXES)})")
    truth = tuple(truth_dir / f"{image.stem}.star" for image in images)
    for path in truth:
        if not path.is_file():
            raise BadInputError(path, "truth file is missing for this micrograph")
    return images, truth


def load_set(folder: str | Path) -> BenchSet:
    """Read a set folder: its labelled micrographs, diameter and pixel size (a diameter in px is
    one in Å at the 1.0 Å/px of the converted images)."""
    folder = Path(folder)
    images, truth = labelled_files(folder)
    meta = folder / "meta.json"
    diameter, unit = _meta_diameter(meta)
    mrc_only = all(path.suffix.lower() in MRC_SUFFIXES for path in images)
    if unit == "angstrom" and not mrc_only:
        raise BadInputError(meta, "particle_diameter_angstrom needs MRC images with their pixel "
                            "size in the header; give particle_diameter_px for other formats")
    pixel_size = (header_pixel_size(images) if unit == "angstrom"
                  else CONVERTED_PIXEL_SIZE_ANGSTROM)
    return BenchSet(folder.name, folder, diameter, pixel_size, images, truth)


def find_sets(data: str | Path, names: Sequence[str] | None = None) -> list[BenchSet]:
    """Every set folder under ``data`` (or only ``names``), sorted by name."""
    data = Path(data)
    if not data.is_dir():
        raise BadInputError(data, "benchmark folder does not exist")
    folders = sorted(path for path in data.iterdir() if (path / "images").is_dir())
    if names:
        known = {path.name: path for path in folders}
        missing = sorted(set(names) - set(known))
        if missing:
            raise BadInputError(data, f"has no set named {', '.join(missing)} (sets: "
                                f"{', '.join(known) or 'none'})")
        folders = [known[name] for name in names]
    if not folders:
        raise BadInputError(data, "holds no benchmark sets (folders with images/ and truth/)")
    return [load_set(folder) for folder in folders]


def _meta_diameter(path: Path) -> tuple[float, str]:
    """The particle diameter and its unit (``angstrom`` or ``px``) from ``meta.json``."""
    try:
        meta = json.loads(path.read_text())
        unit = "angstrom" if "particle_diameter_angstrom" in meta else "px"
        diameter = float(meta[f"particle_diameter_{unit}"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadInputError(path, "needs a readable particle_diameter_angstrom or "
                            f"particle_diameter_px ({error})") from error
    if diameter <= 0:
        raise BadInputError(path, f"particle_diameter_{unit} must be positive, got {diameter}")
    return diameter, unit


def header_pixel_size(mrcs: Sequence[Path]) -> float:
    """The one pixel size (Å) in the headers of ``mrcs``, as the picker reads it
    (:func:`~cryostream.io.read_header`); a set mixing sizes is refused."""
    sizes = {read_header(path).pixel_size_angstrom or 0.0 for path in mrcs}
    if len(sizes) != 1 or min(sizes) <= 0:
        raise BadInputError(mrcs[0].parent, f"needs one positive pixel size in every MRC header, "
                            f"found {', '.join(f'{size:g}' for size in sorted(sizes))} Å")
    return sizes.pop()


def micrograph_shape(path: Path) -> tuple[int, int]:
    """(rows, cols) of an MRC from its header."""
    return read_header(path).shape


def picker_mrcs(bench_set: BenchSet, out_dir: Path) -> list[Path]:
    """The float32 MRCs to pick: the set's own MRCs, or its images converted under ``out_dir``
    with a 1.0 Å/px header."""
    if not bench_set.needs_conversion:
        return list(bench_set.images)
    written = []
    for image in bench_set.images:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_micrograph(image, CONVERTED_PIXEL_SIZE_ANGSTROM).data
        written.append(write_mrc(data, out_dir / f"{image.stem}.mrc",
                                 CONVERTED_PIXEL_SIZE_ANGSTROM))
    return written


def write_meta(folder: Path, **meta: object) -> Path:
    """A set's ``meta.json``."""
    return write_atomically(folder / "meta.json", json.dumps(meta, indent=2) + "\n")


def write_synthetic_set(folder: str | Path, n_micrographs: int = 2,
                        shape: tuple[int, int] = (512, 512), diameter_px: float = 32.0,
                        seed: int = 0) -> BenchSet:
    """A small labelled set in the bench layout, from :mod:`cryostream.bench.synthetic` (for tests
    and trying the commands): 8-bit PNGs with dark particles, truth STARs and ``meta.json``."""
    folder = Path(folder)
    for index in range(n_micrographs):
        micrograph = synthetic_micrograph(shape, int(shape[0] * shape[1] / 8000), diameter_px,
                                          CONVERTED_PIXEL_SIZE_ANGSTROM, seed=seed + index)
        image = folder / "images" / f"synthetic_{index:03d}.png"
        write_atomically(image, cv2.imencode(".png", to_uint8(micrograph.image, 0.5, 99.5))[1]
                         .tobytes())
        write_coordinates(np.column_stack([micrograph.x, micrograph.y]),
                          folder / "truth" / f"{image.stem}.star")
    write_meta(folder, particle_diameter_px=diameter_px, source="cryostream.bench.synthetic")
    return load_set(folder)
