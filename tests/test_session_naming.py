"""Output naming: the mirrored tree, the one journal key, suffixes, and collisions refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cryostream.session.errors import UsageError
from cryostream.session.naming import (
    check_suffix,
    check_unique,
    common_root,
    micrograph_key,
    mirrored_path,
)


def test_mirrored_path_keeps_the_folders_below_the_root(tmp_path: Path) -> None:
    root = tmp_path / "in"
    target = mirrored_path(root / "Grid1" / "Data" / "FoilHole_1.mrc", root, tmp_path / "out")
    assert target == tmp_path / "out" / "Grid1" / "Data" / "FoilHole_1_autopick.star"
    assert mirrored_path(root / "m.mrc", root, tmp_path / "out", "lo", ".box") == \
        tmp_path / "out" / "m_lo.box"


@pytest.mark.parametrize("micrograph", ["../../mic.mrc", "../elsewhere/mic.mrc"])
def test_a_micrograph_outside_the_root_is_refused(tmp_path: Path, micrograph: str) -> None:
    with pytest.raises(UsageError, match="not below the input folder"):
        mirrored_path(tmp_path / "in" / micrograph, tmp_path / "in", tmp_path / "out")


def test_an_output_escaping_through_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "sub")
    with pytest.raises(UsageError, match="would fall outside"):
        mirrored_path(tmp_path / "in" / "sub" / "m.mrc", tmp_path / "in", tmp_path / "out")


def test_common_root_is_the_deepest_shared_folder(tmp_path: Path) -> None:
    assert common_root([tmp_path / "coll" / "a", tmp_path / "coll" / "b" / "c"]) == tmp_path / "coll"
    assert common_root([tmp_path / "one"]) == tmp_path / "one"


def test_the_key_resolves_the_folder_and_keeps_the_name(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "m.mrc").write_bytes(b"x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink("m.mrc", tmp_path / "real" / "alias.mrc")
    assert micrograph_key(tmp_path / "link" / ".." / "link" / "m.mrc") == \
        str((tmp_path / "real" / "m.mrc").resolve())
    assert micrograph_key(tmp_path / "link" / "alias.mrc") == \
        str((tmp_path / "real").resolve() / "alias.mrc")


@pytest.mark.parametrize("outputs", [
    {"a/x.mrc": Path("o/x_autopick.star"), "a/x.MRC": Path("o/x_autopick.star")},
    {"a/X.mrc": Path("o/X_autopick.star"), "a/x.png": Path("o/x_autopick.star")},
])
def test_two_micrographs_with_one_output_are_refused(outputs: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="two micrographs would write one coordinate file"):
        check_unique(outputs)


def test_distinct_outputs_pass() -> None:
    check_unique({"a/x.mrc": Path("o/a/x_autopick.star"), "b/x.mrc": Path("o/b/x_autopick.star")})


@pytest.mark.parametrize("suffix", ["", "a/b", ".hidden", "back\\slash"])
def test_bad_suffixes_are_refused(suffix: str) -> None:
    with pytest.raises(UsageError, match="--suffix"):
        check_suffix(suffix)
