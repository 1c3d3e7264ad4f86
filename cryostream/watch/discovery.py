"""Discovery for the watcher: which files under the acquisition folder are micrographs, and when
each one is completely written.

watchdog events (inotify, or polling for NFS/CIFS where inotify sees nothing) plus a scan of the
tree at start-up and every minute, so starting late, restarting or a lost event misses nothing. A
file is ready when a close-after-write or rename-into-place event says it is complete, or when its
state has not changed for the quiet period. Whether it still needs picking is the journal's answer
(:meth:`~cryostream.session.engine.Session.needs_picking`), so a restart repeats nothing.
"""

from __future__ import annotations

import errno
import math
import os
import queue
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from ..session.journal import FileState
from ..session.selection import Selection


@dataclass
class Candidate:
    """A micrograph seen but not yet finished; ``changed_at`` and ``not_before`` are monotonic
    seconds, ``seen_at`` wall-clock seconds."""

    path: Path
    state: FileState | None
    changed_at: float
    seen_at: float
    complete_hint: bool = False
    attempts: int = 0
    waits: int = 0
    not_before: float = 0.0

    def update(self, state: FileState | None, now: float) -> None:
        """Note the file's current state; a change restarts its quiet period."""
        if state is not None and state != self.state:
            self.state, self.changed_at, self.complete_hint = state, now, False


class EventSink(FileSystemEventHandler):
    """Forwards watchdog events (from its thread) to the daemon as (kind, path) pairs."""

    def __init__(self, sink: queue.SimpleQueue) -> None:
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind == "moved":
            self.sink.put(("gone", os.fsdecode(event.src_path)))
            self.sink.put(("folder" if event.is_directory else "complete",
                           os.fsdecode(event.dest_path)))
        elif kind == "closed":
            self.sink.put(("complete", os.fsdecode(event.src_path)))
        elif kind == "created" and event.is_directory:
            self.sink.put(("folder", os.fsdecode(event.src_path)))
        elif kind in ("created", "modified", "deleted"):
            self.sink.put(("changed", os.fsdecode(event.src_path)))


def probe(path: Path) -> tuple[FileState | None, str | None]:
    """The file's state, None when it is missing; and why it can never be a micrograph (a folder,
    a symbolic link loop, a device), if so."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None, ("is a symbolic link to a missing file" if os.path.islink(path) else None)
    except OSError as error:
        return None, ("is a symbolic link loop" if error.errno == errno.ELOOP
                      else f"cannot be examined ({error.strerror})")
    state = FileState(info.st_size, info.st_mtime, info.st_ino, info.st_ctime)
    if stat.S_ISDIR(info.st_mode):
        return state, "is a directory, not a micrograph file"
    if not stat.S_ISREG(info.st_mode):
        return state, "is not a regular file"
    return state, None


class Discovery:
    """The micrographs waiting to be picked under ``acquisition`` (absolute), fed by events and
    scans. ``is_wanted(path, state)`` says whether a file still needs picking (the journal);
    ``on_bad(path, reason)`` records a file that can never be a micrograph."""

    def __init__(self, acquisition: Path, out_dir: Path, selection: Selection,
                 quiet_seconds: float, is_wanted: Callable[[str, FileState | None], bool],
                 on_bad: Callable[[str, str], None]) -> None:
        self.acquisition = acquisition
        self.out_resolved = out_dir.resolve()
        self.selection = selection
        self.quiet_seconds = quiet_seconds
        self.is_wanted = is_wanted
        self.on_bad = on_bad
        self.pending: dict[str, Candidate] = {}
        self.picking: dict[str, Candidate] = {}
        self.held: set[str] = set()
        self.events: queue.SimpleQueue = queue.SimpleQueue()

    def is_micrograph(self, path: str) -> bool:
        relative = os.path.relpath(path, self.acquisition)
        if relative.startswith(os.pardir) or \
                Path(os.path.realpath(os.path.dirname(path))).is_relative_to(self.out_resolved):
            return False
        return self.selection.matches(relative)

    def scan(self, folder: Path | None = None) -> None:
        """Observe every micrograph below ``folder`` (default: the acquisition folder); symlinked
        folders (and loops) are not entered, and a folder named like a micrograph is bad input."""
        for root, dirnames, filenames in os.walk(folder or self.acquisition):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")
                           and Path(os.path.realpath(os.path.join(root, name))) != self.out_resolved]
            for name in (*filenames, *dirnames):
                self.observe(os.path.join(root, name))

    def observe(self, path: str, complete: bool = False) -> None:
        """Take note of a micrograph that appeared or changed; ``complete`` when an event says its
        writer closed it or renamed it into place."""
        if path in self.picking or not self.is_micrograph(path):
            return
        state, reason = probe(Path(path))
        candidate = self.pending.get(path)
        if candidate is None and not self.is_wanted(path, state):
            return  # finished earlier, and unchanged since
        if reason is not None:
            self.pending.pop(path, None)
            self.on_bad(path, reason)
            return
        now = time.monotonic()
        if candidate is None:  # gone already: a move cancels it, else it is reported as deleted
            candidate = self.pending[path] = Candidate(Path(path), state, now, time.time())
        candidate.update(state, now)
        if complete and state is not None:
            candidate.complete_hint = True

    def drain_events(self) -> None:
        """Handle every event the observer thread has queued."""
        while True:
            try:
                kind, path = self.events.get_nowait()
            except queue.Empty:
                return
            if kind == "gone":
                self.pending.pop(path, None)
            elif kind == "folder":
                self.observe(path)
                if os.path.isdir(path) and not os.path.islink(path):
                    self.scan(Path(path))
            else:
                self.observe(path, complete=kind == "complete")

    def sweep(self) -> Iterator[Candidate]:
        """Re-examine waiting micrographs: a change restarts the quiet period; yields those that
        vanished and are due (to be retried, then recorded as deleted)."""
        now = time.monotonic()
        for path, candidate in list(self.pending.items()):
            state, reason = probe(candidate.path)
            if reason is not None:
                del self.pending[path]
                self.on_bad(path, reason)
            elif state is None:
                candidate.state = None  # missing: not submitted unless it comes back
                if now >= candidate.not_before:
                    yield candidate
            else:
                candidate.update(state, now)

    def ready(self) -> list[Candidate]:
        """Waiting micrographs that are complete and due, in acquisition order: oldest
        modification time first, then by path (a folder scan and a burst of events find them in
        no particular order)."""
        now, wall = time.monotonic(), time.time()
        due = [candidate for candidate in self.pending.values()
               if candidate.state is not None and now >= candidate.not_before and (
                   candidate.complete_hint or now - candidate.changed_at >= self.quiet_seconds
                   or wall - candidate.state.mtime >= self.quiet_seconds)]
        return sorted(due, key=lambda candidate: (candidate.state.mtime if candidate.state else 0.0,
                                                  str(candidate.path)))

    def hold(self, candidate: Candidate) -> None:
        """Keep a candidate waiting, not ready, until :meth:`release_held` (a micrograph that
        waits for the session's diameter to be measured)."""
        candidate.not_before = math.inf
        self.held.add(str(candidate.path))

    def release_held(self) -> None:
        """Make every held candidate due again."""
        for path in self.held:
            if path in self.pending:
                self.pending[path].not_before = 0.0
        self.held.clear()

    def only_held(self) -> bool:
        """Whether every waiting micrograph is held (nothing else is left to pick)."""
        return all(path in self.held for path in self.pending)

    def start_picking(self, candidate: Candidate) -> None:
        self.pending.pop(str(candidate.path), None)
        self.picking[str(candidate.path)] = candidate

    def finish_picking(self, path: str) -> Candidate:
        return self.picking.pop(path)

    def wait_again(self, candidate: Candidate, delay_seconds: float = 0.0) -> None:
        """Put a candidate back to wait (changed while picked, or a retry after ``delay``)."""
        candidate.not_before = time.monotonic() + delay_seconds
        self.pending[str(candidate.path)] = candidate
