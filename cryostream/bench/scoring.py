"""Scoring picks on a bench set: one-to-one matches within 0.5 x the true diameter, on the whole
micrograph and on its interior, and the chance level of a picker that never looks at the image.

Interior: truth centres and picks at least 0.5 x D from every border. The picker drops picks
there by design (a box centred there cannot be extracted whole), so where the labels include such
particles the interior column is the fair one.

Chance level: a hexagonal lattice of picks at spacing D (first pick at D/2 from the corner, none
within D/2 of a border, as the edge rule asks of any picker). On crowded micrographs it matches
many particles by chance; only the margin above it is picking.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..evaluation import coordinates_xy
from ..metrics import Counts, score_distance

MATCH_RADIUS_DIAMETERS = 0.5
INTERIOR_MARGIN_DIAMETERS = 0.5
SCOPES = ("all", "interior")

Scores = dict[str, Counts]  # scope -> counts


def inside(xy: np.ndarray, shape: tuple[int, int], margin_px: float) -> np.ndarray:
    """Which (N, 2) x, y points lie at least ``margin_px`` from every border of a (rows, cols)
    micrograph (pixel centres run from 0 to side - 1)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    high = np.array([shape[1] - 1, shape[0] - 1], dtype=float) - margin_px
    return np.all((xy >= margin_px) & (xy <= high), axis=1)


def score_micrograph(picks: np.ndarray, truth: np.ndarray, shape: tuple[int, int],
                     diameter_px: float) -> Scores:
    """Counts on the whole micrograph and on its interior, matching within 0.5 x ``diameter_px``
    (the true diameter, whatever the picker was told)."""
    picks = np.asarray(picks, dtype=float).reshape(-1, 2)
    truth = np.asarray(truth, dtype=float).reshape(-1, 2)
    radius = MATCH_RADIUS_DIAMETERS * diameter_px
    margin = INTERIOR_MARGIN_DIAMETERS * diameter_px
    return {"all": score_distance(picks, truth, radius),
            "interior": score_distance(picks[inside(picks, shape, margin)],
                                       truth[inside(truth, shape, margin)], radius)}


def score_files(picked: Sequence[np.ndarray], truth_files: Sequence[Path],
                shapes: Sequence[tuple[int, int]], diameter_px: float) -> dict[str, Scores]:
    """Scores per micrograph (named by the truth file's stem) for (N, 2) x, y picks."""
    return {truth.stem: score_micrograph(xy, coordinates_xy(truth), shape, diameter_px)
            for xy, truth, shape in zip(picked, truth_files, shapes, strict=True)}


def pooled(per_micrograph: dict[str, Scores]) -> Scores:
    """The sum of per-micrograph counts, per scope."""
    total = {scope: Counts(0, 0, 0) for scope in SCOPES}
    for scores in per_micrograph.values():
        total = {scope: total[scope] + scores[scope] for scope in SCOPES}
    return total


def lattice_picks(shape: tuple[int, int], spacing_px: float) -> np.ndarray:
    """A hexagonal lattice of (N, 2) x, y picks at ``spacing_px`` over a (rows, cols) micrograph:
    rows spacing x sqrt(3)/2 apart, every other row shifted by half a spacing, starting at half a
    spacing from the corner and keeping half a spacing from every border."""
    half = spacing_px / 2.0
    rows = np.arange(half, shape[0], spacing_px * np.sqrt(3.0) / 2.0)
    cols = np.arange(half, shape[1], spacing_px)
    x = cols[None, :] + half * (np.arange(len(rows)) % 2)[:, None]
    y = np.broadcast_to(rows[:, None], x.shape)
    xy = np.column_stack([x.ravel(), y.ravel()])
    return xy[inside(xy, shape, half)]
