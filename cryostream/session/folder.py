"""The output folder as a session holds it: one session at a time (a lock naming its holder),
half-written temporaries from a killed writer removed, and a heartbeat that ``status`` reads."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import OutputError, output_boundary
from .journal import Journal

LOCK_NAME = ".cryostream.lock"
HEARTBEAT_SETTING = "session"
HEARTBEAT_SECONDS = 5.0


@contextmanager
def output_lock(out_dir: Path, kind: str) -> Iterator[None]:
    """Hold a POSIX lock on the output folder so two sessions (a ``watch`` and a ``pick``, two
    RELION runs of one job) never write the same outputs. The lock belongs to this process only
    (workers do not inherit it) and dies with it, also after ``kill -9``."""
    path = out_dir / LOCK_NAME
    with output_boundary(path, "create the lock file"):
        # unbuffered: on a full disk the write fails here, not again when the file is closed
        handle = open(path, "a+b", buffering=0)  # noqa: SIM115 - held for the whole session
    with handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise OutputError(out_dir, f"another cryostream session ({_holder(path)}) is writing "
                              "to this output folder; wait for it or choose another") from error
        with output_boundary(path):
            handle.truncate(0)
            handle.write(json.dumps({"kind": kind, "pid": os.getpid(),
                                     "started": time.time()}).encode())
        yield


def _holder(lock_path: Path) -> str:
    try:
        holder = json.loads(lock_path.read_text())
        return f"{holder['kind']}, pid {holder['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def remove_stale_temporaries(out_dir: Path) -> int:
    """Delete half-written temporary files (``.name.XXXX.tmp``) that a killed writer left behind;
    call only while holding :func:`output_lock`."""
    stale = [path for path in out_dir.rglob(".*.tmp") if path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def write_heartbeat(journal: Journal, kind: str, running: bool, **details: Any) -> None:
    """Record that a session of ``kind`` is (still) running, for ``cryostream status``."""
    journal.set_setting(HEARTBEAT_SETTING, json.dumps({
        "kind": kind, "pid": os.getpid(), "time": time.time(), "running": running, **details}))


def read_heartbeat(journal: Journal) -> tuple[dict[str, Any] | None, bool]:
    """The last heartbeat and whether its session is running now (beat recently, not stopped)."""
    text = journal.get_setting(HEARTBEAT_SETTING)
    beat = json.loads(text) if text else None
    running = bool(beat and beat["running"] and time.time() - beat["time"] < 3 * HEARTBEAT_SECONDS)
    return beat, running
