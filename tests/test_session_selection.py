"""Which files are exposures: one set of rules for pick, watch and --dry-run, each skip with its
reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cryostream.session.errors import UsageError
from cryostream.session.selection import Selection, select_inputs


@pytest.mark.parametrize("name", ["FoilHole_1_Data_2_3.mrc",
                                  "Images-Disc1/GridSquare_5/Data/FoilHole_7_Data.MRC",
                                  "session/mic_0001.mrc"])
def test_exposures_are_taken(name: str) -> None:
    assert Selection().skip_reason(name) is None


@pytest.mark.parametrize(("name", "reason"), [
    ("FoilHole_1_Data_PS.mrc", "power spectrum"),
    ("FoilHole_1_ctf.mrc", "CTF fit"),
    ("K3_Gain_Ref.mrc", "gain reference"),
    ("CountRef_x.mrc", "gain reference"),
    ("FoilHole_1_Fractions.mrc", "movie (frames)"),
    ("GridSquare_5/GridSquare_1.mrc", "grid-square overview"),
    ("GridSquare_5/FoilHoles/FoilHole_1.mrc", "foil-hole overview"),
    ("Atlas_1.mrc", "atlas overview"),
    ("Atlas/Tile_3.mrc", "atlas tile"),
    ("mic.mrc.tmp", "temporary name"),
    ("mic.mrc~", "temporary name"),
    (".mic.mrc", "hidden"),
    (".hidden/mic.mrc", "hidden"),
    ("mic.tif", "does not match --include *.mrc"),
])
def test_everything_else_is_skipped_with_its_reason(name: str, reason: str) -> None:
    assert reason in Selection().skip_reason(name)


def test_options_replace_the_include_and_add_to_the_excludes() -> None:
    custom = Selection.from_options(["*/motioncorr/*.mrc"], ["*_bad.mrc"])
    assert custom.matches("job003/motioncorr/a.mrc") and not custom.matches("raw/a.mrc")
    assert "excluded by *_bad.mrc" in custom.skip_reason("job003/motioncorr/a_bad.mrc")
    assert "gain reference" in custom.skip_reason("job003/motioncorr/gain.mrc")
    bare = Selection.from_options(None, None, default_excludes=False)
    assert bare.matches("GridSquare_1.mrc")


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_folders_files_and_globs_expand_below_their_common_root(tmp_path: Path) -> None:
    a, b = touch(tmp_path / "coll" / "a" / "mic.mrc"), touch(tmp_path / "coll" / "b" / "mic.mrc")
    png = touch(tmp_path / "coll" / "c" / "m.png")
    gain = touch(tmp_path / "coll" / "c" / "gain.mrc")
    selected = select_inputs([str(a.parent), str(tmp_path / "coll" / "b" / "*.mrc"), str(png),
                              str(gain)], Selection())
    assert selected.micrographs == [a, b, png]  # a file named explicitly need not match *.mrc
    assert selected.root == tmp_path / "coll"
    assert selected.skipped == [(gain, "excluded by *gain* (a gain reference)")]


def test_the_output_folder_and_linked_folders_are_not_entered(tmp_path: Path) -> None:
    touch(tmp_path / "in" / "m.mrc")
    touch(tmp_path / "in" / "picks" / "old.mrc")
    os.symlink(tmp_path / "in", tmp_path / "in" / "loop")
    selected = select_inputs([str(tmp_path / "in")], Selection(), tmp_path / "in" / "picks")
    assert selected.micrographs == [tmp_path / "in" / "m.mrc"]
    assert (tmp_path / "in" / "picks" / "old.mrc", "inside the output folder") in selected.skipped


def test_a_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nothing.mrc: no such file, folder or matching glob"):
        select_inputs([str(tmp_path / "nothing.mrc")], Selection())
