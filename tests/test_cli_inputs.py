"""Issue 14's table, one test per row: every input checked once, up front, in the user's units,
and every message one line that names what is wrong. Run as a user runs the command line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    DIAMETER_ANGSTROM,
    invoke,
    run_cryostream,
    small_image,
    small_mrc,
    write_coordinates,
)

from cryostream.bench.synthetic import write_mrc
from cryostream.session.journal import Journal, journal_path
from cryostream.star import read_provenance

FAST = ["--workers", "1"]


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def warning_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("warning:")]


def nothing_picked(out: Path) -> bool:
    """No coordinate file, and no micrograph queued or recorded in the journal."""
    if any(out.rglob("*_autopick.star")):
        return False
    if not journal_path(out).is_file():
        return True
    with Journal(out, readonly=True) as journal:
        return not journal.entries()


@pytest.mark.parametrize(("value", "message"), [
    ("1e6", "--diameter 1,000,000 Å is 666,667 px at 1.5 Å/px"),
    ("nan", "--diameter: must be a finite number"),
    ("inf", "--diameter: must be a finite number"),
    ("-5", "--diameter: must be positive"),
])
def test_an_impossible_diameter_is_one_line_before_any_picking(tmp_path: Path, value: str,
                                                              message: str) -> None:
    small_mrc(tmp_path / "in" / "a.mrc")
    result = invoke("pick", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", value)
    assert result.exit_code == 2
    assert error_lines(result.output) == [result.output.strip()] and message in result.output
    assert nothing_picked(tmp_path / "o")
    corrected = invoke("pick", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", "60")
    assert corrected.exit_code == 0, corrected.output  # the refused diameter was never recorded


@pytest.mark.parametrize(("command", "value", "code", "message"), [
    ("pick", "5000", 2, "error: --diameter 5,000 Å is 3,333 px at 1.5 Å/px (from the header of "
     "{mic}): as wide as the micrograph (256 x 256 px) or wider"),
    ("pick", "5", 2, "error: --diameter 5 Å is 3.33 px at 1.5 Å/px (from the header of {mic}): "
     "too small to pick"),
    ("pick", "10", 0, "warning: --diameter 10 Å is 6.67 px at 1.5 Å/px (from the header of "
     "{mic}): under 8 px across"),
    ("watch", "5000", 2, "as wide as the micrograph (256 x 256 px)"),
])
def test_a_diameter_the_micrographs_cannot_show_is_said_before_picking(
        tmp_path: Path, command: str, value: str, code: int, message: str) -> None:
    mic = small_mrc(tmp_path / "in" / "a.mrc")
    extra = ["--once"] if command == "watch" else []
    result = invoke(command, str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", value,
                    *extra, *FAST)
    assert result.exit_code == code, result.output
    assert message.format(mic=mic) in result.output
    assert nothing_picked(tmp_path / "o") == (code == 2)


def test_a_folder_of_pngs_without_a_pixel_size_is_refused_once(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for index in range(3):
        cv2.imwrite(str(tmp_path / "in" / f"m{index}.png"), (small_image(index) * 10).astype(np.uint8))
    result = run_cryostream("pick", str(tmp_path / "in"), "--include", "*.png", "-o",
                            str(tmp_path / "o"), "--diameter", "60", *FAST)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'in' / 'm0.png'}: PNG, JPEG and TIFF files carry no pixel size; pass "
        "--pixel-size in Å/px (the diameter is in Å)"]
    assert nothing_picked(tmp_path / "o")


@pytest.mark.parametrize("command", ["pick", "watch"])
def test_a_header_saying_one_angstrom_per_pixel_is_said_once_per_session(tmp_path: Path,
                                                                         command: str) -> None:
    mics = [write_mrc(small_image(index), tmp_path / "in" / f"m{index}.mrc", 1.0)
            for index in range(2)]
    extra = ["--once"] if command == "watch" else []
    result = invoke(command, str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", "60",
                    *extra, *FAST)
    assert result.exit_code == 0, result.output
    assert warning_lines(result.output) == [
        f"warning: {mics[0]}: the MRC header says 1.0 Å/px, often a header nobody set, so the 60 "
        "Å diameter is taken as 60 px; pass --pixel-size in Å/px if that is wrong"]
    overridden = invoke(command, str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--diameter",
                        "60", "--pixel-size", "1.5", *extra, *FAST)
    assert overridden.exit_code == 0 and not warning_lines(overridden.output)


def test_a_stack_of_frames_is_averaged_with_a_one_line_notice(tmp_path: Path) -> None:
    mic = write_mrc(np.stack([small_image()] * 3), tmp_path / "in" / "stack.mrc", 1.5)
    result = invoke("pick", str(mic), "-o", str(tmp_path / "o"), "--diameter",
                    f"{DIAMETER_ANGSTROM:g}", *FAST)
    assert result.exit_code == 0, result.output
    assert warning_lines(result.output) == [
        f"warning: {mic}: a stack of 3 frames; stacked micrographs are averaged into one image "
        "without motion correction (motion-corrected sums pick better)"]
    assert len(list((tmp_path / "o").rglob("stack_autopick.star"))) == 1


@pytest.mark.parametrize("command", ["evaluate", "preview"])
def test_a_truth_star_with_a_word_for_a_number_names_file_row_and_column(tmp_path: Path,
                                                                        command: str) -> None:
    mic = small_mrc(tmp_path / "m.mrc")
    picks = write_coordinates(tmp_path / "m_autopick.star", [(50, 50)], 40.0)
    truth = tmp_path / "truth.star"
    truth.write_text("data_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10.0 20.0\n"
                     "12.0 abc\n")
    args = ([str(picks), str(truth)] if command == "evaluate"
            else [str(mic), str(picks), "--truth", str(truth), "-o", str(tmp_path / "o.png")])
    result = invoke(command, *args)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {truth}: row 2, column rlnCoordinateY: 'abc' is "
                                     "not a finite number")


def test_evaluate_against_a_missing_path_says_no_such_file(tmp_path: Path) -> None:
    picks = write_coordinates(tmp_path / "m_autopick.star", [(50, 50)], 40.0)
    result = invoke("evaluate", str(picks), str(tmp_path / "nonexistent"))
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'nonexistent'}: no such file or folder"


@pytest.mark.parametrize(("options", "matched", "diameter"), [
    ([], 0, "40 Å = 40 px at 1 Å/px"),  # recorded in the picks' header (1.0 Å/px)
    (["--diameter", "60"], 1, "60 Å = 60 px at 1 Å/px"),  # Å, at the recorded pixel size
    (["--diameter", "60", "--pixel-size", "2"], 0, "60 Å = 30 px at 2 Å/px"),
])
def test_evaluate_diameter_is_in_angstrom(tmp_path: Path, options: list[str], matched: int,
                                          diameter: str) -> None:
    picks = write_coordinates(tmp_path / "m_autopick.star", [(0, 0)], 40.0)
    truth = write_coordinates(tmp_path / "m.star", [(25, 0)])
    result = invoke("evaluate", str(picks), str(truth), "--json", *options)
    assert result.exit_code == 0, result.output
    assert f'"true_positives": {matched}' in result.output
    table = invoke("evaluate", str(picks), str(truth), *options)
    assert f"diameter: {diameter}\n" in table.output


def test_a_truth_micrograph_without_picks_counts_as_missed_and_is_named(tmp_path: Path) -> None:
    write_coordinates(tmp_path / "picks" / "a_autopick.star", [(10, 10)], 40.0)
    for name in ("a", "b", "c"):
        write_coordinates(tmp_path / "truth" / f"{name}.star", [(10, 10)])
    result = invoke("evaluate", str(tmp_path / "picks"), str(tmp_path / "truth"), "--json")
    assert result.exit_code == 0, result.output
    assert warning_lines(result.output) == [
        f"warning: 2 truth micrographs have no picks file in {tmp_path / 'picks'}, counted as all "
        "missed: b, c"]
    assert '"recall": 0.3333333333333333' in result.output


@pytest.mark.parametrize(("toml", "message"), [
    ('adaptive_threshold = "false"', "adaptive_threshold: must be true or false, got 'false'"),
    ('[[pipeline]]\nfilter = "flatten"\nsigma_diameter = 2.0',
     "pipeline[0].sigma_diameter: filter flatten takes"),
    ("low_percentile = 90.0\nhigh_percentile = 10.0", "low_percentile: must be below high"),
    ("working_diameter_px = -5", "working_diameter_px: must be at least 0, got -5"),
])
def test_a_bad_toml_is_one_line_at_load_naming_the_key(tmp_path: Path, toml: str,
                                                       message: str) -> None:
    small_mrc(tmp_path / "in" / "a.mrc")
    (tmp_path / "c.toml").write_text(f"diameter_angstrom = 60.0\n{toml}\n")
    result = invoke("pick", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--config",
                    str(tmp_path / "c.toml"))
    assert result.exit_code == 2
    assert error_lines(result.output) == [result.output.strip()]
    assert str(tmp_path / "c.toml") in result.output and message in result.output
    assert nothing_picked(tmp_path / "o")


def test_a_tuned_configuration_leaves_the_pixel_size_to_the_data(tmp_path: Path) -> None:
    data = tmp_path / "labelled"
    small_mrc(data / "images" / "m.mrc")  # 1.5 Å/px
    write_coordinates(data / "truth" / "m.star", [(100, 100)])
    tuned = run_cryostream("tune", "--data", str(data), "--diameter", "60", "--trials", "0", "-o",
                           str(tmp_path / "tuned.toml"), *FAST)
    assert tuned.returncode == 0, tuned.stderr
    assert "pixel_size" not in (tmp_path / "tuned.toml").read_text()
    other = write_mrc(small_image(), tmp_path / "in" / "m.mrc", 2.5)
    picked = invoke("pick", str(other), "-o", str(tmp_path / "o"), "--config",
                    str(tmp_path / "tuned.toml"), *FAST)
    assert picked.exit_code == 0, picked.output
    star = next((tmp_path / "o").rglob("m_autopick.star"))
    assert read_provenance(star)["pixel_size_angstrom"] == "2.5"  # the header's, not a TOML's


@pytest.mark.parametrize("suffix", ["", "a/b"])
def test_a_suffix_that_is_no_plain_word_is_refused(tmp_path: Path, suffix: str) -> None:
    small_mrc(tmp_path / "in" / "a.mrc")
    result = invoke("pick", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", "60",
                    "--suffix", suffix)
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: --suffix must be a plain word such as autopick, got "
                                     f"{suffix!r}")
    assert nothing_picked(tmp_path / "o")


def test_watch_given_a_file_asks_for_the_folder(tmp_path: Path) -> None:
    mic = small_mrc(tmp_path / "a.mrc")
    result = invoke("watch", str(mic), "-o", str(tmp_path / "o"), "--diameter", "60")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {mic}: is a file; give the acquisition folder"


def test_watch_refusing_a_config_change_names_each_parameter(tmp_path: Path) -> None:
    small_mrc(tmp_path / "in" / "a.mrc")
    first = invoke("watch", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", "60",
                   "--once", *FAST)
    assert first.exit_code == 0, first.output
    second = invoke("watch", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", "61",
                    "--threshold", "3", "--once", *FAST)
    assert second.exit_code == 2
    assert error_lines(second.output) == [
        f"error: {tmp_path / 'o'}: was picked with other parameters (diameter_angstrom: 60.0 -> "
        "61.0; min_figure_of_merit: 4.0 -> 3.0); rerun with --on-config-change keep (keep those "
        "picks, use the new parameters for new micrographs) or redo (pick every micrograph "
        "again with the new parameters)"]


# -- the words a person reads -----------------------------------------------------------------
COMMANDS = ("demo", "pick", "evaluate", "preview", "watch", "status", "report", "config", "bench",
            "tune", "bench-throughput", "bench-latency")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_arguments_and_types_plainly(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.output.splitlines()[0].split(f" {command} ")[1].startswith("[OPTIONS]")
    for typer_spelling in ("{", "<list[", " range>"):
        assert typer_spelling not in result.output, f"{command}: {typer_spelling}"


@pytest.mark.parametrize(("command", "usage"), [
    ("pick", "[OPTIONS] INPUTS..."), ("evaluate", "[OPTIONS] PICKS TRUTH"),
    ("preview", "[OPTIONS] MICROGRAPH [PICKS]"), ("watch", "[OPTIONS] ACQUISITION_DIR"),
])
def test_usage_lines_read_as_in_any_command_line_tool(command: str, usage: str) -> None:
    assert invoke(command, "--help").output.splitlines()[0].split(f" {command} ")[1] == usage


@pytest.mark.parametrize(("command", "option", "replaced"), [
    ("evaluate", "--cell-px", "--cell"), ("evaluate", "--radius-diameters", "--radius"),
    ("preview", "--low-pass-diameters", "--low-pass"), ("preview", "--max-side-px", "--max-side"),
])
def test_option_names_carry_their_units(command: str, option: str, replaced: str) -> None:
    options = {word.rstrip(",") for word in invoke(command, "--help").output.split()
               if word.startswith("--")}
    assert option in options and replaced not in options


def test_the_pick_summary_counts_in_words(tmp_path: Path) -> None:
    small_mrc(tmp_path / "in" / "a.mrc")
    args = ["pick", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--diameter", "60", *FAST]
    first = invoke(*args)
    assert first.exit_code == 0 and "1 micrograph picked, " in first.output
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "0 micrographs picked, 0 particles, 1 already picked (skipped)" in again.output
    assert "s per micrograph" not in again.output  # no "0.000 s" when nothing was picked


def test_preview_says_and_captions_the_diameter_in_angstrom(tmp_path: Path) -> None:
    mic = small_mrc(tmp_path / "m.mrc")
    result = invoke("preview", str(mic), "--diameter", "60", "-o", str(tmp_path / "o.png"))
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("(m.mrc · particle diameter 60 Å = 40 px at 1.5 Å/px)")
    without = cv2.imread(str(tmp_path / "o.png"))
    assert without.shape[0] > 256 + 2 * 9  # the image, the legend bar and the caption bar


def test_demo_replaces_a_stale_folder_and_needs_a_micrograph(tmp_path: Path) -> None:
    stale = small_mrc(tmp_path / "demo" / "acquisition" / "stale.mrc")
    result = run_cryostream("demo", str(tmp_path / "demo"), "--micrographs", "1")
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and "1 micrograph picked" in result.stderr
    none = invoke("demo", str(tmp_path / "demo"), "--micrographs", "0")
    assert none.exit_code == 2 and "--micrographs" in none.output
