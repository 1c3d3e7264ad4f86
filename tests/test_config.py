"""The configuration schema: every value checked where it is made (one line naming the key), TOML
round trips, presets, digests and the description of a change."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from cryostream.config import (
    SETTINGS,
    ConfigError,
    PickerConfig,
    check_pipeline,
    config_differences,
    dump_config,
    load_config,
    preset,
)
from cryostream.io import BadInputError


def test_toml_round_trip(tmp_path: Path) -> None:
    config = preset("seed", diameter_angstrom=120.0)
    path = tmp_path / "c.toml"
    path.write_text("preset = \"seed\"\n" + dump_config(config))
    assert load_config(path) == config
    assert load_config(path).digest() == config.digest()


def test_commented_dump_reads_back_and_says_each_unit(tmp_path: Path) -> None:
    config = preset("default", diameter_angstrom=61.0, min_figure_of_merit=2.5)
    text = dump_config(config, comments=True)
    (tmp_path / "c.toml").write_text(text)
    assert load_config(tmp_path / "c.toml") == config
    assert "# Particle diameter; converted to pixels with the micrograph's pixel size (Å)" in text
    assert text.index("pipeline") > text.index("adaptive_threshold")  # tables after plain keys


def test_digest_changes_with_parameters() -> None:
    assert preset("default", diameter_angstrom=100).digest() != \
        preset("default", diameter_angstrom=101).digest()


def test_seed_preset_is_the_published_default() -> None:
    seed = preset("seed")
    assert seed.pipeline[0] == {"filter": "range", "low": 69, "high": 74}
    assert seed.pipeline[1]["filter"] == "laplacian"
    assert seed.cluster_method == "kmeans" and seed.n_clusters == 100


def test_default_derives_every_length_from_the_diameter() -> None:
    for step in PickerConfig().pipeline:
        assert not any(key.endswith("_px") for key in step)


def test_every_setting_says_what_it_is_and_lengths_say_their_unit() -> None:
    for name, setting in SETTINGS.items():
        assert setting.help, name
        if name.endswith(("_angstrom", "_px", "_diameters", "_percentile")):
            assert setting.unit, name


@pytest.mark.parametrize(("overrides", "key", "message"), [
    ({"diameter_angstrom": math.nan}, "diameter_angstrom", "finite"),
    ({"diameter_angstrom": math.inf}, "diameter_angstrom", "finite"),
    ({"diameter_angstrom": -5.0}, "diameter_angstrom", "positive"),
    ({"diameter_angstrom": "big"}, "diameter_angstrom", "a number"),
    ({"working_diameter_px": -5}, "working_diameter_px", "at least 0"),
    ({"low_percentile": 99.0}, "low_percentile", "below high_percentile"),
    ({"high_percentile": 120.0}, "high_percentile", "at most 100"),
    ({"adaptive_threshold": "false"}, "adaptive_threshold", "true or false"),
    ({"n_clusters": 0}, "n_clusters", "positive"),
    ({"n_clusters": "many"}, "n_clusters", "whole number or 'auto'"),
    ({"cluster_method": "magic"}, "cluster_method", "'kmeans'"),
    ({"min_figure_of_merit": "high"}, "min_figure_of_merit", "a number"),
    ({"crowded_diameter_fraction": 1.5}, "crowded_diameter_fraction", "at most 1"),
    ({"min_checked_diameter_angstrom": 0.0}, "min_checked_diameter_angstrom", "positive"),
    ({"min_checked_diameter_angstrom": 90.0, "max_checked_diameter_angstrom": 80.0},
     "min_checked_diameter_angstrom", "not be above max_checked_diameter_angstrom"),
])
def test_bad_values_name_the_key(overrides: dict, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        preset("default", **overrides)
    assert caught.value.key == key


@pytest.mark.parametrize(("steps", "key", "message"), [
    ([{"filter": "sharpen"}], "pipeline[0].filter", "unknown filter 'sharpen'"),
    ([{"threshold": 3}], "pipeline[0].filter", "unknown filter None"),
    ("flatten", "pipeline", "list of filter steps"),
    (["flatten"], "pipeline[0]", "must be a table"),
    ([{"filter": "flatten", "sigma_diameter": 2.0}], "pipeline[0].sigma_diameter",
     r"takes sigma_px \(or sigma_diameters\)"),
    ([{"filter": "flatten", "sigma_diameters": -2.0}], "pipeline[0].sigma_diameters", "positive"),
    ([{"filter": "more_than"}], "pipeline[0]", "needs threshold"),
    ([{"filter": "gaussian", "sigma_px": "wide"}], "pipeline[0].sigma_px", "a number"),
    ([{"filter": "radial_template", "radius_diameters": 0.4, "template_radius_diameters": 1.2,
       "max_seeds": 2.5}], "pipeline[0].max_seeds", "a whole number"),
    ([{"filter": "laplacian", "kernel": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]}],
     "pipeline[0].kernel", "sum to 0"),
    ([{"pipeline": [{"filter": "gaussian", "sigma_px": math.nan}]}],
     "pipeline[0].pipeline[0].sigma_px", "finite"),
])
def test_filter_steps_are_checked_when_a_configuration_is_made(steps: object, key: str,
                                                               message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        check_pipeline(steps)
    assert caught.value.key == key


def test_a_valid_nested_pipeline_passes() -> None:
    check_pipeline([{"pipeline": [{"filter": "gaussian", "sigma_diameters": 0.1}]},
                    {"filter": "clean_components", "max_diameter_px": math.inf},
                    {"filter": "more_than", "threshold": 0.0}])


@pytest.mark.parametrize(("text", "message"), [
    ("diameter_angstrom = \"big\"", "diameter_angstrom: must be a number"),
    ("colour = 3", "colour: unknown parameter"),
    ("pipeline = [{filter = \"blur\"}]", r"pipeline\[0\].filter: unknown filter 'blur'"),
    ("this is not toml", "TOML"),
    ("pixel_size_angstrom = 1.0", "the pixel size belongs to the data"),
    ("low_percentile = 60.0\nhigh_percentile = 40.0", "low_percentile: must be below"),
])
def test_bad_configuration_names_the_file_and_the_key(tmp_path: Path, text: str,
                                                      message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadInputError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_differences_name_each_changed_parameter_with_old_and_new_values() -> None:
    old = preset("default", diameter_angstrom=61.0)
    steps = [dict(step) for step in old.pipeline]
    steps[3]["seed_snr"] = 4.0
    new = replace(preset("default", diameter_angstrom=80.0, pipeline=steps),
                  min_figure_of_merit=None)
    assert config_differences(old, new) == ["diameter_angstrom: 61.0 -> 80.0",
                                            "pipeline[3].seed_snr: 3.0 -> 4.0",
                                            "min_figure_of_merit: 4.0 -> unset"]
    assert config_differences(old, old) == []
