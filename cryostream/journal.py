"""The state journal: one SQLite file per output folder recording every micrograph's fate.

``pick`` and ``watch`` write it; ``status`` and ``report`` read it (also while a daemon runs: WAL mode
lets readers see committed rows without blocking the writer).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

JOURNAL_NAME = "cryostream-journal.sqlite"
STATUSES = ("queued", "done", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS micrographs (
    path TEXT PRIMARY KEY,          -- micrograph path as discovered
    size INTEGER,                   -- bytes when queued
    mtime REAL,                     -- modification time when queued (epoch seconds)
    status TEXT NOT NULL,           -- queued | done | failed
    picks INTEGER,                  -- number of picks (done)
    mean_figure_of_merit REAL,      -- mean figure of merit of the picks (done)
    seconds REAL,                   -- read + pick time on the worker
    error TEXT,                     -- one-line reason (failed)
    output TEXT,                    -- coordinate STAR path (done)
    config_digest TEXT,             -- PickerConfig.digest() used
    discovered_at REAL,             -- when first seen complete (epoch seconds)
    completed_at REAL,              -- when the output was written or failure recorded
    attempts INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
"""


@dataclass(frozen=True)
class Entry:
    """One journal row."""

    path: str
    size: int | None
    mtime: float | None
    status: str
    picks: int | None
    mean_figure_of_merit: float | None
    seconds: float | None
    error: str | None
    output: str | None
    config_digest: str | None
    discovered_at: float | None
    completed_at: float | None
    attempts: int


def journal_path(out_dir: str | Path) -> Path:
    """Where the journal of an output folder lives."""
    return Path(out_dir) / JOURNAL_NAME


class Journal:
    """A connection to one output folder's journal (create it if missing)."""

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
        self._db.row_factory = sqlite3.Row

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    def mark_queued(self, path: str, size: int | None, mtime: float | None,
                    config_digest: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO micrographs (path, size, mtime, status, config_digest, discovered_at)"
                " VALUES (?, ?, ?, 'queued', ?, ?) ON CONFLICT(path) DO UPDATE SET"
                " size=excluded.size, mtime=excluded.mtime, status='queued',"
                " config_digest=excluded.config_digest, error=NULL",
                (path, size, mtime, config_digest, time.time()))

    def mark_done(self, path: str, picks: int, mean_figure_of_merit: float | None,
                  seconds: float, output: str, config_digest: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO micrographs (path, status, picks, mean_figure_of_merit, seconds,"
                " output, config_digest, discovered_at, completed_at, attempts)"
                " VALUES (?, 'done', ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT(path) DO UPDATE SET"
                " status='done', picks=excluded.picks,"
                " mean_figure_of_merit=excluded.mean_figure_of_merit, seconds=excluded.seconds,"
                " output=excluded.output, config_digest=excluded.config_digest, error=NULL,"
                " completed_at=excluded.completed_at, attempts=micrographs.attempts + 1",
                (path, picks, mean_figure_of_merit, seconds, output, config_digest, time.time(),
                 time.time()))

    def mark_failed(self, path: str, error: str, config_digest: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO micrographs (path, status, error, config_digest, discovered_at,"
                " completed_at, attempts) VALUES (?, 'failed', ?, ?, ?, ?, 1)"
                " ON CONFLICT(path) DO UPDATE SET status='failed', error=excluded.error,"
                " completed_at=excluded.completed_at, attempts=micrographs.attempts + 1",
                (path, error, config_digest, time.time(), time.time()))

    def entry(self, path: str) -> Entry | None:
        row = self._db.execute("SELECT * FROM micrographs WHERE path = ?", (path,)).fetchone()
        return Entry(**dict(row)) if row else None

    def entries(self, status: str | None = None) -> list[Entry]:
        query, args = "SELECT * FROM micrographs", ()
        if status is not None:
            query, args = query + " WHERE status = ?", (status,)
        rows = self._db.execute(query + " ORDER BY COALESCE(completed_at, discovered_at)", args)
        return [Entry(**dict(row)) for row in rows]

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

    def record_config(self, config_digest: str, config_toml: str) -> None:
        """Keep the configuration behind a digest (TOML), so any pick can be reproduced."""
        self.set_setting(f"config:{config_digest}", config_toml)

    def recorded_config(self, config_digest: str) -> str | None:
        """The TOML configuration recorded for a digest, if any."""
        return self.get_setting(f"config:{config_digest}")

    def requeue_other_digests(self, config_digest: str) -> int:
        """Mark micrographs finished with other parameters as 'queued' again, so a daemon redoes
        them (durably: a crash before they are redone does not lose the request). Returns how many."""
        with self.transaction() as db:
            return db.execute("UPDATE micrographs SET status='queued' WHERE status != 'queued'"
                              " AND COALESCE(config_digest, '') != ?", (config_digest,)).rowcount

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
