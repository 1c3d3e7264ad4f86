"""Cancellation: why a session should stop, checked between every micrograph.

A signal handler only records the signal (no locks, no I/O: a handler that takes a lock the main
thread holds deadlocks it); the session loop reads :attr:`Cancellation.reason` between micrographs
and at every tick while it waits. RELION's Abort button creates ``RELION_JOB_ABORT_NOW`` in the job
directory, which is checked the same way. A second signal means "stop now": in-flight work is left
recorded as not done instead of being waited for.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Cancellation:
    """Records stop requests: signals received (while :meth:`handling_signals` is active) and an
    optional abort file whose appearance asks the session to stop."""

    def __init__(self, abort_file: Path | None = None) -> None:
        self.abort_file = abort_file
        self.signals: list[int] = []

    @property
    def reason(self) -> str | None:
        """Why to stop (``SIGTERM``, ``RELION_JOB_ABORT_NOW found``), or None to go on."""
        if self.signals:
            return signal.Signals(self.signals[0]).name
        if self.abort_file is not None and self.abort_file.exists():
            return f"{self.abort_file.name} found"
        return None

    @property
    def forced(self) -> bool:
        """A second signal: stop without waiting for micrographs being picked."""
        return len(self.signals) >= 2

    @contextmanager
    def handling_signals(self) -> Iterator[Cancellation]:
        """Record SIGINT and SIGTERM instead of dying; the previous handlers come back after."""
        previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        for number in STOP_SIGNALS:
            signal.signal(number, self._record)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _record(self, number: int, _frame: object) -> None:
        self.signals.append(number)
