from pathlib import Path

import numpy as np
import pytest
from conftest import bench_set

from cryostream.config import preset
from cryostream.io import BadInputError, Micrograph, read_micrograph
from cryostream.metrics import Counts, score_distance
from cryostream.picker import adaptive_merit_threshold, pick_micrograph, suppress_close
from cryostream.star import read_coordinates
from cryostream.synthetic import SyntheticMicrograph, synthetic_micrograph


def _micrograph(synthetic: SyntheticMicrograph, pixel_size: float | None = None) -> Micrograph:
    return Micrograph(synthetic.image, pixel_size, Path("synthetic.mrc"))


def test_default_preset_finds_synthetic_particles(synthetic: SyntheticMicrograph) -> None:
    config = preset("default", diameter_angstrom=synthetic.diameter_angstrom)
    picks = pick_micrograph(_micrograph(synthetic, synthetic.pixel_size_angstrom), config)
    counts = score_distance(np.column_stack([picks.x, picks.y]),
                            np.column_stack([synthetic.x, synthetic.y]), 20)
    assert counts.recall >= 0.9 and counts.precision >= 0.9
    assert picks.diameter_px == pytest.approx(40)
    assert len(picks.figure_of_merit) == len(picks)


def test_coordinates_are_in_the_original_pixel_frame(tmp_path: Path) -> None:
    synthetic = synthetic_micrograph((600, 900), n_particles=12, diameter_px=80, snr=1.0, seed=3)
    config = preset("default", diameter_angstrom=80 * 1.5, working_diameter_px=16)
    picks = pick_micrograph(_micrograph(synthetic, 1.5), config)
    counts = score_distance(np.column_stack([picks.x, picks.y]),
                            np.column_stack([synthetic.x, synthetic.y]), 8)
    assert counts.recall >= 0.9


def test_empty_micrograph_gives_few_picks() -> None:
    empty = synthetic_micrograph((1024, 1024), n_particles=0, diameter_px=40, seed=5)
    picks = pick_micrograph(_micrograph(empty, 1.5), preset("default", diameter_angstrom=60))
    assert len(picks) <= 10


def test_picks_respect_minimum_distance_and_edges(synthetic: SyntheticMicrograph) -> None:
    config = preset("default", diameter_angstrom=60, min_distance_diameters=1.5)
    picks = pick_micrograph(_micrograph(synthetic, 1.5), config)
    xy = np.column_stack([picks.x, picks.y])
    distances = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(distances, np.inf)
    assert distances.min() >= 1.5 * 40 - 2
    assert (xy >= 20 - 2).all() and (xy <= 768 - 20 + 2).all()


def test_seed_preset_runs_kmeans_with_100_clusters(synthetic: SyntheticMicrograph) -> None:
    config = preset("seed", diameter_angstrom=60, min_distance_diameters=0, edge_diameters=0)
    picks = pick_micrograph(_micrograph(synthetic, 1.5), config)
    assert 50 <= len(picks) <= 100


def test_missing_pixel_size_is_a_clear_error(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "m.png"), (np.random.default_rng(0).random((64, 64)) * 255)
                .astype(np.uint8))
    with pytest.raises(BadInputError, match="m.png.*--pixel-size"):
        pick_micrograph(read_micrograph(tmp_path / "m.png"), preset("default", diameter_angstrom=60))


def test_adaptive_threshold_separates_two_populations() -> None:
    rng = np.random.default_rng(0)
    merit = np.concatenate([rng.lognormal(0.0, 0.2, 200), rng.lognormal(1.5, 0.2, 100)])
    threshold = adaptive_merit_threshold(merit)
    assert np.exp(0.4) < threshold < np.exp(1.1)
    assert adaptive_merit_threshold(merit[:5]) == 0.0


def test_adaptive_threshold_keeps_a_single_population_whole() -> None:
    crowded = np.random.default_rng(1).lognormal(3.0, 0.06, 350)
    assert adaptive_merit_threshold(crowded) == 0.0


def test_adaptive_threshold_keeps_two_close_components_of_one_population() -> None:
    rng = np.random.default_rng(2)
    skewed = np.concatenate([rng.lognormal(np.log(40), 0.05, 120), rng.lognormal(np.log(48), 0.04, 230)])
    assert adaptive_merit_threshold(skewed) == 0.0


def test_suppress_close_keeps_the_best_of_each_group() -> None:
    points = np.array([[0, 0], [0, 3], [10, 10], [0, 8]], float)
    assert suppress_close(points, 5.0).tolist() == [0, 2, 3]


@pytest.mark.parametrize(("name", "diameter_px", "min_recall", "min_precision"),
                         [("apoferritin", 60.8, 0.8, 0.85), ("ribosome80s-10028", 56.0, 0.9, 0.65)])
def test_default_preset_on_real_micrographs_stays_above_a_generous_floor(
        name: str, diameter_px: float, min_recall: float, min_precision: float) -> None:
    folder = bench_set(name)
    config = preset("default", diameter_angstrom=diameter_px, pixel_size_angstrom=1.0)
    total = Counts(0, 0, 0)
    for image in sorted((folder / "images").glob("*.png"))[:4]:
        picks = pick_micrograph(read_micrograph(image), config)
        truth = read_coordinates(folder / "truth" / f"{image.stem}.star")
        total = total + score_distance(np.column_stack([picks.x, picks.y]),
                                       truth[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(),
                                       0.5 * diameter_px)
    assert total.recall >= min_recall and total.precision >= min_precision
