from pathlib import Path

import pytest
from conftest import write_coordinates

from cryostream.evaluation import evaluate_files, pair_files
from cryostream.io import BadInputError


def _write(path: Path, xy: list[tuple[float, float]], diameter_px: float = 20.0,
           recorded: bool = True) -> Path:
    return write_coordinates(path, xy, diameter_px if recorded else None)


def test_files_pair_by_micrograph_name_and_pool(tmp_path: Path) -> None:
    _write(tmp_path / "picks" / "a_autopick.star", [(10, 10), (50, 50)])
    _write(tmp_path / "picks" / "b_autopick.star", [(100, 100)])
    _write(tmp_path / "truth" / "a.star", [(12, 10)], recorded=False)
    _write(tmp_path / "truth" / "b.star", [(100, 100), (150, 150)], recorded=False)
    assert [name for name, *_ in pair_files(tmp_path / "picks", tmp_path / "truth")] == ["a", "b"]
    evaluation = evaluate_files(tmp_path / "picks", tmp_path / "truth")
    pooled = evaluation.pooled("distance")
    assert (pooled.true_positives, pooled.false_positives, pooled.false_negatives) == (2, 1, 1)
    assert evaluation.to_dict()["pooled"]["distance"]["f1"] == pytest.approx(2 / 3)


def test_radius_comes_from_the_recorded_diameter_or_the_option(tmp_path: Path) -> None:
    picks = _write(tmp_path / "m_autopick.star", [(0, 0)], diameter_px=10)
    truth = _write(tmp_path / "m.star", [(8, 0)], recorded=False)
    assert evaluate_files(picks, truth).pooled("distance").true_positives == 0
    assert evaluate_files(picks, truth, diameter_px=20).pooled("distance").true_positives == 1
    with pytest.raises(BadInputError, match="--diameter"):
        evaluate_files(truth, picks)
