"""The state journal: one SQLite file per output folder recording every micrograph's fate.

Every front door (pick, watch, the RELION and CryoSPARC jobs) writes it through the session, keyed
by the micrograph's absolute path, its folder resolved (:func:`~cryostream.session.naming.micrograph_key`);
``status`` and ``report`` read it, also while a session runs (WAL mode lets readers see committed
rows without blocking the writer).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from ..config import PickerConfig

JOURNAL_NAME = "cryostream-journal.sqlite"
STATUSES = ("queued", "done", "failed")
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS micrographs (
    path TEXT PRIMARY KEY,          -- the micrograph's absolute path, its folder resolved
    status TEXT NOT NULL,           -- queued | done | failed
    size INTEGER,                   -- bytes, when last seen
    mtime REAL,                     -- modification time when last seen (epoch seconds)
    picks INTEGER,                  -- number of picks (done)
    mean_figure_of_merit REAL,      -- mean figure of merit of the picks (done)
    seconds REAL,                   -- read + pick time on the worker
    error TEXT,                     -- one-line reason (failed)
    output TEXT,                    -- coordinate STAR path (done)
    config_digest TEXT,             -- PickerConfig.digest() used
    discovered_at REAL,             -- when first queued (epoch seconds)
    completed_at REAL,              -- when the output was written or the failure recorded
    attempts INTEGER DEFAULT 0,
    name TEXT,                      -- the name outputs give it (rlnMicrographName)
    inode INTEGER,                  -- file identity beside size and mtime
    ctime REAL                      -- status-change time when last seen
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
"""
ADDED_COLUMNS = {"name": "TEXT", "inode": "INTEGER", "ctime": "REAL"}  # since schema version 1


class FileState(NamedTuple):
    """What identifies one version of a file: size and modification time, and the inode and
    status-change time, which a copy that keeps the size and time stamp (``cp -p``) changes."""

    size: int
    mtime: float
    inode: int = 0
    ctime: float = 0.0

    @classmethod
    def of(cls, path: str | Path) -> FileState | None:
        """The state of the file at ``path`` (symbolic links followed); None when it is gone."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        return cls(info.st_size, info.st_mtime, info.st_ino, info.st_ctime)


@dataclass(frozen=True)
class Entry:
    """One journal row."""

    path: str
    status: str
    size: int | None
    mtime: float | None
    picks: int | None
    mean_figure_of_merit: float | None
    seconds: float | None
    error: str | None
    output: str | None
    config_digest: str | None
    discovered_at: float | None
    completed_at: float | None
    attempts: int
    name: str | None
    inode: int | None
    ctime: float | None

    @property
    def state(self) -> FileState | None:
        """The file state recorded with this entry, if any."""
        if self.size is None or self.mtime is None:
            return None
        return FileState(self.size, self.mtime, self.inode or 0, self.ctime or 0.0)


def journal_path(out_dir: str | Path) -> Path:
    """Where the journal of an output folder lives."""
    return Path(out_dir) / JOURNAL_NAME


class Journal:
    """A connection to one output folder's journal (created if missing)."""

    def __init__(self, out_dir: str | Path, readonly: bool = False) -> None:
        self.path = journal_path(out_dir)
        if readonly:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            self._upgrade()
        self._db.row_factory = sqlite3.Row

    def _upgrade(self) -> None:
        """Add the columns a journal written by an earlier version lacks."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        present = {row[1] for row in self._db.execute("PRAGMA table_info(micrographs)")}
        with self._db:
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE micrographs ADD COLUMN {column} {kind}")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    def mark_queued(self, key: str, name: str, state: FileState | None, config_digest: str) -> None:
        """Record that ``key`` is being picked (a crash leaves it queued, so it is redone)."""
        size, mtime, inode, ctime = state or (None, None, None, None)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO micrographs (path, name, size, mtime, inode, ctime, status,"
                " config_digest, discovered_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET name=excluded.name, size=excluded.size,"
                " mtime=excluded.mtime, inode=excluded.inode, ctime=excluded.ctime,"
                " status='queued', config_digest=excluded.config_digest, error=NULL",
                (key, name, size, mtime, inode, ctime, config_digest, time.time()))

    def mark_done(self, key: str, picks: int, mean_figure_of_merit: float | None, seconds: float,
                  output: str, config_digest: str) -> None:
        """Record a micrograph whose outputs are written (call :meth:`mark_queued` first)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE micrographs SET status='done', picks=?, mean_figure_of_merit=?, seconds=?,"
                " output=?, config_digest=?, error=NULL, completed_at=?, attempts=attempts + 1"
                " WHERE path=?",
                (picks, mean_figure_of_merit, seconds, output, config_digest, time.time(), key))

    def mark_failed(self, key: str, error: str, config_digest: str) -> None:
        """Record a micrograph that could not be picked, with the one-line reason (call
        :meth:`mark_queued` first)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE micrographs SET status='failed', error=?, config_digest=?, completed_at=?,"
                " attempts=attempts + 1 WHERE path=?", (error, config_digest, time.time(), key))

    def restore(self, key: str, before: Entry | None) -> None:
        """Put ``key``'s row back as it was before :meth:`mark_queued` (``before``; None: no row),
        for work cancelled before it started: a stopped session leaves nothing queued that it
        did not find queued."""
        with self.transaction() as db:
            db.execute("DELETE FROM micrographs WHERE path = ?", (key,))
            if before is not None:
                row = asdict(before)
                db.execute(f"INSERT INTO micrographs ({', '.join(row)}) VALUES"
                           f" ({', '.join('?' * len(row))})", tuple(row.values()))

    def entry(self, key: str) -> Entry | None:
        row = self._db.execute("SELECT * FROM micrographs WHERE path = ?", (key,)).fetchone()
        return Entry(**dict(row)) if row else None

    def entries(self, status: str | None = None) -> list[Entry]:
        query, args = "SELECT * FROM micrographs", tuple[str, ...]()
        if status is not None:
            query, args = query + " WHERE status = ?", (status,)
        rows = self._db.execute(query + " ORDER BY COALESCE(completed_at, discovered_at)", args)
        return [Entry(**dict(row)) for row in rows]

    def output_owner(self, output: str) -> str | None:
        """The micrograph whose finished output is ``output`` (compared without case), if any."""
        row = self._db.execute("SELECT path FROM micrographs WHERE status = 'done' AND"
                               " lower(output) = lower(?)", (output,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM micrographs GROUP BY status")
        return {status: 0 for status in STATUSES} | {row[0]: row[1] for row in rows}

    def get_setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                       " value=excluded.value", (key, value))

    def record_config(self, config: PickerConfig) -> None:
        """Keep the configuration behind its digest (as JSON, which keeps unset values), so any
        pick can be reproduced."""
        self.set_setting(f"config:{config.digest()}", json.dumps(asdict(config)))

    def recorded_config(self, config_digest: str) -> PickerConfig | None:
        """The configuration recorded for a digest; None when there is none or it no longer
        reads (written by another version)."""
        recorded = self.get_setting(f"config:{config_digest}")
        try:
            return PickerConfig(**json.loads(recorded)) if recorded else None
        except (TypeError, ValueError):
            return None

    def requeue_other_digests(self, config_digest: str) -> int:
        """Mark micrographs finished with other parameters as 'queued' again, so they are redone
        (durably: a crash before they are redone does not lose the request). Returns how many."""
        with self.transaction() as db:
            return db.execute("UPDATE micrographs SET status='queued' WHERE status != 'queued'"
                              " AND COALESCE(config_digest, '') != ?", (config_digest,)).rowcount

    def requeue_failed(self) -> int:
        """Mark every failed micrograph 'queued' again, so it is tried once more."""
        with self.transaction() as db:
            return db.execute("UPDATE micrographs SET status='queued' WHERE status = 'failed'"
                              ).rowcount

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
