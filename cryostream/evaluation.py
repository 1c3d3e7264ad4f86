"""Scoring coordinate files against truth files: pairing by micrograph name, per-micrograph and
pooled figures under both paradigms."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import BadInputError
from .metrics import Counts, score_distance, score_grid
from .star import read_coordinates, read_provenance

PARADIGMS = ("distance", "grid")


@dataclass(frozen=True)
class Scale:
    """The particle diameter a micrograph was scored with: in pixels of the micrograph, and the
    pixel size (Å/px) when known."""

    diameter_px: float
    pixel_size_angstrom: float | None = None

    def describe(self) -> str:
        """``60 Å = 40 px at 1.5 Å/px``, or ``40 px`` without a pixel size."""
        if self.pixel_size_angstrom is None:
            return f"{self.diameter_px:.3g} px"
        return (f"{self.diameter_px * self.pixel_size_angstrom:.3g} Å = {self.diameter_px:.3g} px "
                f"at {self.pixel_size_angstrom:g} Å/px")


@dataclass
class Evaluation:
    """Counts per micrograph and pooled, for each paradigm; the diameter each picks file was
    scored with, and the truth micrographs that had no picks file (scored as all missed)."""

    per_micrograph: dict[str, dict[str, Counts]] = field(default_factory=dict)
    paradigms: tuple[str, ...] = PARADIGMS
    scales: dict[str, Scale] = field(default_factory=dict)
    without_picks: list[str] = field(default_factory=list)

    def pooled(self, paradigm: str) -> Counts:
        total = Counts(0, 0, 0, 0 if paradigm == "grid" else None)
        for counts in self.per_micrograph.values():
            total = total + counts[paradigm]
        return total

    def to_dict(self) -> dict:
        return {
            "pooled": {p: self.pooled(p).summary() for p in PARADIGMS},
            "micrographs": {name: {p: c.summary() for p, c in counts.items()}
                            for name, counts in self.per_micrograph.items()},
            "truth_without_picks": self.without_picks,
        }


def coordinates_xy(path: str | Path) -> np.ndarray:
    """(x, y) coordinates of a coordinate STAR file as an (N, 2) array."""
    table = read_coordinates(path)
    return table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(dtype=float)


def pair_files(picks: Path, truth: Path) -> list[tuple[str, Path | None, Path]]:
    """(micrograph name, picks file, truth file) triples; the picks file is None for a truth file
    that no picks file pairs with (every one of its particles was missed).

    Two files pair up when the truth file's stem is the picks file's stem or its prefix before an
    underscore suffix (``mic_autopick.star`` pairs with ``mic.star``). Folders are searched
    recursively.
    """
    for path in (picks, truth):
        if not path.exists():
            raise BadInputError(path, "no such file or folder")
    if picks.is_file() and truth.is_file():
        return [(truth.stem, picks, truth)]
    if not (picks.is_dir() and truth.is_dir()):
        raise BadInputError(picks, f"is a {'file' if picks.is_file() else 'folder'} and {truth} "
                            f"a {'file' if truth.is_file() else 'folder'}; give two STAR files "
                            "or two folders")
    pick_files = {path.stem: path for path in sorted(picks.rglob("*.star"))}
    pairs = []
    for truth_file in sorted(truth.rglob("*.star")):
        stem = truth_file.stem
        match = pick_files.get(stem) or next(
            (path for name, path in pick_files.items() if name.startswith(stem + "_")), None)
        pairs.append((stem, match, truth_file))
    return pairs


def evaluate_files(picks: str | Path, truth: str | Path, diameter_angstrom: float | None = None,
                   pixel_size_angstrom: float | None = None, cell_px: float = 100.0,
                   radius_diameters: float = 0.5) -> Evaluation:
    """Score picks against truth. The matching radius is ``radius_diameters`` x the particle
    diameter: ``diameter_angstrom`` at ``pixel_size_angstrom`` (or the pixel size recorded in each
    picks file's header), else the diameter in pixels recorded there (cryostream writes both).
    A truth file without a picks file counts every particle in it as missed."""
    evaluation = Evaluation()
    pairs = pair_files(Path(picks), Path(truth))
    if not any(pick_file for _, pick_file, _ in pairs):
        raise BadInputError(picks, f"no picks file matches a truth file in {truth}")
    for name, pick_file, truth_file in pairs:
        labelled = coordinates_xy(truth_file)
        if pick_file is None:
            evaluation.without_picks.append(name)
            picked, radius = np.empty((0, 2)), 0.0
        else:
            scale = picks_scale(pick_file, diameter_angstrom, pixel_size_angstrom)
            evaluation.scales[name] = scale
            picked, radius = coordinates_xy(pick_file), radius_diameters * scale.diameter_px
        evaluation.per_micrograph[name] = {
            "distance": score_distance(picked, labelled, radius),
            "grid": score_grid(picked, labelled, cell_px),
        }
    return evaluation


def picks_scale(path: str | Path, diameter_angstrom: float | None = None,
                pixel_size_angstrom: float | None = None) -> Scale:
    """The particle diameter of a picks file's micrograph: ``diameter_angstrom`` at
    ``pixel_size_angstrom`` (or the pixel size its header records), else the diameter in pixels
    its header records (cryostream records both)."""
    recorded = read_provenance(path)
    pixel_size = pixel_size_angstrom or _recorded(recorded, "pixel_size_angstrom")
    if diameter_angstrom is not None:
        if pixel_size is None:
            raise BadInputError(path, "records no pixel size to turn --diameter (Å) into pixels; "
                                "pass --pixel-size in Å/px")
        return Scale(diameter_angstrom / pixel_size, pixel_size)
    diameter_px = _recorded(recorded, "diameter_px")
    if diameter_px is None:
        raise BadInputError(path, "records no particle diameter; pass --diameter in Å (and "
                            "--pixel-size in Å/px)")
    return Scale(diameter_px, pixel_size)


def _recorded(values: dict[str, str], key: str) -> float | None:
    try:
        value = float(values[key])
    except (KeyError, ValueError):
        return None
    return value if value > 0 else None
