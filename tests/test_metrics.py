import numpy as np
import pytest

from cryostream.metrics import Counts, match_distance, score_distance, score_grid


def test_hungarian_matching_is_one_to_one_within_radius() -> None:
    picks = np.array([[0, 0], [1, 0], [50, 50]])
    truth = np.array([[0.5, 0], [100, 100]])
    assert len(match_distance(picks, truth, 5)) == 1
    counts = score_distance(picks, truth, 5)
    assert (counts.true_positives, counts.false_positives, counts.false_negatives) == (1, 2, 1)


def test_matching_prefers_the_assignment_that_matches_most() -> None:
    picks = np.array([[0, 0], [6, 0]])
    truth = np.array([[3, 0], [9, 0]])
    assert len(match_distance(picks, truth, 3.5)) == 2


def test_metrics_values() -> None:
    counts = Counts(8, 2, 2)
    assert counts.precision == 0.8 and counts.recall == 0.8
    assert counts.f1 == pytest.approx(0.8)
    assert counts.f2 == pytest.approx(0.8)
    assert counts.jaccard == pytest.approx(8 / 12) == counts.accuracy
    assert Counts(0, 0, 0).f1 == 0.0


def test_grid_paradigm_counts_cells() -> None:
    picks = np.array([[10, 10], [150, 10]])
    truth = np.array([[20, 20], [250, 250]])
    counts = score_grid(picks, truth, cell_px=100, shape=(300, 300))
    assert (counts.true_positives, counts.false_positives, counts.false_negatives,
            counts.true_negatives) == (1, 1, 1, 6)
    assert counts.accuracy == pytest.approx(7 / 9)


def test_pooling_adds_counts() -> None:
    total = Counts(1, 2, 3, 4) + Counts(1, 1, 1, 1)
    assert total == Counts(2, 3, 4, 5)
