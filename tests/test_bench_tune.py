"""Tuning: the search space follows the configuration's pipeline, and ``cryostream tune`` writes a
configuration that ``load_config`` reads and that scores at least as well as the start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from cryostream.bench.sets import write_synthetic_set
from cryostream.bench.tune import evaluate_config, load_labelled, sample_configs, search_space, with_values
from cryostream.config import PickerConfig, load_config, preset

PIPELINE = [
    {"filter": "gaussian", "sigma_px": 2},
    {"pipeline": [{"filter": "more_than", "threshold": 0.0},
                  {"filter": "laplacian", "kernel": [[0, 1, 0], [1, -4, 1], [0, 1, 0]]}]},
    {"filter": "disc_contrast", "radius_diameters": 0.4, "noise_units": True},
]


def test_search_space_follows_the_pipeline() -> None:
    config = PickerConfig(pipeline=PIPELINE, min_figure_of_merit=2.0)
    space = {parameter.name: parameter for parameter in search_space(config)}
    assert set(space) == {"pipeline[0].sigma_px", "pipeline[1].pipeline[0].threshold",
                          "pipeline[2].radius_diameters", "diameter_angstrom", "working_diameter_px",
                          "low_percentile", "high_percentile", "min_distance_diameters",
                          "min_figure_of_merit"}
    assert space["pipeline[0].sigma_px"].integer
    assert (space["pipeline[0].sigma_px"].low, space["pipeline[0].sigma_px"].high) == (1.0, 3.0)
    assert (space["pipeline[1].pipeline[0].threshold"].low,
            space["pipeline[1].pipeline[0].threshold"].high) == (-0.5, 0.5)
    assert (space["high_percentile"].low, space["high_percentile"].high) == (97.0, 99.0)
    assert (space["min_figure_of_merit"].low, space["min_figure_of_merit"].high) == (1.0, 3.0)


def test_unset_figure_of_merit_is_searched_only_with_a_scale() -> None:
    config = PickerConfig(pipeline=PIPELINE, min_figure_of_merit=None, working_diameter_px=0.0)
    names = {parameter.name for parameter in search_space(config)}
    assert "min_figure_of_merit" not in names and "working_diameter_px" not in names
    scaled = {p.name: p for p in search_space(config, merit_scale=5.0)}
    assert (scaled["min_figure_of_merit"].low, scaled["min_figure_of_merit"].high) == (0.0, 5.0)


def test_samples_stay_in_range_and_valid() -> None:
    config = PickerConfig(pipeline=PIPELINE, min_figure_of_merit=2.0)
    parameters = search_space(config)
    samples = sample_configs(config, parameters, 20, np.random.default_rng(0))
    assert len(samples) == 20
    assert any(sample != config for sample in samples)
    for sample in samples:
        assert isinstance(sample.pipeline[0]["sigma_px"], int)
        assert 1 <= sample.pipeline[0]["sigma_px"] <= 3
        assert sample.pipeline[1]["pipeline"][1]["kernel"] == PIPELINE[1]["pipeline"][1]["kernel"]
        assert 97.0 <= sample.high_percentile <= 99.0
        assert 0.2 <= sample.pipeline[2]["radius_diameters"] <= 0.6
    assert config.pipeline == PIPELINE  # the start is never modified in place
    changed = with_values(config, {("pipeline", 2, "radius_diameters"): 0.3,
                                   ("low_percentile",): 1.5})
    assert changed.pipeline[2]["radius_diameters"] == 0.3 and changed.low_percentile == 1.5


def test_tune_command_writes_a_config_that_scores_at_least_as_well(tmp_path: Path) -> None:
    folder = write_synthetic_set(tmp_path / "labelled", n_micrographs=2, seed=5).folder
    out = tmp_path / "tuned.toml"
    run = subprocess.run([sys.executable, "-m", "cryostream", "tune", "--data", str(folder),
                          "--diameter", "32", "--pixel-size", "1", "--trials", "3", "--seed", "2",
                          "--workers", "1", "-o", str(out)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "F1" in run.stderr and str(out) in run.stderr.replace("\n", "")
    tuned = load_config(out)
    start = preset("default", diameter_angstrom=32.0)
    assert 16.0 <= tuned.diameter_angstrom <= 48.0
    assert "pixel_size" not in out.read_text()  # the pixel size belongs to the data
    images, truth = load_labelled(folder)
    tuned_f1 = evaluate_config(tuned, images, truth, match_diameter_angstrom=32.0,
                               pixel_size_angstrom=1.0).f1
    start_f1 = evaluate_config(start, images, truth, pixel_size_angstrom=1.0).f1
    assert tuned_f1 >= start_f1 > 0.5


def test_matches_are_counted_at_the_given_diameter_not_the_picking_one(tmp_path: Path) -> None:
    folder = write_synthetic_set(tmp_path / "labelled", n_micrographs=1, seed=5).folder
    images, truth = load_labelled(folder)
    config = preset("default", diameter_angstrom=32.0)
    assert evaluate_config(config, images, truth, pixel_size_angstrom=1.0).f1 > 0.5
    assert evaluate_config(config, images, truth, match_diameter_angstrom=0.1,
                           pixel_size_angstrom=1.0).f1 < 0.2


def test_tune_refuses_an_unlabelled_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    run = subprocess.run([sys.executable, "-m", "cryostream", "tune", "--data", str(tmp_path),
                          "--diameter", "32", "--pixel-size", "1", "-o", str(tmp_path / "t.toml")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode != 0
    assert "is not a labelled set" in run.stderr.replace("\n", " ")
    assert not (tmp_path / "t.toml").exists()


def test_seed_preset_space_keeps_percentiles_in_bounds() -> None:
    space = {parameter.name: parameter for parameter in search_space(preset("seed"))}
    assert (space["low_percentile"].low, space["low_percentile"].high) == (0.0, 0.5)
    assert (space["high_percentile"].low, space["high_percentile"].high) == (99.5, 100.0)
    assert space["pipeline[0].low"].integer and space["pipeline[0].high"].start == 74
    assert "working_diameter_px" not in space  # 0 switches binning off; not a size to scale
