from pathlib import Path

import pytest

from cryostream.config import PickerConfig, dump_config, load_config, preset
from cryostream.io import BadInputError


def test_toml_round_trip(tmp_path: Path) -> None:
    config = preset("seed", diameter_angstrom=120.0, pixel_size_angstrom=1.1)
    path = tmp_path / "c.toml"
    path.write_text("preset = \"seed\"\n" + dump_config(config))
    assert load_config(path) == config
    assert load_config(path).digest() == config.digest()


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


@pytest.mark.parametrize(("text", "message"), [
    ("diameter_angstrom = \"big\"", "diameter"),
    ("colour = 3", "unknown configuration keys: colour"),
    ("pipeline = [{filter = \"blur\"}]", "unknown filter"),
    ("this is not toml", "TOML"),
])
def test_bad_configuration_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadInputError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
