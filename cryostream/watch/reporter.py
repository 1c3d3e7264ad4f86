"""What the watcher tells people: a live status line on a terminal (else a line every
``STATUS_EVERY_SECONDS``) and one-line failures, or one JSON object per event on stdout for log
collectors (``--log-json``)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

STATUS_EVERY_SECONDS = 30.0


@dataclass
class WatchStatus:
    """What the status line shows; counts include earlier runs on the same output folder."""

    seen: int = 0
    done: int = 0
    failed: int = 0
    waiting: int = 0
    in_flight: int = 0
    picks_per_micrograph: float | None = None
    seconds_per_micrograph: float | None = None
    latency_seconds: float | None = None

    def line(self) -> str:
        def figure(value: float | None, unit: str) -> str:
            return "-" if value is None else f"{value:.1f}{unit}"

        return (f"seen {self.seen} · done {self.done} · failed {self.failed} · queued "
                f"{self.waiting + self.in_flight} ({self.in_flight} picking) · "
                f"{figure(self.picks_per_micrograph, '')} picks/micrograph · "
                f"{figure(self.seconds_per_micrograph, ' s')}/micrograph · latency "
                f"{figure(self.latency_seconds, ' s')}")


class Reporter:
    """Tells the user what happens: a live status line on a terminal (else a line every
    ``STATUS_EVERY_SECONDS``) and one-line failures, or JSON lines on stdout with ``log_json``."""

    def __init__(self, console: Console, log_json: bool = False) -> None:
        self.console = console
        self.log_json = log_json
        self._live: Live | None = None
        self._last_status = 0.0

    def __enter__(self) -> Reporter:
        if self.console.is_terminal and not self.log_json:
            self._live = Live(Text(""), console=self.console, auto_refresh=False, transient=True)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def event(self, kind: str, **fields: Any) -> None:
        if self.log_json:
            sys.stdout.write(json.dumps({"time": round(time.time(), 3), "event": kind, **fields})
                             + "\n")
            sys.stdout.flush()
        elif kind in ("failed", "error"):
            self.console.print(f"[red]{kind}:[/red] {fields.get('error')}", highlight=False)
        elif kind == "warning":
            self.console.print(f"[yellow]warning:[/yellow] {fields['message']}", highlight=False)
        elif kind == "retry":
            self.console.print(f"[yellow]retry {fields['attempt']}:[/yellow] {fields['error']}",
                               highlight=False)
        elif kind in ("start", "stop"):
            self.console.print(fields["message"], highlight=False)
        elif kind == "diameter":
            self.console.print(f"diameter {fields['message']}", highlight=False)

    def session_event(self, kind: str, fields: dict[str, Any]) -> None:
        """Report an event of the session (done, failed, warning, diameter) like the daemon's own."""
        self.event(kind, **fields)

    def status(self, status: WatchStatus, force: bool = False) -> None:
        if self._live is not None:
            self._live.update(Text(status.line()), refresh=True)
            return
        now = time.monotonic()
        if force or now - self._last_status >= STATUS_EVERY_SECONDS:
            self._last_status = now
            if self.log_json:
                self.event("status", **asdict(status))
            else:
                self.console.print(status.line(), highlight=False)
