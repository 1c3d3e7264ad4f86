"""The session engine in this process (inline executor): what needs picking, recording outcomes
and refusing collisions, the output side failing, cancellation between micrographs, and the
combined STAR rebuilt from the journal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import DIAMETER_ANGSTROM, fill, small_mrc

from cryostream.config import preset
from cryostream.session.cancel import Cancellation
from cryostream.session.engine import Session
from cryostream.session.errors import OutputError
from cryostream.session.executor import Executor
from cryostream.session.journal import Journal
from cryostream.session.outputs import COMBINED_STAR, OutputOptions
from cryostream.session.tasks import SessionOptions, Task
from cryostream.star import read_coordinates

CONFIG = preset("default", diameter_angstrom=DIAMETER_ANGSTROM)


def session(out: Path, cancel: Cancellation | None = None, events: list | None = None,
            retry_failed: bool = True, executor: Executor | None = None) -> Session:
    def on_event(kind: str, fields: dict) -> None:
        if events is not None:
            events.append((kind, fields))

    options = SessionOptions("pick", OutputOptions(out), retry_failed=retry_failed)
    return Session(options, CONFIG, executor or Executor("inline"), cancel, on_event)


def task(path: Path, out: Path, star_name: str | None = None) -> Task:
    return Task(path, str(path), out / (star_name or f"{path.stem}_autopick.star"))


def test_what_needs_picking_follows_the_journal_and_the_files(tmp_path: Path) -> None:
    mic = small_mrc(tmp_path / "in" / "a.mrc")
    out = tmp_path / "o"
    with session(out) as first:
        assert first.needs_picking(task(mic, out))
        assert first.run([task(mic, out)]).picked == 1
        assert not first.needs_picking(task(mic, out))
        assert first.needs_picking(task(mic, out, "elsewhere_autopick.star"))
    copy = tmp_path / "copy.mrc"
    shutil.copy2(mic, copy)
    os.replace(copy, mic)  # same size and time stamp, another file (cp -p, rsync -t)
    with session(out) as second:
        assert second.needs_picking(task(mic, out))
        second.run([task(mic, out)])
        (out / "a_autopick.star").unlink()
        assert second.needs_picking(task(mic, out))


def test_two_names_of_one_file_are_each_picked_once(tmp_path: Path) -> None:
    mic = small_mrc(tmp_path / "in" / "a.mrc")
    os.symlink("a.mrc", tmp_path / "in" / "b.mrc")  # an import folder linking one file twice
    out = tmp_path / "o"
    tasks = [task(mic, out), task(tmp_path / "in" / "b.mrc", out)]
    with session(out) as first:
        assert first.run(tasks).picked == 2
    with session(out) as second:
        summary = second.run(tasks)
    assert (summary.picked, summary.already_done) == (0, 2)
    assert (out / "a_autopick.star").is_file() and (out / "b_autopick.star").is_file()


def test_a_failure_is_retried_by_a_batch_but_not_by_a_daemon_unless_the_file_changes(
        tmp_path: Path) -> None:
    broken = tmp_path / "in" / "b.mrc"
    broken.parent.mkdir()
    broken.write_bytes(b"not an MRC file" * 100)
    out = tmp_path / "o"
    with session(out) as batch:
        failed = batch.run([task(broken, out)]).failed
        assert len(failed) == 1 and failed[0].startswith(f"{broken}: not a readable MRC file")
        assert batch.needs_picking(task(broken, out))
    with session(out, retry_failed=False) as daemon:
        assert not daemon.needs_picking(task(broken, out))
        small_mrc(broken)
        assert daemon.needs_picking(task(broken, out))


def test_two_micrographs_never_share_an_output(tmp_path: Path) -> None:
    first, second = small_mrc(tmp_path / "in" / "x.mrc", 1), small_mrc(tmp_path / "in" / "x.MRC", 2)
    out = tmp_path / "o"
    events: list = []
    with session(out, events=events) as picking:
        picking.run([task(first, out, "x_autopick.star")])
        before = (out / "x_autopick.star").read_bytes()
        summary = picking.run([task(second, out, "x_autopick.star")])
    assert (out / "x_autopick.star").read_bytes() == before
    assert summary.failed and f"is already the output of {first}" in summary.failed[0]
    assert [kind for kind, _ in events if kind in ("done", "failed")] == ["done", "failed"]


def test_a_file_in_the_way_fails_one_micrograph_and_the_session_goes_on(tmp_path: Path) -> None:
    blocked, fine = small_mrc(tmp_path / "in" / "a.mrc", 1), small_mrc(tmp_path / "in" / "b.mrc", 2)
    out = tmp_path / "o"
    out.mkdir()
    (out / "sub").write_text("a file where a folder must go")
    with session(out) as picking:
        summary = picking.run([Task(blocked, str(blocked), out / "sub" / "a_autopick.star"),
                               task(fine, out)])
    assert summary.picked == 1 and "could not write outputs" in summary.failed[0]


def test_an_output_file_system_failing_stops_the_session_with_the_journal_consistent(
        tmp_path: Path, small_disk: Path) -> None:
    mics = [small_mrc(tmp_path / "in" / f"m{index}.mrc", index) for index in range(3)]
    out = small_disk / "o"
    with pytest.raises(OutputError, match="No space left on device|disk is full"), \
            session(out) as picking:
        picking.run([task(mics[0], out)])
        filler = fill(small_disk)
        picking.run([task(path, out) for path in mics[1:]])
    filler.unlink()
    with Journal(out, readonly=True) as journal:
        assert [entry.name for entry in journal.entries("done")] == [str(mics[0])]
        assert all(entry.status != "done" for entry in journal.entries()
                   if entry.name != str(mics[0]))


def test_cancellation_is_checked_between_every_micrograph(tmp_path: Path) -> None:
    mics = [small_mrc(tmp_path / "in" / f"m{index}.mrc", index) for index in range(5)]
    out = tmp_path / "o"
    abort = tmp_path / "ABORT_NOW"
    events: list = []

    class AbortAfterFirst(list):
        def append(self, item: tuple) -> None:
            super().append(item)
            if item[0] == "done":
                abort.touch()

    events = AbortAfterFirst()
    with session(out, Cancellation(abort), events) as picking:
        summary = picking.run([task(path, out) for path in mics])
    assert summary.picked == 1 and summary.cancelled == "ABORT_NOW found"
    with Journal(out, readonly=True) as journal:
        assert journal.counts() == {"queued": 0, "done": 1, "failed": 0}


def test_a_stop_puts_back_the_journal_rows_of_work_that_had_not_started(tmp_path: Path) -> None:
    mics = [small_mrc(tmp_path / "in" / f"m{index}.mrc", index, (768, 768)) for index in range(6)]
    out = tmp_path / "o"
    with session(out) as earlier:
        earlier.run([task(mics[-1], out)])
    small_mrc(mics[-1], 99)  # changed since: picked again, its row still says done
    with Journal(out, readonly=True) as journal:
        row_before = journal.entry(str(mics[-1]))
    with Executor("local", workers=1) as pool, session(out, executor=pool) as picking:
        for path in mics:
            assert picking.submit(task(path, out))
    with Journal(out, readonly=True) as journal:
        rows = {Path(entry.path): entry for entry in journal.entries()}
    picked = [path for path in mics[:-1] if path in rows]
    assert 0 < len(picked) < len(mics) - 1
    assert rows[mics[-1]] == row_before
    assert all(row.status == "done" for row in rows.values())


def test_the_combined_star_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    mics = [small_mrc(tmp_path / "in" / f"m{index}.mrc", index) for index in range(2)]
    out = tmp_path / "o"
    with session(out) as picking:
        picking.run([task(path, out) for path in mics])
    combined = read_coordinates(out / COMBINED_STAR)
    (out / COMBINED_STAR).unlink()  # as if the last run died before writing it
    with session(out) as reopened:
        assert reopened.run([]).picked == 0
    assert read_coordinates(out / COMBINED_STAR).equals(combined)
    assert set(combined["rlnMicrographName"]) <= {str(path) for path in mics}
