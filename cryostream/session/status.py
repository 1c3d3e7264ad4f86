"""A summary of an output folder's journal for ``cryostream status`` (safe while a session runs)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .folder import read_heartbeat
from .journal import Journal, journal_path

RECENT_FAILURES = 5


@dataclass(frozen=True)
class SessionStatus:
    """Counts, picks and speed of an output folder, and its last session (pick, watch, relion,
    cryosparc): its heartbeat and whether it is running now."""

    out_dir: str
    counts: dict[str, int]
    picks_total: int
    picks_per_micrograph: float | None
    seconds_per_micrograph: float | None
    session: dict[str, Any] | None
    running: bool
    recent_failures: list[dict[str, str]] = field(default_factory=list)


def read_status(out_dir: str | Path) -> SessionStatus:
    """Read an output folder's journal; a folder without one is a :class:`UsageError`."""
    out_dir = Path(out_dir)
    if not journal_path(out_dir).is_file():
        raise UsageError(f"{out_dir}: no journal ({journal_path(out_dir).name}) here; is this the "
                         "output folder of a pick, watch, RELION or CryoSPARC run?")
    with Journal(out_dir, readonly=True) as journal:
        done = journal.entries("done")
        failed = journal.entries("failed")
        counts = journal.counts()
        beat, running = read_heartbeat(journal)
    picks = [entry.picks or 0 for entry in done]
    seconds = [entry.seconds for entry in done if entry.seconds is not None]
    return SessionStatus(
        out_dir=str(out_dir), counts=counts, picks_total=sum(picks),
        picks_per_micrograph=statistics.mean(picks) if picks else None,
        seconds_per_micrograph=statistics.median(seconds) if seconds else None,
        session=beat, running=running,
        recent_failures=[{"micrograph": entry.name or entry.path, "error": entry.error or ""}
                         for entry in failed[-RECENT_FAILURES:]])
