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


@dataclass
class Evaluation:
    """Counts per micrograph and pooled, for each paradigm."""

    per_micrograph: dict[str, dict[str, Counts]] = field(default_factory=dict)
    paradigms: tuple[str, ...] = PARADIGMS

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
        }


def coordinates_xy(path: str | Path) -> np.ndarray:
    """(x, y) coordinates of a coordinate STAR file as an (N, 2) array."""
    table = read_coordinates(path)
    return table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(dtype=float)


def pair_files(picks: Path, truth: Path) -> list[tuple[str, Path, Path]]:
    """(micrograph name, picks file, truth file) triples.

    Two files pair up when the truth file's stem is the picks file's stem or its prefix before an
    underscore suffix (``mic_autopick.star`` pairs with ``mic.star``). Folders are searched
    recursively; a truth file with no picks file pairs with nothing and is reported by the caller.
    """
    if picks.is_file() and truth.is_file():
        return [(truth.stem, picks, truth)]
    if not (picks.is_dir() and truth.is_dir()):
        raise BadInputError(picks if not picks.exists() else truth,
                            "PICKS and TRUTH must both be STAR files or both be folders")
    pick_files = {path.stem: path for path in sorted(picks.rglob("*.star"))}
    pairs = []
    for truth_file in sorted(truth.rglob("*.star")):
        stem = truth_file.stem
        match = pick_files.get(stem) or next(
            (path for name, path in pick_files.items() if name.startswith(stem + "_")), None)
        if match is not None:
            pairs.append((stem, match, truth_file))
    return pairs


def evaluate_files(picks: str | Path, truth: str | Path, diameter_px: float | None = None,
                   cell_px: float = 100.0, radius_diameters: float = 0.5) -> Evaluation:
    """Score picks against truth. Without ``diameter_px`` the diameter recorded in each picks
    file's header (written by cryostream) sets the matching radius."""
    evaluation = Evaluation()
    pairs = pair_files(Path(picks), Path(truth))
    if not pairs:
        raise BadInputError(picks, f"no picks file matches a truth file in {truth}")
    for name, pick_file, truth_file in pairs:
        diameter = diameter_px or _recorded_diameter(pick_file)
        picked, labelled = coordinates_xy(pick_file), coordinates_xy(truth_file)
        evaluation.per_micrograph[name] = {
            "distance": score_distance(picked, labelled, radius_diameters * diameter),
            "grid": score_grid(picked, labelled, cell_px),
        }
    return evaluation


def _recorded_diameter(path: Path) -> float:
    value = read_provenance(path).get("diameter_px")
    if value is None:
        raise BadInputError(path, "records no particle diameter; pass --diameter in pixels")
    return float(value)
