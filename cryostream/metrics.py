"""Scoring picks against ground truth under the seed report's two label-mapping paradigms.

distance: picks and truth centres are matched one-to-one (Hungarian assignment) within a radius
    (default 0.5 x particle diameter); unmatched picks are false positives, unmatched truth misses.
    There are no true negatives, so accuracy is TP / (TP + FP + FN), which equals Jaccard.
grid: the micrograph is cut into square cells (default 100 px); a cell is positive when it holds a
    centre; cells are then compared as a binary classification, with true negatives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """Confusion counts; ``true_negatives`` is None where the paradigm has none."""

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int | None = None

    def __add__(self, other: Counts) -> Counts:
        negatives = (None if self.true_negatives is None or other.true_negatives is None
                     else self.true_negatives + other.true_negatives)
        return Counts(self.true_positives + other.true_positives,
                      self.false_positives + other.false_positives,
                      self.false_negatives + other.false_negatives, negatives)

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_negatives)

    def f_beta(self, beta: float) -> float:
        p, r = self.precision, self.recall
        return _ratio((1 + beta**2) * p * r, beta**2 * p + r)

    @property
    def f1(self) -> float:
        return self.f_beta(1.0)

    @property
    def f2(self) -> float:
        return self.f_beta(2.0)

    @property
    def jaccard(self) -> float:
        return _ratio(self.true_positives,
                      self.true_positives + self.false_positives + self.false_negatives)

    @property
    def accuracy(self) -> float:
        if self.true_negatives is None:
            return self.jaccard
        total = (self.true_positives + self.false_positives + self.false_negatives
                 + self.true_negatives)
        return _ratio(self.true_positives + self.true_negatives, total)

    def summary(self) -> dict[str, float | int | None]:
        """Counts and the six metrics, as plain data."""
        return {**asdict(self), "accuracy": self.accuracy, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "f2": self.f2, "jaccard": self.jaccard}


def match_distance(picks: np.ndarray, truth: np.ndarray, radius: float) -> np.ndarray:
    """One-to-one Hungarian matching of (N, 2) picks to (M, 2) truth within ``radius``.

    Returns the matched index pairs as an array of shape (K, 2): (pick index, truth index).
    """
    # SciPy takes 1-2 s to import; every CLI command imports this module, few of them match
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial import cKDTree

    picks, truth = _points(picks), _points(truth)
    if len(picks) == 0 or len(truth) == 0:
        return np.empty((0, 2), int)
    distances = cKDTree(picks).sparse_distance_matrix(cKDTree(truth), radius,
                                                      output_type="coo_matrix")
    if distances.nnz == 0:
        return np.empty((0, 2), int)
    too_far = radius * 10.0 + 1.0
    cost = np.full((len(picks), len(truth)), too_far)
    cost[distances.row, distances.col] = distances.data
    rows, cols = linear_sum_assignment(cost)
    matched = cost[rows, cols] <= radius
    return np.column_stack([rows[matched], cols[matched]])


def score_distance(picks: np.ndarray, truth: np.ndarray, radius: float) -> Counts:
    """Distance-paradigm counts for one micrograph."""
    matched = len(match_distance(picks, truth, radius))
    return Counts(matched, len(_points(picks)) - matched, len(_points(truth)) - matched)


def score_grid(picks: np.ndarray, truth: np.ndarray, cell_px: float = 100.0,
               shape: tuple[int, int] | None = None) -> Counts:
    """Grid-paradigm counts for one micrograph; ``shape`` is (rows, cols) of the micrograph (when
    unknown, the extent of the points is used)."""
    picks, truth = _points(picks), _points(truth)
    if shape is None:
        extent = np.vstack([picks, truth, [[0.0, 0.0]]]).max(axis=0) + 1
        shape = (int(extent[1]), int(extent[0]))
    cells = (int(np.ceil(shape[0] / cell_px)), int(np.ceil(shape[1] / cell_px)))
    picked, labelled = _occupied(picks, cells, cell_px), _occupied(truth, cells, cell_px)
    return Counts(int((picked & labelled).sum()), int((picked & ~labelled).sum()),
                  int((~picked & labelled).sum()), int((~picked & ~labelled).sum()))


def _occupied(points: np.ndarray, cells: tuple[int, int], cell_px: float) -> np.ndarray:
    grid = np.zeros(cells, bool)
    if len(points):
        rows = np.clip((points[:, 1] // cell_px).astype(int), 0, cells[0] - 1)
        cols = np.clip((points[:, 0] // cell_px).astype(int), 0, cells[1] - 1)
        grid[rows, cols] = True
    return grid


def _points(points: np.ndarray) -> np.ndarray:
    """(x, y) points as a float (N, 2) array, also when empty."""
    return np.asarray(points, dtype=float).reshape(-1, 2)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0
