"""``cryostream pick`` as a user runs it: one session behind it, like every front door.

Each test is something a new user saw go wrong before the session layer: colliding names, EPU
overviews picked, silent re-runs with other parameters, a second session in one folder, output
folders that are files, read-only or full, and Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import starfile
from conftest import (
    DIAMETER_ANGSTROM,
    fill,
    invoke,
    remount,
    run_cryostream,
    small_mrc,
)

from cryostream.session.journal import Journal
from cryostream.star import read_coordinates, read_provenance

FAST = ["--diameter", f"{DIAMETER_ANGSTROM:g}", "--workers", "1"]


def epu_session(root: Path) -> dict[str, list[Path]]:
    """An EPU-like session: exposures, and everything else EPU and a camera leave beside them."""
    square = root / "Images-Disc1" / "GridSquare_1"
    exposures = [small_mrc(square / "Data" / f"FoilHole_1_Data_{index}.mrc", index)
                 for index in range(2)]
    others = [small_mrc(square / "GridSquare_1.mrc", 5), small_mrc(square / "FoilHoles" /
                                                                   "FoilHole_1.mrc", 6),
              small_mrc(root / "Atlas" / "Atlas_1.mrc", 7),
              small_mrc(square / "Data" / "FoilHole_1_Data_0_Fractions.mrc", 8),
              small_mrc(root / "K3_Gain_Ref.mrc", 9)]
    for exposure in exposures:
        exposure.with_suffix(".xml").write_text("<xml/>")
        exposure.with_suffix(".jpg").write_bytes(b"\xff\xd8 not really")
    return {"exposures": exposures, "others": others}


def names_in_particles_star(out: Path) -> set[str]:
    return set(read_coordinates(out / "particles.star")["rlnMicrographName"])


def test_two_folders_holding_one_file_name_keep_both(tmp_path: Path) -> None:
    first, second = (small_mrc(tmp_path / "coll" / name / "mic.mrc", seed)
                     for seed, name in enumerate("ab"))
    out = tmp_path / "o"
    result = invoke("pick", str(first.parent), str(second.parent), "-o", str(out), *FAST)
    assert result.exit_code == 0, result.output
    stars = sorted(path.relative_to(out) for path in out.rglob("*_autopick.star"))
    assert stars == [Path("a/mic_autopick.star"), Path("b/mic_autopick.star")]
    assert names_in_particles_star(out) == {str(first), str(second)}
    assert len(read_coordinates(out / "particles.star")) == sum(
        len(read_coordinates(out / star)) for star in stars)


def test_an_epu_session_picks_exposures_only_and_dry_run_says_why(tmp_path: Path) -> None:
    session = epu_session(tmp_path / "session")
    dry = invoke("pick", str(tmp_path / "session"), "--dry-run", "-o", str(tmp_path / "o"), *FAST)
    assert dry.exit_code == 0, dry.output
    assert [line.split()[1] for line in dry.output.splitlines() if line.startswith("pick ")] == \
        [str(path) for path in session["exposures"]]
    for reason in ("EPU grid-square overview", "EPU foil-hole overview", "atlas", "movie (frames)",
                   "gain reference", "does not match --include *.mrc"):
        assert reason in dry.output
    assert not (tmp_path / "o").exists()

    result = invoke("pick", str(tmp_path / "session"), "-o", str(tmp_path / "o"), *FAST)
    assert result.exit_code == 0, result.output
    assert names_in_particles_star(tmp_path / "o") <= {str(p) for p in session["exposures"]}
    with Journal(tmp_path / "o", readonly=True) as journal:
        assert {entry.name for entry in journal.entries()} == {str(p) for p in session["exposures"]}

    only = invoke("pick", str(tmp_path / "session"), "--dry-run", "--exclude", "*_Data_1.mrc",
                  "--include", "*.mrc", *FAST)
    assert "pick  " + str(session["exposures"][0]) in only.output
    assert "excluded by *_Data_1.mrc" in only.output


def test_two_inputs_with_one_output_are_refused_before_anything_is_picked(tmp_path: Path) -> None:
    small_mrc(tmp_path / "in" / "x.mrc", 1)
    small_mrc(tmp_path / "in" / "x.MRC", 2)
    result = invoke("pick", str(tmp_path / "in" / "x.mrc"), str(tmp_path / "in" / "x.MRC"),
                    "-o", str(tmp_path / "o"), *FAST)
    assert result.exit_code == 2
    assert "two micrographs would write one coordinate file" in result.output
    assert not (tmp_path / "o").exists()


def test_other_parameters_are_refused_naming_each_change_then_kept_or_redone(
        tmp_path: Path) -> None:
    small_mrc(tmp_path / "in" / "a.mrc", 1)
    out = tmp_path / "o"
    assert invoke("pick", str(tmp_path / "in"), "-o", str(out), "--diameter", "61",
                  "--workers", "1").exit_code == 0
    star = out / "a_autopick.star"
    first = read_provenance(star)["config_digest"]

    again = invoke("pick", str(tmp_path / "in"), "-o", str(out), "--diameter", "61",
                   "--workers", "1")
    assert again.exit_code == 0 and "1 already picked (skipped)" in again.output

    changed = invoke("pick", str(tmp_path / "in"), "-o", str(out), "--diameter", "80",
                     "--threshold", "5", "--workers", "1")
    assert changed.exit_code == 2
    assert "diameter_angstrom: 61.0 -> 80.0" in changed.output
    assert "min_figure_of_merit: 4.0 -> 5.0" in changed.output
    assert read_provenance(star)["config_digest"] == first

    small_mrc(tmp_path / "in" / "b.mrc", 2)
    kept = invoke("pick", str(tmp_path / "in"), "-o", str(out), "--diameter", "80",
                  "--workers", "1", "--on-config-change", "keep")
    assert kept.exit_code == 0, kept.output
    assert read_provenance(star)["config_digest"] == first
    assert read_provenance(out / "b_autopick.star")["config_digest"] != first

    redone = invoke("pick", str(tmp_path / "in"), "-o", str(out), "--diameter", "61",
                    "--workers", "1", "--on-config-change", "redo")
    assert redone.exit_code == 0 and "1 micrograph picked" in redone.output
    assert read_provenance(out / "b_autopick.star")["config_digest"] == first


def test_micrograph_names_are_absolute_whatever_the_working_folder(tmp_path: Path) -> None:
    small_mrc(tmp_path / "in" / "a.mrc", 1)
    result = run_cryostream("pick", "in", "-o", "o", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert names_in_particles_star(tmp_path / "o") == {str(tmp_path / "in" / "a.mrc")}


@pytest.mark.parametrize("command", [
    ["pick", "{mic}", *FAST, "-o"],
    ["preview", "{mic}", "--diameter", "60", "-o"],
    ["config", "--diameter", "60", "--write"],
])
def test_an_output_that_is_a_file_or_a_folder_is_one_line(tmp_path: Path,
                                                          command: list[str]) -> None:
    mic = small_mrc(tmp_path / "in" / "a.mrc")
    wrong = tmp_path / "taken"
    if command[0] == "pick":
        wrong.write_text("a file where the output folder should be")
    else:
        wrong.mkdir()
    result = invoke(*[part.format(mic=mic) for part in command], str(wrong))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and str(wrong) in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [
    ["pick", "{mic}", *FAST, "-o", "{disk}/o"],
    ["preview", "{mic}", "--diameter", "60", "-o", "{disk}/overlay.png"],
    ["config", "--diameter", "60", "--write", "{disk}/c.toml"],
    ["tune", "--data", "{labelled}", "--diameter", "60", "--trials", "30", "-o", "{disk}/t.toml"],
])
def test_a_read_only_output_is_one_line_before_any_work(tmp_path: Path, small_disk: Path,
                                                        command: list[str]) -> None:
    from cryostream.bench.sets import write_synthetic_set

    mic = small_mrc(tmp_path / "in" / "a.mrc")
    labelled = write_synthetic_set(tmp_path / "labelled", 2, shape=(256, 256))
    remount(small_disk, "ro")
    started = time.monotonic()
    result = run_cryostream(*[part.format(mic=mic, disk=small_disk, labelled=labelled)
                              for part in command])
    assert result.returncode == 2, result.stderr
    assert "Read-only file system" in result.stderr and str(small_disk) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert time.monotonic() - started < 30  # tune refuses before tuning


def test_a_disk_full_before_the_session_starts_is_one_line(tmp_path: Path,
                                                          small_disk: Path) -> None:
    """The lock file is written first: on a full disk that write fails, in one line naming it
    (its buffered write used to fail again on closing, as a traceback)."""
    small_mrc(tmp_path / "in" / "m00.mrc", 0, (512, 512))
    out = small_disk / "o"
    out.mkdir()
    fill(small_disk)
    result = run_cryostream("pick", str(tmp_path / "in"), "-o", str(out), *FAST)
    assert result.returncode == 2, result.stderr
    assert "No space left on device" in result.stderr and str(out) in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_disk_filling_up_stops_cleanly_and_a_rerun_finishes(tmp_path: Path,
                                                              small_disk: Path) -> None:
    mics = [small_mrc(tmp_path / "in" / f"m{index:02d}.mrc", index, (512, 512))
            for index in range(12)]
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (2 * 1024 * 1024 - 400 * 1024))
    out = small_disk / "o"
    full = run_cryostream("pick", str(tmp_path / "in"), "-o", str(out), *FAST,
                          "--write-image", "png")
    assert full.returncode == 2, full.stderr
    assert "No space left on device" in full.stderr or "disk is full" in full.stderr
    assert "Traceback" not in full.stderr and len(full.stderr.strip().splitlines()) == 1
    with Journal(out, readonly=True) as journal:
        done = journal.entries("done")
        assert 0 < len(done) < len(mics)
        for entry in done:  # what the journal calls done is whole on disk
            assert len(read_coordinates(entry.output)) == entry.picks

    filler.unlink()
    rerun = run_cryostream("pick", str(tmp_path / "in"), "-o", str(out), *FAST,
                           "--write-image", "png")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done)} already picked" in rerun.stderr
    assert names_in_particles_star(out) == {str(path) for path in mics
                                            if len(read_coordinates(
                                                out / f"{path.stem}_autopick.star"))}


def test_a_second_session_in_a_folder_a_watch_writes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "acquisition").mkdir()
    small_mrc(tmp_path / "in" / "a.mrc")
    out = tmp_path / "o"
    log = (tmp_path / "watch.log").open("w")
    daemon = subprocess.Popen([sys.executable, "-m", "cryostream", "watch",
                               str(tmp_path / "acquisition"), "-o", str(out), *FAST, "--log-json"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while '"event": "start"' not in (tmp_path / "watch.log").read_text():
            assert time.monotonic() < deadline and daemon.poll() is None
            time.sleep(0.2)
        result = invoke("pick", str(tmp_path / "in"), "-o", str(out), *FAST)
        assert result.exit_code == 2
        assert f"another cryostream session (watch, pid {daemon.pid})" in result.output
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0


def test_ctrl_c_to_the_process_group_stops_between_micrographs(tmp_path: Path) -> None:
    mics = [small_mrc(tmp_path / "in" / f"m{index:02d}.mrc", index, (768, 768))
            for index in range(16)]
    out = tmp_path / "o"
    process = subprocess.Popen([sys.executable, "-m", "cryostream", "pick", str(tmp_path / "in"),
                                "-o", str(out), "--diameter", "60", "--workers", "2"],
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("*_autopick.star")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "stopped early (SIGINT)" in stderr and "Traceback" not in stderr
    with Journal(out, readonly=True) as journal:
        counts = journal.counts()
    assert counts["queued"] == 0 and 0 < counts["done"] < len(mics)
    assert len(starfile.read(out / "particles.star")) > 0
    rerun = run_cryostream("pick", str(tmp_path / "in"), "-o", str(out), *FAST)
    assert rerun.returncode == 0 and f"{counts['done']} already picked" in rerun.stderr
