"""The SQLite journal: one key, statuses, file states, settings, a reader beside a writer,
re-queueing, and a journal written by the previous version upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cryostream.config import preset
from cryostream.session.journal import FileState, Journal, journal_path

STATE = FileState(100, 1.5, 7, 2.5)


def test_statuses_counts_states_and_a_reader_while_the_writer_is_open(tmp_path: Path) -> None:
    with Journal(tmp_path) as writer:
        writer.mark_queued("/d/a.mrc", "a.mrc", STATE, "d1")
        writer.mark_queued("/d/b.mrc", "b.mrc", None, "d1")
        writer.mark_done("/d/a.mrc", 12, 0.8, 0.3, "o/a_autopick.star", "d1")
        writer.mark_failed("/d/b.mrc", "/d/b.mrc: is an empty file (0 bytes)", "d1")
        writer.mark_queued("/d/c.mrc", "c.mrc", STATE, "d1")
        with Journal(tmp_path, readonly=True) as reader:
            assert reader.counts() == {"queued": 1, "done": 1, "failed": 1}
            done = reader.entry("/d/a.mrc")
            assert (done.status, done.picks, done.state, done.output, done.name) == \
                ("done", 12, STATE, "o/a_autopick.star", "a.mrc")
            assert reader.entry("/d/b.mrc").error == "/d/b.mrc: is an empty file (0 bytes)"
            assert reader.entry("/d/b.mrc").state is None
            assert [entry.path for entry in reader.entries("queued")] == ["/d/c.mrc"]
            assert reader.output_owner("O/A_AUTOPICK.STAR") == "/d/a.mrc"
    assert journal_path(tmp_path).is_file()


def test_file_state_tells_a_copy_with_the_same_size_and_time(tmp_path: Path) -> None:
    import os
    import shutil

    (tmp_path / "a.mrc").write_bytes(b"1" * 100)
    shutil.copy2(tmp_path / "a.mrc", tmp_path / "b.mrc")
    first = FileState.of(tmp_path / "a.mrc")
    os.replace(tmp_path / "b.mrc", tmp_path / "a.mrc")
    second = FileState.of(tmp_path / "a.mrc")
    assert first is not None and second is not None
    assert (first.size, first.mtime) == (second.size, second.mtime) and first != second
    assert FileState.of(tmp_path / "gone.mrc") is None


def test_settings_and_configurations_round_trip(tmp_path: Path) -> None:
    config = preset("seed", diameter_angstrom=61.0)
    with Journal(tmp_path) as journal:
        assert journal.get_setting("key") is None
        journal.set_setting("key", "one")
        journal.set_setting("key", "two")
        assert journal.get_setting("key") == "two"
        journal.record_config(config)
        assert journal.recorded_config(config.digest()) == config  # unset values survive
        assert journal.recorded_config("unknown") is None


def test_requeue_other_digests_only_touches_finished_work_of_other_parameters(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        for name, digest in (("old.mrc", "old"), ("new.mrc", "new"), ("bad.mrc", "old")):
            journal.mark_queued(name, name, STATE, digest)
        journal.mark_done("old.mrc", 3, 1.0, 0.1, "old.star", "old")
        journal.mark_done("new.mrc", 3, 1.0, 0.1, "new.star", "new")
        journal.mark_failed("bad.mrc", "bad.mrc: broken", "old")
        assert journal.requeue_other_digests("new") == 2
        assert {entry.path: entry.status for entry in journal.entries()} == \
            {"old.mrc": "queued", "new.mrc": "done", "bad.mrc": "queued"}
        assert journal.requeue_other_digests("new") == 0
        journal.mark_failed("bad.mrc", "bad.mrc: broken", "new")
        assert journal.requeue_failed() == 1 and journal.entry("bad.mrc").status == "queued"


def test_a_journal_of_the_first_version_gains_the_new_columns(tmp_path: Path) -> None:
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("CREATE TABLE micrographs (path TEXT PRIMARY KEY, size INTEGER, mtime REAL,"
                   " status TEXT NOT NULL, picks INTEGER, mean_figure_of_merit REAL, seconds REAL,"
                   " error TEXT, output TEXT, config_digest TEXT, discovered_at REAL,"
                   " completed_at REAL, attempts INTEGER DEFAULT 0)")
        db.execute("INSERT INTO micrographs (path, size, mtime, status, picks, output) VALUES"
                   " ('/d/a.mrc', 5, 1.0, 'done', 4, 'a.star')")
    with Journal(tmp_path) as journal:
        entry = journal.entry("/d/a.mrc")
        assert (entry.status, entry.picks, entry.name, entry.inode) == ("done", 4, None, None)
        journal.mark_queued("/d/b.mrc", "b.mrc", STATE, "d")
        assert journal.entry("/d/b.mrc").state == STATE
