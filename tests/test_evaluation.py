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


@pytest.mark.parametrize(("diameter_angstrom", "pixel_size", "matched"), [
    (None, None, 0),  # the recorded 10 px: radius 5 px
    (20.0, None, 1),  # 20 Å at the recorded 1 Å/px: radius 10 px
    (20.0, 2.0, 0),  # 20 Å at 2 Å/px: radius 5 px
])
def test_radius_comes_from_the_recorded_diameter_or_the_diameter_in_angstrom(
        tmp_path: Path, diameter_angstrom: float | None, pixel_size: float | None,
        matched: int) -> None:
    picks = _write(tmp_path / "m_autopick.star", [(0, 0)], diameter_px=10)  # at 1.0 Å/px
    truth = _write(tmp_path / "m.star", [(8, 0)], recorded=False)
    evaluation = evaluate_files(picks, truth, diameter_angstrom, pixel_size)
    assert evaluation.pooled("distance").true_positives == matched


@pytest.mark.parametrize(("diameter_angstrom", "message"), [
    (None, "records no particle diameter; pass --diameter in Å"),
    (20.0, "records no pixel size .* pass --pixel-size"),
])
def test_picks_without_a_header_need_the_diameter_and_pixel_size(
        tmp_path: Path, diameter_angstrom: float | None, message: str) -> None:
    bare = _write(tmp_path / "m_autopick.star", [(0, 0)], recorded=False)
    truth = _write(tmp_path / "m.star", [(8, 0)], recorded=False)
    with pytest.raises(BadInputError, match=f"m_autopick.star: {message}"):
        evaluate_files(bare, truth, diameter_angstrom)
    assert evaluate_files(bare, truth, 20.0, 1.0).pooled("distance").true_positives == 1


def test_a_truth_micrograph_without_picks_counts_as_missed(tmp_path: Path) -> None:
    _write(tmp_path / "picks" / "a_autopick.star", [(10, 10)])
    _write(tmp_path / "truth" / "a.star", [(10, 10)], recorded=False)
    _write(tmp_path / "truth" / "b.star", [(100, 100), (150, 150)], recorded=False)
    evaluation = evaluate_files(tmp_path / "picks", tmp_path / "truth")
    pooled = evaluation.pooled("distance")
    assert (pooled.true_positives, pooled.false_negatives, pooled.recall) == (1, 2, pytest.approx(1 / 3))
    assert evaluation.without_picks == ["b"] and evaluation.to_dict()["truth_without_picks"] == ["b"]


@pytest.mark.parametrize(("picks", "truth", "named", "message"), [
    ("picks", "nowhere", "nowhere", "no such file or folder"),
    ("nowhere", "truth", "nowhere", "no such file or folder"),
    ("picks", "truth/a.star", "picks", "is a folder and .*a.star a file"),
])
def test_paths_that_do_not_pair_are_named(tmp_path: Path, picks: str, truth: str, named: str,
                                         message: str) -> None:
    _write(tmp_path / "picks" / "a_autopick.star", [(10, 10)])
    _write(tmp_path / "truth" / "a.star", [(10, 10)], recorded=False)
    with pytest.raises(BadInputError, match=f"^{tmp_path / named}: {message}"):
        evaluate_files(tmp_path / picks, tmp_path / truth)
