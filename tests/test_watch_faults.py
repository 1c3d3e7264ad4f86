"""What a facility throws at a live daemon, each fault caused for real on `cryostream watch`
processes: SIGKILL, signals at any moment, Ctrl-C to the process group, a disk that fills up,
a restart with redo, two files that want one output, replacements that keep size and time stamp,
pre-allocated files written slowly, dangling links, old files and changed suffixes."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest
from conftest import (
    WATCH_FAST,
    Daemon,
    fill,
    journal_entries,
    mrc_bytes,
    statuses,
    wait_for,
    write_slowly,
    write_via_rename,
)

from cryostream.session.naming import mirrored_path
from cryostream.session.outputs import COMBINED_STAR
from cryostream.star import read_coordinates, read_provenance

MRC_HEADER_BYTES = 1024


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [process for process in processes
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE]


def done_events(daemon: Daemon, path: Path) -> list[dict]:
    return [event for event in daemon.events("done") if event["micrograph"] == str(path)]


def test_sigkill_leaves_no_worker_behind_however_often_it_happens(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    source = mrc_bytes(tmp_path, 1, (512, 512))
    for round_index in range(3):
        write_via_rename(source, acquisition / f"m{round_index}.mrc")
        daemon = Daemon(acquisition, out, tmp_path / f"run{round_index}.log", *WATCH_FAST,
                        "--workers", "2")
        daemons.append(daemon)
        wait_for(lambda d=daemon: bool(d.events("done")), 120, "a pick", daemon)
        children = descendants(daemon.process.pid)
        assert children, "the daemon should have worker processes"
        os.kill(daemon.process.pid, signal.SIGKILL)  # the daemon alone, as the OOM killer does
        daemon.process.wait(timeout=30)
        wait_for(lambda c=children: not alive(c), 20,
                 f"the workers of a SIGKILLed daemon to die ({[p.pid for p in alive(children)]})")


@pytest.mark.parametrize("signals", [1, 2])
def test_a_signal_at_any_moment_stops_an_idle_daemon(tmp_path: Path, daemons: list[Daemon],
                                                     signals: int) -> None:
    """The old handler took the lock the main loop held: a race, so it is tried many times."""
    rng = random.Random(signals)
    (tmp_path / "acquisition").mkdir()
    for attempt in range(10):
        daemon = Daemon(tmp_path / "acquisition", tmp_path / "picks", tmp_path / f"{attempt}.log",
                        *WATCH_FAST)
        daemons.append(daemon)
        daemon.wait_started()
        time.sleep(rng.uniform(0.0, 0.3))
        for _ in range(signals):
            daemon.process.send_signal(signal.SIGTERM)
        assert daemon.process.wait(timeout=20) == 0, daemon.stderr.read_text()[-1500:]
        assert daemon.events("stop")


def test_ctrl_c_to_the_process_group_while_picking_stops_cleanly(tmp_path: Path,
                                                                 daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    source = mrc_bytes(tmp_path, 2, (768, 768))
    for index in range(10):
        (acquisition / f"m{index}.mrc").parent.mkdir(exist_ok=True)
        (acquisition / f"m{index}.mrc").write_bytes(source)
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", *WATCH_FAST, "--workers", "2")
    daemons.append(daemon)
    wait_for(lambda: bool(daemon.events("done")), 120, "a pick", daemon)
    os.killpg(daemon.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    assert daemon.process.wait(timeout=60) == 0
    stderr = daemon.stderr.read_text()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-1500:]
    assert daemon.events("stop")[0]["reason"] == "SIGINT"
    assert "queued" not in statuses(out).values()


def test_a_full_disk_pauses_the_daemon_and_it_resumes_by_itself(
        tmp_path: Path, small_disk: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", small_disk / "picks"
    acquisition.mkdir()
    source = mrc_bytes(tmp_path, 3)
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", *WATCH_FAST, "--workers", "1",
                    "--report-every", "0")
    daemons.append(daemon)
    daemon.wait_started()
    write_via_rename(source, acquisition / "before.mrc")
    wait_for(lambda: len(daemon.events("done")) == 1, 60, "the first pick", daemon)
    filler = fill(small_disk)
    late = [write_via_rename(source, acquisition / f"during_{index}.mrc") for index in range(2)]
    wait_for(lambda: bool(daemon.events("paused")), 60, "a paused event", daemon)
    time.sleep(3)
    assert daemon.process.poll() is None, "a full disk must not stop the daemon"
    filler.unlink()
    wait_for(lambda: bool(daemon.events("resumed")), 120, "a resumed event", daemon)
    wait_for(lambda: all(statuses(out).get(str(path)) == "done" for path in late), 60,
             "the micrographs that landed while the disk was full", daemon)
    assert daemon.stop() == 0
    assert "No space left on device" in daemon.events("paused")[0]["error"] or \
        "disk is full" in daemon.events("paused")[0]["error"]
    assert not daemon.events("failed")


def test_redo_never_empties_the_combined_star(tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    for index in range(4):
        (acquisition / f"m{index}.mrc").parent.mkdir(exist_ok=True)
        (acquisition / f"m{index}.mrc").write_bytes(mrc_bytes(tmp_path, index, (384, 384)))
    first = Daemon(acquisition, out, tmp_path / "first.log", "--once", *WATCH_FAST)
    daemons.append(first)
    assert first.process.wait(timeout=120) == 0
    rows = len(read_coordinates(out / COMBINED_STAR))
    assert rows > 0
    rng = random.Random(5)
    for attempt in range(4):  # killed at a random moment in the first seconds
        redo = Daemon(acquisition, out, tmp_path / f"redo{attempt}.log", *WATCH_FAST,
                      "--diameter", "70", "--on-config-change", "redo")
        daemons.append(redo)
        redo.wait_started()
        time.sleep(rng.uniform(0.5, 3.0))
        os.killpg(redo.process.pid, signal.SIGKILL)
        redo.process.wait(timeout=30)
        assert len(read_coordinates(out / COMBINED_STAR)) > 0


def test_two_files_that_want_one_output_never_share_it(tmp_path: Path,
                                                       daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", *WATCH_FAST)
    daemons.append(daemon)
    acquisition.mkdir()
    daemon.wait_started()
    lower = write_via_rename(mrc_bytes(tmp_path, 1), acquisition / "x.mrc")
    wait_for(lambda: bool(daemon.events("done")), 60, "x.mrc", daemon)
    upper = write_via_rename(mrc_bytes(tmp_path, 2), acquisition / "x.MRC")
    wait_for(lambda: bool(daemon.events("failed")), 60, "x.MRC to be refused", daemon)
    failed = daemon.events("failed")[0]
    assert failed["micrograph"] == str(upper) and f"already the output of {lower}" in \
        failed["error"]
    assert read_provenance(out / "x_autopick.star")["micrograph"] == str(lower)


@pytest.mark.parametrize("in_place", [False, True], ids=["renamed-into-place", "copied-over"])
def test_a_replacement_with_the_same_size_and_time_stamp_is_picked_again(
        tmp_path: Path, daemons: list[Daemon], in_place: bool) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    target = acquisition / "m.mrc"
    write_via_rename(mrc_bytes(tmp_path, 1), target)
    size, stamp = target.stat().st_size, target.stat().st_mtime
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", *WATCH_FAST)
    daemons.append(daemon)
    wait_for(lambda: len(done_events(daemon, target)) == 1, 60, "the first version", daemon)
    star = mirrored_path(target, acquisition, out)
    first = star.read_bytes()
    replacement = tmp_path / "replacement.mrc"
    replacement.write_bytes(mrc_bytes(tmp_path, 2))  # same shape: the same size
    os.utime(replacement, (stamp, stamp))
    if in_place:  # cp -p over the file: same inode, same size and mtime, new ctime
        shutil.copyfile(replacement, target)
        os.utime(target, (stamp, stamp))
    else:  # rsync -t: a temporary file renamed over it
        shutil.copy2(replacement, acquisition / ".m.mrc.part")
        os.replace(acquisition / ".m.mrc.part", target)
    assert (target.stat().st_size, target.stat().st_mtime) == (size, stamp)
    wait_for(lambda: len(done_events(daemon, target)) == 2, 60, "the second version", daemon)
    assert star.read_bytes() != first


def test_a_pre_allocated_file_written_slowly_is_picked_once_complete(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    acquisition.mkdir()
    data = mrc_bytes(tmp_path, 4, (512, 512))
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", *WATCH_FAST, "--incomplete-seconds",
                    "60")
    daemons.append(daemon)
    daemon.wait_started()
    target = acquisition / "slow.mrc"
    with open(target, "wb") as stream:  # header, then the full size reserved as zeros
        stream.write(data[:MRC_HEADER_BYTES])
        stream.truncate(len(data))
        stream.flush()
        time.sleep(4)  # longer than --quiet-seconds 1 and every retry back-off
        for start in range(MRC_HEADER_BYTES, len(data), len(data) // 4):
            stream.seek(start)
            stream.write(data[start:start + len(data) // 4])
            stream.flush()
            time.sleep(2)
    wait_for(lambda: bool(done_events(daemon, target)), 60, "the complete file", daemon)
    assert daemon.stop() == 0
    assert len(done_events(daemon, target)) == 1
    assert not daemon.events("failed") and daemon.events("waiting")
    assert statuses(out) == {str(target): "done"}


def test_a_dangling_link_is_not_called_deleted(tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    acquisition.mkdir()
    os.symlink(tmp_path / "nowhere.mrc", acquisition / "dangling.mrc")
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", "--once", *WATCH_FAST)
    daemons.append(daemon)
    assert daemon.process.wait(timeout=60) == 1
    assert "symbolic link to a missing file" in daemon.events("failed")[0]["error"]


def test_latency_of_old_files_counts_from_start_up_and_a_new_suffix_is_written(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "picks"
    old = write_slowly(mrc_bytes(tmp_path, 1), acquisition / "old.mrc")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    daemon = Daemon(acquisition, out, tmp_path / "once.log", "--once", *WATCH_FAST)
    daemons.append(daemon)
    assert daemon.process.wait(timeout=120) == 0
    assert daemon.events("done")[0]["latency_seconds"] < 60
    again = Daemon(acquisition, out, tmp_path / "suffix.log", "--once", *WATCH_FAST, "--suffix",
                   "cryo")
    daemons.append(again)
    assert again.process.wait(timeout=120) == 0
    assert (out / "old_cryo.star").is_file() and journal_entries(out)[str(old)].output == \
        str(out / "old_cryo.star")
