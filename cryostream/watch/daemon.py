"""The watcher daemon: picks every micrograph that lands in an acquisition folder, exactly once.

It is a front door like ``pick``: :mod:`.discovery` finds complete micrographs, the session
(:class:`~cryostream.session.engine.Session`) picks, writes, records and cancels, and
:mod:`.reporter` tells people. What the daemon adds is time: readiness, retries with back-off for a
file that does not read yet, and the combined STAR and report refreshed as it goes. Exactly once:
each STAR is written atomically before the journal says done, and a restart asks the journal what
still needs picking.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

from ..io import BadInputError
from ..picker import Picks
from ..report import write_report
from ..session.engine import Session
from ..session.errors import OutputError, UsageError
from ..session.journal import FileState
from ..session.naming import DEFAULT_SUFFIX, micrograph_key, mirrored_path
from ..session.selection import Selection
from ..session.tasks import Task
from ..session.work import PickOutcome
from .discovery import Candidate, Discovery, EventSink, probe
from .reporter import Reporter, WatchStatus

TICK_SECONDS = 0.1
SWEEP_SECONDS = 0.25
RESCAN_SECONDS = 60.0
STATUS_SECONDS = 0.5
PAUSE_FIRST_SECONDS = 2.0
PAUSE_MAX_SECONDS = 60.0
INCOMPLETE_POLL_MAX_SECONDS = 15.0
COMBINED_COST_FACTOR = 10.0
REPORT_COST_FACTOR = 20.0


@dataclass(frozen=True)
class WatchOptions:
    """How the daemon finds and times micrographs (seconds are wall-clock seconds)."""

    acquisition_dir: Path
    selection: Selection = field(default_factory=Selection)
    suffix: str = DEFAULT_SUFFIX
    quiet_seconds: float = 3.0
    polling: bool = False
    poll_seconds: float = 1.0
    retries: int = 3
    retry_seconds: float = 1.0
    incomplete_seconds: float = 300.0
    max_in_flight: int | None = None
    combined_every_seconds: float = 10.0
    report_every: int = 25
    retry_failed: bool = False
    once: bool = False

    def describe(self) -> str:
        mode = ("once" if self.once else f"polling every {self.poll_seconds:g} s" if self.polling
                else "inotify events")
        return f"{mode}; quiet {self.quiet_seconds:g} s"


class PicksSink(Protocol):
    """Somewhere the picks go besides the output folder (e.g. a CryoSPARC External job)."""

    def publish(self, done: Mapping[str, tuple[str, Picks]]) -> None:
        """Take every micrograph done so far (journal key -> name, picks); a sink that cannot
        raises :class:`OutputError`, and the daemon reports it and goes on picking."""


@dataclass
class Every:
    """When a periodic chore is due again (monotonic seconds); with ``cost_factor`` the chore
    is also spaced out to that many times what it took last (see :meth:`measure`)."""

    seconds: float
    next: float = 0.0
    cost_factor: float = 0.0

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        self.next = now + self.seconds
        return True

    def measure(self, chore: Callable[[], object], at_least_seconds: float = 0.0) -> None:
        """Do ``chore`` now and push the next time back to ``cost_factor`` x its duration."""
        started = time.monotonic()
        chore()
        took = time.monotonic() - started
        self.next = max(self.next, started + max(at_least_seconds, self.cost_factor * took))


class Daemon:
    """The daemon's loop over one open session; see :func:`watch`."""

    def __init__(self, options: WatchOptions, session: Session, reporter: Reporter,
                 sinks: Sequence[PicksSink] = ()) -> None:
        self.options = options
        self.session = session
        self.reporter = reporter
        self.sinks = sinks
        self.sinks_behind = True
        self.out_dir = session.outputs.out_dir
        self.discovery = Discovery(options.acquisition_dir, self.out_dir, options.selection,
                                   options.quiet_seconds, self.is_wanted, self.record_bad)
        self.recent: deque[tuple[int, float, float]] = deque(maxlen=100)
        self.sweeps, self.statuses = Every(SWEEP_SECONDS), Every(STATUS_SECONDS)
        self.rescans = Every(RESCAN_SECONDS, time.monotonic() + RESCAN_SECONDS)
        self.combined = Every(0.0, cost_factor=COMBINED_COST_FACTOR)
        self.reports = Every(0.0, cost_factor=REPORT_COST_FACTOR)
        self.paused = False
        self.started = time.time()
        self.combined_dirty = True
        self.done_since_report = 0

    def task_for(self, path: str) -> Task:
        """The task of a micrograph below the acquisition folder; its outputs mirror the tree."""
        return Task(Path(path), path, mirrored_path(path, self.options.acquisition_dir,
                                                    self.out_dir, self.options.suffix))

    def is_wanted(self, path: str, state: FileState | None) -> bool:
        """Whether ``path`` still needs picking (a micrograph whose outputs cannot be placed is
        recorded as failed, once: its name, not its content, is the problem)."""
        try:
            return self.session.needs_picking(self.task_for(path), state)
        except UsageError as error:
            entry = self.session.journal.entry(micrograph_key(path))
            if entry is None or entry.status != "failed" or entry.error != str(error):
                self.session.fail_file(Path(path), path, str(error), state)
            return False

    def record_bad(self, path: str, reason: str) -> None:
        self.session.fail_file(Path(path), path, str(BadInputError(path, reason)))

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        """Run until a stop is requested (or, with ``once``, until what existed at start is done);
        returns the number of micrographs that failed in this run."""
        for entry in self.session.journal.entries("queued"):  # in flight at a crash
            self.discovery.observe(entry.name or entry.path)
        observer = None if self.options.once else self._observer()
        try:
            self.discovery.scan()
            self._loop()
            while self.session.in_flight and not self.session.cancel.forced and not self.paused:
                self.finish(TICK_SECONDS)
            if self.paused:  # what is being picked stays queued in the journal for the next run
                self.session.stop(record=False)
        finally:
            if observer is not None:
                observer.stop()
                observer.join()
            self.publish()
            self.refresh_report(force=True)
            self.reporter.status(self.status(), force=True)
        return len(self.session.summary.failed)

    def _observer(self) -> BaseObserver:
        """Start watching before the first scan, so nothing lands unseen in between."""
        observer: BaseObserver = (
            PollingObserverVFS(os.lstat, os.scandir, polling_interval=self.options.poll_seconds)
            if self.options.polling else Observer())
        observer.schedule(EventSink(self.discovery.events), str(self.options.acquisition_dir),
                          recursive=True)
        observer.start()
        return observer

    def _loop(self) -> None:
        while not self.session.cancel.reason:
            try:
                self._step()
            except OutputError as error:
                self.pause(error)
            if self.options.once and self.discovery.only_held() and not self.session.in_flight:
                return

    def _step(self) -> None:
        """One turn of the loop: events, readiness, submitting, recording, telling people."""
        now = time.monotonic()
        self.discovery.drain_events()
        if self.sweeps.due(now):
            self.sweep()
        if not self.options.once and self.rescans.due(now):
            self.discovery.scan()  # a safety net for events lost to overflow
        self.submit_ready()
        if self.session.in_flight:
            self.finish(TICK_SECONDS)
        else:
            time.sleep(TICK_SECONDS)
        self.keep_others_informed(self.statuses.due(now))

    def pause(self, error: OutputError) -> None:
        """The output side failed (a full disk, a read-only remount): stop starting micrographs,
        keep noting new ones, say so every minute, and resume by itself once a test write to the
        output folder and the journal succeeds (tried with doubling back-off up to a minute)."""
        self.paused = True
        self.reporter.event("paused", error=str(error), message=f"paused: {error}; picking "
                            "resumes by itself when the output folder can be written again")
        said, delay = time.monotonic(), PAUSE_FIRST_SECONDS
        while not self.session.cancel.reason:
            resume_at = time.monotonic() + delay
            while time.monotonic() < resume_at and not self.session.cancel.reason:
                self.discovery.drain_events()
                time.sleep(TICK_SECONDS)
            try:
                self.session.check_output()
            except OutputError as still:
                delay = min(2 * delay, PAUSE_MAX_SECONDS)
                if time.monotonic() - said >= PAUSE_MAX_SECONDS:
                    said = time.monotonic()
                    self.reporter.event("paused", error=str(still), message=f"still paused: {still}")
                continue
            self.paused = False
            self.reporter.event("resumed", message=f"resumed: {self.out_dir} can be written again")
            return

    def sweep(self) -> None:
        """Retry, then record, the waiting micrographs that vanished."""
        for gone in self.discovery.sweep():
            self.retry_or_fail(gone, f"{gone.path}: was deleted before it could be read",
                               gone.state)

    def keep_others_informed(self, status_due: bool) -> None:
        """The combined STAR and the report for people and other programs, the heartbeat for
        ``status``, and the status line when due."""
        self.write_combined()
        self.refresh_report()
        self.session.heartbeat(acquisition_dir=str(self.options.acquisition_dir),
                               waiting=len(self.discovery.pending))
        if status_due:
            self.reporter.status(self.status())

    def submit_ready(self) -> None:
        limit = self.options.max_in_flight or self.session.executor.capacity
        for candidate in self.discovery.ready():
            if len(self.session.in_flight) >= limit:
                return
            path = str(candidate.path)
            try:
                task = self.task_for(path)
            except UsageError as error:
                self.discovery.pending.pop(path, None)
                self.session.fail_file(candidate.path, path, str(error), candidate.state)
                continue
            # first: if the journal cannot take it, it stays waiting
            if not self.session.submit(task, wait_for_diameter=True):
                self.discovery.hold(candidate)
                continue
            self.discovery.start_picking(candidate)
            if self.discovery.held:  # the diameter is measured: what waited for it is due
                self.discovery.release_held()

    def finish(self, timeout: float) -> None:
        """Record the micrographs that finished within ``timeout`` seconds, or retry them."""
        for task, state, outcome in self.session.collect(timeout):
            candidate = self.discovery.finish_picking(str(task.path))
            if outcome.picks is None:
                self.retry_or_fail(candidate, outcome.error or f"{task.path}: picking failed", state,
                                   outcome.incomplete)
                continue
            latency = time.time() - max(candidate.seen_at, candidate.state.mtime
                                        if candidate.state else 0.0, self.started)
            try:
                done = self.session.record(task, outcome, state, latency_seconds=round(latency, 3))
            except OutputError:
                self.discovery.wait_again(candidate)  # picked again once outputs can be written
                raise
            if done:
                self._done(outcome, latency)
            self.discovery.observe(str(task.path))  # changed while it was picked: pick it again

    def _done(self, outcome: PickOutcome, latency: float) -> None:
        picks = len(outcome.picks) if outcome.picks is not None else 0
        self.recent.append((picks, outcome.seconds, latency))
        self.combined_dirty = True
        self.sinks_behind = True
        self.done_since_report += 1

    def retry_or_fail(self, candidate: Candidate, error: str, state: FileState | None,
                      incomplete: bool = False) -> None:
        """A file that changed meanwhile was still being written: wait for it again. One that
        looks incomplete (short, or a zero-filled tail) is waited for, polled with back-off, until
        it has not changed for ``incomplete_seconds``. Otherwise retry with doubling back-off, then
        record the failure."""
        current, _ = probe(candidate.path)
        now = time.monotonic()
        if current is not None and current != state:
            candidate.update(current, now)
            self.discovery.wait_again(candidate)
        elif incomplete and now - candidate.changed_at < self.options.incomplete_seconds:
            if not candidate.waits:
                self.reporter.event("waiting", micrograph=str(candidate.path), reason=error)
            candidate.waits += 1
            self.discovery.wait_again(candidate, min(self.options.retry_seconds * 2 ** candidate.waits,
                                                     INCOMPLETE_POLL_MAX_SECONDS))
        elif candidate.attempts < self.options.retries:
            candidate.attempts += 1
            self.discovery.wait_again(candidate, self.options.retry_seconds
                                      * 2 ** (candidate.attempts - 1))
            self.reporter.event("retry", micrograph=str(candidate.path), attempt=candidate.attempts,
                                error=error)
        else:
            self.discovery.pending.pop(str(candidate.path), None)
            self.session.fail_file(candidate.path, str(candidate.path), error, state)

    # -- what it writes besides the picks ---------------------------------------------------
    def write_combined(self) -> None:
        """Re-write the combined STAR when picks were added, spaced out to at least ten times
        what one write takes so big sessions stay cheap."""
        if self.combined_dirty and self.combined.due(time.monotonic()):
            self.combined.measure(self.session.write_combined, self.options.combined_every_seconds)
            self.combined_dirty = False
            self.publish()

    def publish(self) -> None:
        """Hand the sinks every micrograph done so far, when some are new since last time."""
        if not self.sinks_behind:
            return
        self.sinks_behind = False
        for sink in self.sinks:
            try:
                sink.publish(self.session.done_picks)
            except OutputError as error:
                self.reporter.event("error", error=f"could not publish the picks: {error}")

    def refresh_report(self, force: bool = False) -> None:
        """Re-write OUT/report.html every ``report_every`` picked micrographs, spaced out to at
        least twenty times what one report takes (it renders plots: in a burst it would slow the
        picking down), and at the end of a run that picked any."""
        every = self.options.report_every
        if not every or not self.done_since_report or (not force and (
                self.done_since_report < every or not self.reports.due(time.monotonic()))):
            return
        self.done_since_report = 0
        try:
            self.reports.measure(lambda: write_report(self.out_dir))
        except (OSError, BadInputError) as error:
            self.reporter.event("error", error=f"{self.out_dir / 'report.html'}: could not write "
                                f"the session report ({error})")

    def status(self) -> WatchStatus:
        counts = self.session.journal.counts()
        recent = list(self.recent)

        def median(index: int) -> float | None:
            return statistics.median(item[index] for item in recent) if recent else None

        waiting, picking = len(self.discovery.pending), len(self.discovery.picking)
        return WatchStatus(seen=counts["done"] + counts["failed"] + waiting, done=counts["done"],
                           failed=counts["failed"], waiting=waiting, in_flight=picking,
                           picks_per_micrograph=median(0), seconds_per_micrograph=median(1),
                           latency_seconds=median(2))


def watch(options: WatchOptions, session: Session, reporter: Reporter,
          sinks: Sequence[PicksSink] = ()) -> int:
    """Run the daemon on ``options.acquisition_dir`` with an open ``session`` until a stop is
    requested (or, with ``once``, until what exists is done), publishing to ``sinks`` after each
    refresh of the combined STAR and at the end. Returns the number of micrographs that failed
    in this run."""
    if options.retry_failed:
        session.journal.requeue_failed()
    reporter.event("start", message=f"watching {options.acquisition_dir} ({options.describe()}) "
                   f"-> {session.outputs.out_dir}", acquisition_dir=str(options.acquisition_dir),
                   out_dir=str(session.outputs.out_dir), config_digest=session.digest,
                   requeued=session.requeued, stale_temporaries_removed=session.stale_removed)
    daemon = Daemon(options, session, reporter, sinks)
    failed = daemon.run()
    counts = session.journal.counts()
    held = len(daemon.discovery.held)
    waiting = (f"; {held} wait for a diameter (--diameter auto found no particle-like signal in "
               "them), picked by a run that measures it" if held else "")
    reporter.event("stop", message=f"stopped: {session.summary.picked} picked and {failed} "
                   f"failed in this run; {counts['done']} done and {counts['failed']} failed in "
                   f"all{waiting}; outputs in {session.outputs.out_dir}",
                   picked_this_run=session.summary.picked, failed_this_run=failed,
                   waiting_for_diameter=held, reason=session.cancel.reason, **counts)
    return failed

