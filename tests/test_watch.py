"""The watcher daemon, run as a real `cryostream watch` process on real files.

Micrographs are written the way acquisition software does (slowly in chunks, or to a .tmp name and
renamed into place); the daemon is killed with SIGKILL at random moments and restarted, fed bad
input, flooded with a burst, and stopped with SIGTERM/SIGINT. Synthetic micrographs: 40 px
particles at 1.5 Å/px (60 Å).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    WATCH_FAST,
    Daemon,
    journal_entries,
    mrc_bytes,
    run_cryostream,
    small_mrc,
    statuses,
    wait_for,
    write_slowly,
    write_via_rename,
)

from cryostream.bench.synthetic import synthetic_micrograph, write_acquisition, write_mrc
from cryostream.bench.throughput import process_memory_mib
from cryostream.picker import Picks
from cryostream.session.folder import LOCK_NAME, remove_stale_temporaries
from cryostream.session.journal import FileState, journal_path
from cryostream.session.naming import mirrored_path
from cryostream.session.outputs import COMBINED_STAR, picks_from_star
from cryostream.session.selection import Selection
from cryostream.star import read_coordinates, read_provenance, write_atomically, write_star
from cryostream.watch.discovery import Discovery, probe


def assert_exactly_once(acquisition: Path, out: Path, micrographs: list[Path]) -> None:
    """Every micrograph has exactly one readable STAR made from it, the journal says done with
    that STAR, nothing else (no half-written temporary) is left in the output folder, and the
    combined STAR holds every micrograph's picks."""
    stars = sorted(out.rglob("*_autopick.star"))
    expected = sorted(mirrored_path(path, acquisition, out) for path in micrographs)
    assert stars == expected
    assert not [path for path in out.rglob("*.tmp")]
    entries = journal_entries(out)
    assert set(entries) == {str(path) for path in micrographs}
    for path in micrographs:
        entry, star = entries[str(path)], mirrored_path(path, acquisition, out)
        assert (entry.status, entry.output) == ("done", str(star))
        assert len(read_coordinates(star)) == entry.picks
        assert read_provenance(star)["micrograph"] == str(path)
    with sqlite3.connect(journal_path(out)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    combined = read_coordinates(out / COMBINED_STAR)
    assert set(combined["rlnMicrographName"]) == {str(path) for path in micrographs
                                                  if entries[str(path)].picks}


# -- in-process pieces -------------------------------------------------------------------------
def test_probe_tells_missing_folders_and_symlink_loops(tmp_path: Path) -> None:
    regular = tmp_path / "a.mrc"
    regular.write_bytes(b"12345")
    assert probe(regular) == (FileState.of(regular), None)
    assert probe(tmp_path / "missing.mrc") == (None, None)
    (tmp_path / "folder.mrc").mkdir()
    assert "directory" in probe(tmp_path / "folder.mrc")[1]
    os.symlink("loop.mrc", tmp_path / "loop.mrc")
    assert probe(tmp_path / "loop.mrc")[1] == "is a symbolic link loop"


@pytest.mark.parametrize("same_time_stamp", [False, True])
def test_waiting_micrographs_are_picked_in_acquisition_order(tmp_path: Path,
                                                             same_time_stamp: bool) -> None:
    """Oldest modification time first, then by path, in whatever order they were found."""
    mics = [small_mrc(tmp_path / "in" / f"m{index}.mrc", index) for index in range(6)]
    for age, path in enumerate(mics):
        stamp = 1_700_000_000 if same_time_stamp else 1_700_000_000 - 60 * age
        os.utime(path, (stamp, stamp))
    expected = mics if same_time_stamp else mics[::-1]
    discovery = Discovery(tmp_path / "in", tmp_path / "o", Selection(), quiet_seconds=0.0,
                          is_wanted=lambda path, state: True, on_bad=lambda path, reason: None)
    for path in reversed(expected):
        discovery.observe(str(path))
    assert [candidate.path for candidate in discovery.ready()] == expected


def test_picks_read_back_from_a_star_and_stale_temporaries_go(tmp_path: Path) -> None:
    micrograph = synthetic_micrograph((256, 256), n_particles=4, seed=3)
    picks = Picks(x=micrograph.x, y=micrograph.y, figure_of_merit=np.arange(len(micrograph.x)) + 1.0,
                  diameter_px=40.0, pixel_size_angstrom=1.5, micrograph_shape=(256, 256),
                  micrograph=tmp_path / "m.mrc")
    star = write_star(picks, tmp_path / "sub" / "m_autopick.star", ["diameter_px: 40"])
    again = picks_from_star(star, str(tmp_path / "m.mrc"))
    assert np.allclose(again.x, picks.x, atol=0.01) and np.allclose(again.figure_of_merit,
                                                                    picks.figure_of_merit)
    assert again.diameter_px == 40.0 and again.micrograph == tmp_path / "m.mrc"
    (tmp_path / "sub" / ".m_autopick.star.abc123.tmp").write_text("half")
    write_atomically(tmp_path / "keep.txt", "whole")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["keep.txt", "m_autopick.star",
                                                                 "sub"]


# -- the daemon as a process --------------------------------------------------------------------
def test_once_mirrors_the_tree_restarts_skip_and_new_parameters_need_a_choice(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    write_acquisition(acquisition, 4, shape=(256, 256), diameter_px=40.0)
    micrographs = sorted(acquisition.glob("GridSquare_*/Data/*.mrc"))

    def run(log: str, *options: str) -> Daemon:
        daemon = Daemon(acquisition, out, tmp_path / log, "--once", *WATCH_FAST, *options)
        daemons.append(daemon)
        daemon.process.wait(timeout=180)
        return daemon

    first = run("first.log", "--report-every", "3")
    assert first.process.returncode == 0
    assert len(first.events("done")) == 4
    assert_exactly_once(acquisition, out, micrographs)
    report = (out / "report.html").read_text()
    assert "cryostream session report" in report and "FoilHole_1003_Data" in report
    again = run("again.log")
    assert again.process.returncode == 0 and again.events("done") == []
    assert first.events("stop")[0]["picked_this_run"] == 4
    assert again.events("stop")[0]["message"].startswith(
        "stopped: 0 picked and 0 failed in this run; 4 done and 0 failed in all")
    changed = run("changed.log", "--diameter", "90")
    assert changed.process.returncode == 2
    assert "--on-config-change keep" in changed.stderr.read_text()
    assert "diameter_angstrom: 60.0 -> 90.0" in changed.stderr.read_text()
    redone = run("redone.log", "--diameter", "90", "--on-config-change", "redo")
    assert redone.process.returncode == 0 and len(redone.events("done")) == 4
    assert_exactly_once(acquisition, out, micrographs)
    status = run_cryostream("status", str(out))
    assert status.returncode == 0 and "4 done, 0 failed, 0 queued" in status.stdout


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_bad_input_is_recorded_once_and_the_daemon_keeps_going(tmp_path: Path,
                                                                daemons: list[Daemon]) -> None:
    acquisition, out, elsewhere = tmp_path / "acquisition", tmp_path / "picks", tmp_path / "elsewhere"
    for folder in (acquisition / "escape", acquisition / "blocked", acquisition / "sub", elsewhere,
                   out):
        folder.mkdir(parents=True)
    os.symlink(elsewhere, out / "escape")  # outputs of acquisition/escape would land outside OUT
    (out / "blocked").write_text("a file where an output folder must go")  # unwritable outputs
    os.symlink("..", acquisition / "sub" / "back")  # a folder loop: must not be followed
    good = mrc_bytes(tmp_path, 1)
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", *WATCH_FAST)
    daemons.append(daemon)
    daemon.wait_started()

    done = [write_via_rename(good, acquisition / "good_renamed.mrc"),
            write_slowly(good, acquisition / "good_slow.mrc"),
            write_slowly(mrc_bytes(tmp_path, 2, (3, 256, 256)), acquisition / "stack.mrc")]
    failed = {
        write_slowly(good[: len(good) // 2], acquisition / "truncated.mrc"): "still being written",
        write_via_rename(b"", acquisition / "empty.mrc"): "empty file",
        write_slowly(os.urandom(5000), acquisition / "garbage.mrc"): "not a readable MRC",
        write_mrc(np.full((128, 128), np.nan, np.float32), acquisition / "nan.mrc", 1.5): "NaN",
        write_slowly(good, acquisition / "escape" / "outside.mrc"): "outside",
        write_slowly(good, acquisition / "blocked" / "unwritable.mrc"): "could not write outputs",
    }
    (acquisition / "folder.mrc").mkdir()
    failed[acquisition / "folder.mrc"] = "directory"
    os.symlink("loop.mrc", acquisition / "loop.mrc")
    failed[acquisition / "loop.mrc"] = "symbolic link loop"
    with open(acquisition / "deleted.mrc", "wb") as stream:  # seen, then gone before it is read
        stream.write(good[:2048])
        stream.flush()
        time.sleep(0.5)
        os.unlink(acquisition / "deleted.mrc")
    failed[acquisition / "deleted.mrc"] = ""
    for ignored in ("mic_PS.mrc", "gain_ref.mrc", ".hidden.mrc", "movie_Fractions.mrc"):
        (acquisition / ignored).write_bytes(good)

    expected = {str(path): "done" for path in done} | {str(path): "failed" for path in failed}
    wait_for(lambda: statuses(out) == expected, 90, "every file to be recorded", daemon)
    assert daemon.process.poll() is None
    entries = journal_entries(out)
    for path, reason in failed.items():
        assert reason in entries[str(path)].error and entries[str(path)].error.startswith(str(path))
    assert Counter(event["micrograph"] for event in daemon.events("failed")) == \
        {str(path): 1 for path in failed}
    assert not list(elsewhere.iterdir())

    status = run_cryostream("status", str(out), "--json")
    assert json.loads(status.stdout)["running"] is True
    assert json.loads(status.stdout)["session"]["kind"] == "watch"
    second = run_cryostream("watch", str(acquisition), "-o", str(out), "--diameter", "60", "--once")
    assert second.returncode == 2 and "another cryostream session (watch" in second.stderr
    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.events("stop")
    assert (out / LOCK_NAME).exists() and statuses(out) == expected

    (out / "blocked").unlink()  # the operator frees the output folder and restarts
    retry = Daemon(acquisition, out, tmp_path / "retry.log", "--once", "--retry-failed", *WATCH_FAST)
    daemons.append(retry)
    assert retry.process.wait(timeout=180) == 1  # the bad files still fail
    assert statuses(out)[str(acquisition / "blocked" / "unwritable.mrc")] == "done"
    assert mirrored_path(acquisition / "blocked" / "unwritable.mrc", acquisition, out).is_file()


def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path: Path,
                                                              daemons: list[Daemon]) -> None:
    seed = int(os.environ.get("CRYOSTREAM_FAULT_SEED", time.time()))
    rng = random.Random(seed)
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    acquisition.mkdir()
    sources = [mrc_bytes(tmp_path, index, (512, 512)) for index in range(4)]  # ~0.5 s to pick
    micrographs = [acquisition / "Images-Disc1" / f"GridSquare_{index // 6}" / "Data" /
                   f"FoilHole_{index:03d}_Data.mrc" for index in range(24)]

    def microscope() -> None:
        for index, path in enumerate(micrographs):
            writer = write_via_rename if index % 3 == 0 else write_slowly
            writer(sources[index % 4], path)
            time.sleep(rng.uniform(0.0, 0.6))

    writing = threading.Thread(target=microscope)
    writing.start()
    done_at_kill = []
    for round_index in range(4):
        polling = ["--polling", "--poll-seconds", "0.3"] if round_index % 2 else []
        daemon = Daemon(acquisition, out, tmp_path / f"run{round_index}.log", *WATCH_FAST, *polling)
        daemons.append(daemon)
        daemon.wait_started()
        busy_by = time.monotonic() + 30  # kill while it is picking and writing, when it is
        while not daemon.events("done") and time.monotonic() < busy_by:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=30)
        daemon.kill_group()
        done_at_kill.append(Counter(statuses(out).values()))  # 'queued' ones were in flight
    assert done_at_kill[-1]["done"] > 0, f"nothing was done before the kills (seed {seed})"
    writing.join()
    final = Daemon(acquisition, out, tmp_path / "final.log", *WATCH_FAST)
    daemons.append(final)
    final.wait_started()
    wait_for(lambda: sum(status == "done" for status in statuses(out).values()) == len(micrographs),
             120, f"all micrographs (seed {seed}, done at each kill {done_at_kill})", final)
    assert final.stop(signal.SIGTERM) == 0
    assert_exactly_once(acquisition, out, micrographs)


def test_a_burst_of_1000_micrographs_is_processed_with_bounded_memory(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, staging = tmp_path / "acquisition", tmp_path / "staging"
    out, data = tmp_path / "picks", acquisition / "GridSquare_1" / "Data"
    data.mkdir(parents=True)
    staging.mkdir()
    sources = [mrc_bytes(tmp_path, index, (128, 128)) for index in range(5)]
    names = [f"FoilHole_{index:04d}_Data.mrc" for index in range(1000)]
    for index, name in enumerate(names):
        (staging / name).write_bytes(sources[index % 5])
    daemon = Daemon(acquisition, out, tmp_path / "burst.log", *WATCH_FAST)
    daemons.append(daemon)
    daemon.wait_started()
    for name in names:
        os.replace(staging / name, data / name)
    wait_for(lambda: sum(status == "done" for status in statuses(out).values()) == len(names), 240,
             "the burst to be processed", daemon)
    peak_mib = process_memory_mib(daemon.process.pid)
    assert daemon.stop(signal.SIGINT) == 0
    assert peak_mib < 600, f"daemon peak resident memory {peak_mib:.0f} MiB"
    assert len(list(out.rglob("*_autopick.star"))) == len(names)
    assert len(set(read_coordinates(out / COMBINED_STAR)["rlnMicrographName"])) == \
        sum(entry.picks > 0 for entry in journal_entries(out).values())
