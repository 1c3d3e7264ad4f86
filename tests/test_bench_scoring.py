"""Scoring on a bench set: whole micrograph and interior, and the lattice baseline."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from cryostream.bench.scoring import inside, lattice_picks, pooled, score_micrograph


def test_lattice_is_hexagonal_at_the_spacing_and_keeps_off_the_borders() -> None:
    shape, spacing = (600, 800), 40.0
    xy = lattice_picks(shape, spacing)
    distances, _ = cKDTree(xy).query(xy, k=7)
    assert np.allclose(distances[:, 1], spacing)
    interior = inside(xy, shape, 3 * spacing)  # away from the edges every pick has six neighbours
    assert np.allclose(distances[interior, 1:], spacing)
    assert inside(xy, shape, spacing / 2).all()
    cell_area = spacing**2 * np.sqrt(3) / 2
    assert len(xy) == pytest.approx((shape[0] - spacing) * (shape[1] - spacing) / cell_area,
                                    rel=0.1)


def test_interior_drops_truth_and_picks_near_a_border() -> None:
    truth = np.array([[5.0, 50.0], [50.0, 50.0], [95.0, 95.0]])
    picks = np.array([[50.0, 52.0], [97.0, 50.0], [20.0, 20.0]])
    scores = score_micrograph(picks, truth, (100, 100), diameter_px=20.0)
    whole, interior = scores["all"], scores["interior"]
    assert (whole.true_positives, whole.false_positives, whole.false_negatives) == (1, 2, 2)
    # interior: truth at x = 5 and (95, 95), and the pick at x = 97, lie within 10 px of a border
    assert (interior.true_positives, interior.false_positives, interior.false_negatives) == (1, 1, 0)


def test_matches_count_within_half_the_true_diameter_and_pool_per_scope() -> None:
    truth = np.array([[50.0, 50.0]])
    near = score_micrograph(np.array([[59.0, 50.0]]), truth, (100, 100), 20.0)
    far = score_micrograph(np.array([[61.0, 50.0]]), truth, (100, 100), 20.0)
    assert near["all"].true_positives == 1 and far["all"].true_positives == 0
    total = pooled({"a": near, "b": far})
    assert total["all"].true_positives == 1 and total["all"].false_negatives == 1
    assert total["interior"].false_positives == 1
