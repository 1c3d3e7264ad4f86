"""The SQLite journal: statuses, settings, a reader beside a writer, and re-queueing on new parameters."""

from __future__ import annotations

from pathlib import Path

from cryostream.journal import Journal, journal_path


def test_statuses_counts_and_reader_while_writer_open(tmp_path: Path) -> None:
    with Journal(tmp_path) as writer:
        writer.mark_queued("a.mrc", 100, 1.5, "d1")
        writer.mark_queued("b.mrc", 200, 2.5, "d1")
        writer.mark_done("a.mrc", 12, 0.8, 0.3, "a_autopick.star", "d1")
        writer.mark_failed("b.mrc", "b.mrc: is an empty file (0 bytes)", "d1")
        writer.mark_queued("c.mrc", 300, 3.5, "d1")
        with Journal(tmp_path, readonly=True) as reader:
            assert reader.counts() == {"queued": 1, "done": 1, "failed": 1}
            done = reader.entry("a.mrc")
            assert (done.status, done.picks, done.size, done.mtime, done.output) == \
                ("done", 12, 100, 1.5, "a_autopick.star")
            assert reader.entry("b.mrc").error == "b.mrc: is an empty file (0 bytes)"
            assert [entry.path for entry in reader.entries("queued")] == ["c.mrc"]
    assert journal_path(tmp_path).is_file()


def test_settings_round_trip(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        assert journal.get_setting("key") is None
        journal.set_setting("key", "one")
        journal.set_setting("key", "two")
        assert journal.get_setting("key") == "two"


def test_requeue_other_digests_only_touches_finished_work_of_other_parameters(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        for name, digest in (("old.mrc", "old"), ("new.mrc", "new"), ("bad.mrc", "old")):
            journal.mark_queued(name, 1, 1.0, digest)
        journal.mark_done("old.mrc", 3, 1.0, 0.1, "old.star", "old")
        journal.mark_done("new.mrc", 3, 1.0, 0.1, "new.star", "new")
        journal.mark_failed("bad.mrc", "bad.mrc: broken", "old")
        assert journal.requeue_other_digests("new") == 2
        assert {entry.path: entry.status for entry in journal.entries()} == \
            {"old.mrc": "queued", "new.mrc": "done", "bad.mrc": "queued"}
        assert journal.requeue_other_digests("new") == 0
