"""The watcher daemon: picks every micrograph that lands in an acquisition folder, exactly once.

Discovery: watchdog events (inotify, or polling for NFS/CIFS where inotify sees nothing) plus a scan
of the tree at start-up and every ``RESCAN_SECONDS``, so starting late, restarting or a lost event
misses nothing. Readiness: a file is taken when a close-after-write or rename-into-place event says
it is complete, or when its size and mtime have not changed for the quiet period; the worker's read
is the validity check, and a file that fails to read is retried with back-off before it is recorded
as failed. Exactly once: the STAR is written atomically first, then the journal says done; on
restart, micrographs the journal has as 'queued' (or not at all) are redone, 'done' ones whose STAR
exists and reads back are skipped, and rewriting a STAR in place is idempotent.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import json
import os
import queue
import signal
import sqlite3
import stat
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.text import Text
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserverVFS

from .config import PickerConfig, dump_config
from .executor import Executor, PickOutcome, lost_task, pick_file
from .io import BadInputError
from .journal import Journal
from .outputs import COMBINED_STAR, OutputOptions, provenance, read_provenance, write_outputs
from .picker import Picks
from .report import write_report
from .star import DEFAULT_SUFFIX, read_coordinates, write_combined_star

DEFAULT_INCLUDE = ("*.mrc",)
DEFAULT_EXCLUDE = ("*_ps.mrc", "*_ctf.mrc", "*gain*", "countref*", "*_fractions.mrc",
                   "gridsquare_*.mrc", "*/foilholes/*", "atlas*")
IN_PROGRESS_SUFFIXES = (".tmp", ".part", "~")
CONFIG_CHOICES = ("abort", "keep", "redo")
CONFIG_SETTING = "watch_config_digest"
HEARTBEAT_SETTING = "watch_heartbeat"
LOCK_NAME = ".cryostream-watch.lock"
TICK_SECONDS = 0.1
STAT_EVERY_SECONDS = 0.25
RESCAN_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0
STATUS_EVERY_SECONDS = 30.0

Signature = tuple[int, float]


class WatchError(RuntimeError):
    """The daemon cannot start or go on (output folder locked or unwritable, parameters changed)."""


@dataclass(frozen=True)
class Selection:
    """Which files under the acquisition folder are micrographs.

    Globs match case-insensitively against the file name, or, when a pattern has a ``/``, against
    ``/`` + the path relative to the acquisition folder. Hidden files and folders and in-progress
    names (``.tmp``, ``.part``, ``~``) never match: writers rename those into place when done.
    """

    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def matches(self, relative: str) -> bool:
        path = "/" + relative.replace(os.sep, "/").lower()
        name = path.rsplit("/", 1)[-1]
        if "/." in path or name.endswith(IN_PROGRESS_SUFFIXES):
            return False
        return self._hit(self.include, path, name) and not self._hit(self.exclude, path, name)

    @staticmethod
    def _hit(patterns: tuple[str, ...], path: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(path if "/" in pattern else name, pattern.lower())
                   for pattern in patterns)


@dataclass(frozen=True)
class WatchOptions:
    """How the daemon finds, times and writes micrographs (seconds are wall-clock seconds)."""

    acquisition_dir: Path
    out_dir: Path
    selection: Selection = Selection()
    suffix: str = DEFAULT_SUFFIX
    box: bool = False
    image_format: str | None = None
    quiet_seconds: float = 3.0
    polling: bool = False
    poll_seconds: float = 1.0
    retries: int = 3
    retry_seconds: float = 1.0
    max_in_flight: int | None = None
    combined_every_seconds: float = 10.0
    report_every: int = 25
    on_config_change: str = "abort"
    retry_failed: bool = False
    once: bool = False

    def outputs(self) -> OutputOptions:
        """Output choices that mirror the acquisition tree under the output folder."""
        return OutputOptions(self.out_dir, self.suffix, self.box, self.image_format,
                             input_root=self.acquisition_dir)


@dataclass
class Candidate:
    """A micrograph seen but not yet finished; ``changed_at`` and ``not_before`` are monotonic."""

    path: Path
    size: int
    mtime: float
    changed_at: float
    complete_hint: bool = False
    attempts: int = 0
    not_before: float = 0.0

    @property
    def signature(self) -> Signature:
        return (self.size, self.mtime)


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
        elif kind == "retry":
            self.console.print(f"[yellow]retry {fields['attempt']}:[/yellow] {fields['error']}",
                               highlight=False)
        elif kind in ("start", "stop"):
            self.console.print(fields["message"], highlight=False)

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


class _EventSink(FileSystemEventHandler):
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


def probe(path: Path) -> tuple[Signature | None, str | None]:
    """The file's (size, mtime), None when it is missing; and why it can never be a micrograph
    (a folder, a symbolic link loop, a device), if so."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        reason = ("is a symbolic link loop" if error.errno == errno.ELOOP
                  else f"cannot be examined ({error.strerror})")
        try:
            info = os.lstat(path)
        except OSError:
            return None, reason
        return (info.st_size, info.st_mtime), reason
    if stat.S_ISDIR(info.st_mode):
        return (0, info.st_mtime), "is a directory, not a micrograph file"
    if not stat.S_ISREG(info.st_mode):
        return (0, info.st_mtime), "is not a regular file"
    return (info.st_size, info.st_mtime), None


@contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Hold a POSIX lock on the output folder so two daemons never write the same outputs. The
    lock belongs to this process only (forked workers do not inherit it) and dies with it."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as error:
        raise WatchError(f"{out_dir}: cannot write to the output folder ({error.strerror})") \
            from error
    with handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise WatchError(f"{out_dir}: another cryostream watch is already writing to this "
                             "output folder") from error
        yield


def remove_stale_temporaries(out_dir: Path) -> int:
    """Delete half-written temporary files (``.name.XXXX.tmp``) that a killed writer left behind;
    call only while holding :func:`output_lock`."""
    stale = [path for path in out_dir.rglob(".*.tmp") if path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def picks_from_star(star_path: Path, micrograph: str) -> Picks:
    """The picks of a per-micrograph STAR written by cryostream (for the combined STAR)."""
    table = read_coordinates(star_path)
    recorded = read_provenance(star_path)
    merit = (table["rlnAutopickFigureOfMerit"].to_numpy(float) if "rlnAutopickFigureOfMerit" in table
             else np.ones(len(table)))
    return Picks(x=table["rlnCoordinateX"].to_numpy(float), y=table["rlnCoordinateY"].to_numpy(float),
                 figure_of_merit=merit,
                 diameter_px=float(recorded.get("diameter_px", 0)),
                 pixel_size_angstrom=float(recorded.get("pixel_size_angstrom", 0)),
                 micrograph_shape=(0, 0), micrograph=Path(micrograph))


def check_config_change(journal: Journal, config: PickerConfig, choice: str) -> int:
    """Compare the parameters with those the output folder was picked with and apply ``choice``:
    abort (raise), keep (earlier picks stay) or redo (earlier picks are queued again). Returns how
    many micrographs were queued again."""
    if choice not in CONFIG_CHOICES:
        raise WatchError(f"--on-config-change must be one of {', '.join(CONFIG_CHOICES)}, got "
                         f"{choice!r}")
    digest = config.digest()
    done = journal.entries("done")
    previous = journal.get_setting(CONFIG_SETTING) or (done[-1].config_digest if done else None)
    requeued = 0
    if previous is not None and previous != digest:
        if choice == "abort":
            raise WatchError(
                f"{journal.path.parent}: these micrographs were picked with other parameters "
                f"(config digest {previous}, now {digest}); rerun with --on-config-change keep "
                "(keep those picks, use the new parameters for new micrographs) or redo (pick "
                "every micrograph again with the new parameters)")
        if choice == "redo":
            requeued = journal.requeue_other_digests(digest)
    journal.record_config(digest, dump_config(config))
    journal.set_setting(CONFIG_SETTING, digest)
    return requeued


class Watcher:
    """The daemon's state and main loop; use :func:`watch` to run it."""

    def __init__(self, options: WatchOptions, config: PickerConfig, journal: Journal,
                 pool: Executor, reporter: Reporter,
                 stop: threading.Event) -> None:
        self.options = options
        self.config = config
        self.digest = config.digest()
        self.journal = journal
        self.pool = pool
        self.reporter = reporter
        self.stop = stop
        self.acquisition = options.acquisition_dir
        self.out_resolved = options.out_dir.resolve()
        self.handled: dict[str, Signature | None] = {}
        self.pending: dict[str, Candidate] = {}
        self.in_flight: dict[Any, Candidate] = {}
        self.done_picks: dict[str, Picks] = {}
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.recent: deque[tuple[int, float, float]] = deque(maxlen=100)
        self.failed_this_run = 0
        self.combined_dirty = True
        self.next_combined = 0.0
        self.done_since_report = 0

    # -- start-up ---------------------------------------------------------------------------
    def load_journal(self) -> None:
        """Mark what earlier runs finished; queued entries (in flight at a crash, or queued again
        for new parameters) are to do, and reported as deleted if their file has gone."""
        for entry in self.journal.entries():
            signature = (entry.size, entry.mtime) if entry.size is not None else None
            if entry.status == "queued":
                self.observe(entry.path)
            elif entry.status == "failed" and not self.options.retry_failed:
                self.handled[entry.path] = signature
            elif entry.status == "done" and entry.output:
                try:
                    self.done_picks[entry.path] = picks_from_star(Path(entry.output), entry.path)
                except (BadInputError, OSError):
                    continue  # STAR missing or unreadable: pick again
                self.handled[entry.path] = signature

    def scan(self, folder: Path) -> None:
        """Observe every micrograph below ``folder``; symlinked folders (and loops) are not
        entered, and a folder named like a micrograph is reported as bad input."""
        for root, dirnames, filenames in os.walk(folder):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")
                           and Path(os.path.realpath(os.path.join(root, name))) != self.out_resolved]
            for name in (*filenames, *dirnames):
                self.observe(os.path.join(root, name))

    # -- discovery and readiness -----------------------------------------------------------
    def is_micrograph(self, path: str) -> bool:
        relative = os.path.relpath(path, self.acquisition)
        if relative.startswith(os.pardir) or \
                Path(os.path.realpath(os.path.dirname(path))).is_relative_to(self.out_resolved):
            return False
        return self.options.selection.matches(relative)

    def observe(self, path: str, complete: bool = False) -> None:
        """Take note of a micrograph that appeared or changed; ``complete`` when an event says its
        writer closed it or renamed it into place."""
        if not self.is_micrograph(path) or any(c.path == Path(path)
                                               for c in self.in_flight.values()):
            return
        signature, reason = probe(Path(path))
        candidate = self.pending.get(path)
        if candidate is None and path in self.handled and signature in (None, self.handled[path]):
            return  # finished earlier, and unchanged or deleted since
        if reason is not None:
            self.record_failure(path, signature, str(BadInputError(path, reason)))
            return
        now = time.monotonic()
        if candidate is None:  # gone already: a move cancels it, else it is reported as deleted
            candidate = self.pending[path] = Candidate(Path(path), *(signature or (-1, 0.0)),
                                                       changed_at=now)
        elif signature is not None and signature != candidate.signature:
            candidate.size, candidate.mtime = signature
            candidate.changed_at, candidate.complete_hint = now, False
        if complete and signature is not None:
            candidate.complete_hint = True

    def drain_events(self) -> None:
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

    def sweep(self) -> None:
        """Re-examine waiting micrographs: a change restarts the quiet period, a vanished file is
        retried and then recorded as deleted."""
        now = time.monotonic()
        for path, candidate in list(self.pending.items()):
            signature, reason = probe(candidate.path)
            if reason is not None:
                self.record_failure(path, signature, str(BadInputError(path, reason)))
            elif signature is None:
                candidate.size = -1  # missing: not submitted unless it comes back
                if now >= candidate.not_before:
                    self.retry_or_fail(candidate, str(BadInputError(
                        path, "was deleted before it could be read")))
            elif signature != candidate.signature:
                candidate.size, candidate.mtime = signature
                candidate.changed_at, candidate.complete_hint = now, False

    def is_ready(self, candidate: Candidate, now: float, wall: float) -> bool:
        quiet = self.options.quiet_seconds
        return candidate.size >= 0 and now >= candidate.not_before and (
            candidate.complete_hint or now - candidate.changed_at >= quiet
            or wall - candidate.mtime >= quiet)

    # -- work ------------------------------------------------------------------------------
    def submit_ready(self, limit: int) -> None:
        now, wall = time.monotonic(), time.time()
        for path, candidate in list(self.pending.items()):
            if len(self.in_flight) >= limit:
                return
            if not self.is_ready(candidate, now, wall):
                continue
            future = self.pool.submit(pick_file, candidate.path, self.config,
                                      self.options.image_format is not None)
            del self.pending[path]
            self.journal.mark_queued(path, candidate.size, candidate.mtime, self.digest)
            self.in_flight[future] = candidate

    def finish(self, future: Any) -> None:
        """Write the outputs of one finished micrograph and record it, or retry / record failure."""
        candidate = self.in_flight.pop(future)
        path = str(candidate.path)
        try:
            outcome: PickOutcome = future.result()
        except Exception as error:  # a worker process that died (the pool is replaced), a lost task
            outcome = lost_task(candidate.path, error)
        if outcome.picks is None:
            self.retry_or_fail(candidate, outcome.error or f"{path}: picking failed")
            return
        try:
            written = write_outputs(outcome.picks, self.options.outputs(), self.config,
                                    outcome.image8)
        except BadInputError as error:
            self.record_failure(path, candidate.signature, str(error))
            return
        except OSError as error:
            self.retry_or_fail(candidate, f"{path}: could not write outputs ({error})")
            return
        merit = outcome.picks.figure_of_merit
        self.journal.mark_done(path, len(outcome.picks), float(merit.mean()) if len(merit) else None,
                               outcome.seconds, str(written[0]), self.digest)
        self.handled[path] = candidate.signature
        self.done_picks[path] = outcome.picks
        self.combined_dirty = True
        self.done_since_report += 1
        latency = max(0.0, time.time() - candidate.mtime)
        self.recent.append((len(outcome.picks), outcome.seconds, latency))
        self.reporter.event("done", micrograph=path, picks=len(outcome.picks),
                            seconds=round(outcome.seconds, 3), latency_seconds=round(latency, 3),
                            output=str(written[0]))
        self.observe(path)  # changed while it was being picked: pick the new version too

    def retry_or_fail(self, candidate: Candidate, error: str) -> None:
        """A file that changed meanwhile was still being written: wait for it again. Otherwise
        retry with doubling back-off, then record the failure."""
        path = str(candidate.path)
        signature, _ = probe(candidate.path)
        now = time.monotonic()
        if signature is not None and signature != candidate.signature:
            candidate.size, candidate.mtime = signature
            candidate.changed_at, candidate.complete_hint = now, False
            self.pending[path] = candidate
        elif candidate.attempts < self.options.retries:
            candidate.attempts += 1
            candidate.not_before = now + self.options.retry_seconds * 2 ** (candidate.attempts - 1)
            self.pending[path] = candidate
            self.reporter.event("retry", micrograph=path, attempt=candidate.attempts, error=error)
        else:
            self.record_failure(path, signature, error)

    def record_failure(self, path: str, signature: Signature | None, error: str) -> None:
        size, mtime = signature if signature is not None else (None, None)
        self.pending.pop(path, None)
        self.journal.mark_queued(path, size, mtime, self.digest)
        self.journal.mark_failed(path, error, self.digest)
        self.handled[path] = signature
        self.failed_this_run += 1
        self.reporter.event("failed", micrograph=path, error=error)

    # -- reporting -------------------------------------------------------------------------
    def write_combined(self, force: bool = False) -> None:
        """Re-write the combined STAR from every done micrograph, atomically; spaced out to at
        least ten times the time one write takes so big sessions stay cheap."""
        now = time.monotonic()
        if not self.combined_dirty or (not force and now < self.next_combined):
            return
        started = time.monotonic()
        picks = [self.done_picks[path] for path in sorted(self.done_picks)]
        try:
            write_combined_star(picks, self.options.out_dir / COMBINED_STAR, provenance(self.config))
        except OSError as error:
            self.reporter.event("error", error=f"{self.options.out_dir / COMBINED_STAR}: could "
                                f"not write the combined STAR ({error})")
        else:
            self.combined_dirty = False
        elapsed = time.monotonic() - started
        self.next_combined = now + max(self.options.combined_every_seconds, 10 * elapsed)

    def refresh_report(self, force: bool = False) -> None:
        """Re-write OUT/report.html (atomically) every ``report_every`` picked micrographs, and at
        the end of a run that picked any."""
        every = self.options.report_every
        if not every or not self.done_since_report or \
                (not force and self.done_since_report < every):
            return
        self.done_since_report = 0
        try:
            write_report(self.options.out_dir)
        except (OSError, BadInputError) as error:
            self.reporter.event("error", error=f"{self.options.out_dir / 'report.html'}: could not "
                                f"write the session report ({error})")

    def status(self) -> WatchStatus:
        counts = self.journal.counts()
        recent = list(self.recent)

        def median(index: int) -> float | None:
            return statistics.median(item[index] for item in recent) if recent else None

        return WatchStatus(seen=len(self.handled) + len(self.pending) + len(self.in_flight),
                           done=counts["done"], failed=counts["failed"], waiting=len(self.pending),
                           in_flight=len(self.in_flight), picks_per_micrograph=median(0),
                           seconds_per_micrograph=median(1), latency_seconds=median(2))

    def heartbeat(self, running: bool) -> None:
        self.journal.set_setting(HEARTBEAT_SETTING, json.dumps({
            "pid": os.getpid(), "time": time.time(), "running": running,
            "acquisition_dir": str(self.acquisition), "waiting": len(self.pending),
            "in_flight": len(self.in_flight)}))

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped (or, with ``once``, until what existed at start is done); returns the
        number of micrographs that failed in this run."""
        self.load_journal()
        observer = None
        if not self.options.once:
            observer = (PollingObserverVFS(os.lstat, os.scandir,
                                           polling_interval=self.options.poll_seconds)
                        if self.options.polling else Observer())
            observer.schedule(_EventSink(self.events), str(self.acquisition), recursive=True)
            observer.start()  # before the scan, so nothing lands unseen in between
        limit = self.options.max_in_flight or 2 * self.pool.workers
        try:
            self.scan(self.acquisition)
            next_sweep = next_heartbeat = next_status = 0.0
            next_rescan = time.monotonic() + RESCAN_SECONDS
            while not self.stop.is_set():
                now = time.monotonic()
                self.drain_events()
                if now >= next_sweep:
                    self.sweep()
                    next_sweep = now + STAT_EVERY_SECONDS
                if observer is not None and now >= next_rescan:
                    self.scan(self.acquisition)  # a safety net for events lost to overflow
                    next_rescan = now + RESCAN_SECONDS
                if self.options.once and not self.pending and not self.in_flight:
                    break
                self.step(limit)
                self.write_combined()
                self.refresh_report()
                if now >= next_heartbeat:
                    self.heartbeat(running=True)
                    next_heartbeat = now + HEARTBEAT_SECONDS
                if now >= next_status:
                    self.reporter.status(self.status())
                    next_status = now + 0.5
            self.drain_in_flight()
        finally:
            if observer is not None:
                observer.stop()
                observer.join()
            self.write_combined(force=True)
            self.refresh_report(force=True)
            self.heartbeat(running=False)
            self.reporter.status(self.status(), force=True)
        return self.failed_this_run

    def step(self, limit: int) -> None:
        """Submit what is ready, then wait up to one tick for results and record them."""
        self.submit_ready(limit)
        if not self.in_flight:
            self.stop.wait(TICK_SECONDS)
            return
        done, _ = self.pool.wait_any(set(self.in_flight), timeout=TICK_SECONDS)
        for future in done:
            self.finish(future)

    def drain_in_flight(self) -> None:
        """On shutdown: cancel work not yet started (it stays 'queued' and is redone on restart)
        and finish what is running."""
        for future in list(self.in_flight):
            if future.cancel():
                del self.in_flight[future]
        while self.in_flight:
            done, _ = self.pool.wait_any(set(self.in_flight))
            for future in done:
                self.finish(future)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (graceful shutdown); previous handlers come back after."""
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in signals}
    for number in signals:
        signal.signal(number, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def watch(options: WatchOptions, config: PickerConfig, pool: Executor, reporter: Reporter) -> int:
    """Run the daemon on ``options.acquisition_dir`` until SIGINT/SIGTERM (or, with ``once``,
    until what exists is done). Returns the number of micrographs that failed in this run.
    Raises :class:`WatchError` when it cannot start."""
    if not options.acquisition_dir.is_dir():
        raise WatchError(f"{options.acquisition_dir}: no such folder")
    options = _absolute(options)
    with output_lock(options.out_dir), Journal(options.out_dir) as journal, \
            stop_on_signals() as stop, reporter:
        requeued = check_config_change(journal, config, options.on_config_change)
        removed = remove_stale_temporaries(options.out_dir)
        mode = "inotify events"
        if options.once:
            mode = "once"
        elif options.polling:
            mode = f"polling every {options.poll_seconds:g} s"
        reporter.event("start", message=f"watching {options.acquisition_dir} ({mode}; quiet "
                       f"{options.quiet_seconds:g} s) -> {options.out_dir}",
                       acquisition_dir=str(options.acquisition_dir),
                       out_dir=str(options.out_dir), config_digest=config.digest(),
                       requeued=requeued, stale_temporaries_removed=removed)
        watcher = Watcher(options, config, journal, pool, reporter, stop)
        try:
            failed = watcher.run()
        except sqlite3.Error as error:  # e.g. the disk is full: stop rather than lose track
            raise WatchError(f"{journal.path}: cannot update the journal ({error}); stopped, and "
                             "a restart resumes where the journal left off") from error
        counts = journal.counts()
        reporter.event("stop", message=f"stopped: {counts['done']} done, {counts['failed']} "
                       f"failed ({failed} in this run); outputs in {options.out_dir}",
                       failed_this_run=failed, **counts)
    return failed


def _absolute(options: WatchOptions) -> WatchOptions:
    """Absolute folders (not symlink-resolved, so paths match what the observer reports)."""
    return replace(options, acquisition_dir=Path(os.path.abspath(options.acquisition_dir)),
                   out_dir=Path(os.path.abspath(options.out_dir)))


@dataclass(frozen=True)
class SessionStatus:
    """A summary of an output folder's journal, for ``cryostream status``."""

    out_dir: str
    counts: dict[str, int]
    picks_total: int
    picks_per_micrograph: float | None
    seconds_per_micrograph: float | None
    daemon: dict[str, Any] | None
    daemon_running: bool
    recent_failures: list[dict[str, str]] = field(default_factory=list)


def read_status(out_dir: str | Path) -> SessionStatus:
    """Read an output folder's journal (safe while a daemon writes it)."""
    out_dir = Path(out_dir)
    with Journal(out_dir, readonly=True) as journal:
        done = journal.entries("done")
        failed = journal.entries("failed")
        counts = journal.counts()
        heartbeat = journal.get_setting(HEARTBEAT_SETTING)
    daemon = json.loads(heartbeat) if heartbeat else None
    running = bool(daemon and daemon["running"]
                   and time.time() - daemon["time"] < 3 * HEARTBEAT_SECONDS)
    picks = [entry.picks or 0 for entry in done]
    seconds = [entry.seconds for entry in done if entry.seconds is not None]
    return SessionStatus(
        out_dir=str(out_dir), counts=counts, picks_total=sum(picks),
        picks_per_micrograph=statistics.mean(picks) if picks else None,
        seconds_per_micrograph=statistics.median(seconds) if seconds else None,
        daemon=daemon, daemon_running=running,
        recent_failures=[{"micrograph": entry.path, "error": entry.error or ""}
                         for entry in failed[-5:]])
