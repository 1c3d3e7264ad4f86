"""One session over an output folder: the loop every front door drives.

A front door turns its inputs into :class:`Task` s (the file, the name outputs give it, its
coordinate STAR, the host's pixel size) and hands them to a :class:`Session`, which holds the
folder (lock, journal, configuration policy), skips what is already done, picks the rest on the
executor, writes each micrograph's outputs atomically and records them, checks for cancellation
between every micrograph, and writes the combined particles STAR from the journal. A daemon drives
the same pieces (:meth:`Session.submit`, :meth:`Session.collect`, :meth:`Session.record`) at its
own pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ..config import PickerConfig
from ..diameter import DiameterEstimate
from ..io import BadInputError
from ..picker import Picks
from .cancel import Cancellation
from .errors import (
    OutputError,
    check_output_folder,
    check_writable,
    describe,
    is_filesystem_error,
    output_boundary,
)
from .executor import Executor
from .folder import HEARTBEAT_SECONDS, output_lock, remove_stale_temporaries, write_heartbeat
from .journal import Entry, FileState, Journal, journal_path
from .naming import micrograph_key
from .outputs import picks_from_star, write_combined, write_outputs
from .policy import apply_config_policy, record_configuration
from .preflight import check_first_micrograph
from .sizing import AutoDiameter, measure_files, measured_config, unmeasured
from .tasks import SessionOptions, Summary, Task
from .work import PickOutcome, lost_task, pick_file

TICK_SECONDS = 0.1
EventSink = Callable[[str, dict[str, Any]], None]


class Session:
    """A picking session over ``options.outputs.out_dir``; use it as a context manager."""

    def __init__(self, options: SessionOptions, config: PickerConfig, executor: Executor,
                 cancel: Cancellation | None = None, on_event: EventSink | None = None) -> None:
        self.options = options
        self.outputs = options.outputs
        self.config = config
        self.digest = config.digest()
        self.executor = executor
        self.cancel = cancel or Cancellation()
        self.on_event = on_event or (lambda kind, fields: None)
        self.summary = Summary()
        self.in_flight: dict[Future, tuple[Task, FileState | None, Entry | None]] = {}
        self.done_picks: dict[str, tuple[str, Picks]] = {}
        self.requeued = self.stale_removed = 0
        self._stack = ExitStack()
        self._next_heartbeat = 0.0
        self.checked_first = self.config_recorded = False
        self.journal: Journal
        self.sizing: AutoDiameter | None = None

    # -- opening and closing the folder ------------------------------------------------------
    def __enter__(self) -> Session:
        out_dir = self.outputs.out_dir
        check_output_folder(out_dir)
        try:
            self._stack.enter_context(output_lock(out_dir, self.options.kind))
            with output_boundary(journal_path(out_dir), "open the journal"):
                self.journal = self._stack.enter_context(Journal(out_dir))
                self._restore_diameter()
                self.requeued = apply_config_policy(self.journal, self.config,
                                                    self.options.on_config_change,
                                                    self.diameter_mode, record=False)
                self.heartbeat()
                self.stale_removed = remove_stale_temporaries(out_dir)
            if self.outputs.combined_star:
                self._load_done_picks()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        try:
            self.stop(record=error is None)
            self._finish(raise_errors=error is None)
        finally:
            self._stack.close()

    @property
    def diameter_mode(self) -> str:
        """How the diameter is chosen, for the configuration policy: ``given`` or
        ``auto (MIN-MAX Å)``."""
        if self.options.auto_diameter is None:
            return "given"
        low, high = self.options.auto_diameter
        return f"auto ({low:g}-{high:g} Å)"

    def _restore_diameter(self) -> None:
        """With ``--diameter auto``: go on from the measurement in the journal (not on redo)."""
        if self.options.auto_diameter is None:
            return
        self.sizing = (AutoDiameter(self.options.auto_diameter)
                       if self.options.on_config_change == "redo"
                       else AutoDiameter.restore(self.journal, self.options.auto_diameter))
        if self.sizing.estimate is not None:
            self._pick_at(self.sizing.estimate)

    def _pick_at(self, estimate: DiameterEstimate) -> None:
        self.config = measured_config(self.config, estimate)
        self.digest = self.config.digest()

    def measure_diameter(self, tasks: list[Task], strict: bool = False) -> str | None:
        """With ``--diameter auto`` and fewer than the sample measured: measure the diameter on
        (a spread of) ``tasks`` on a worker, and pick at the estimate from now on when it moved
        beyond the dead band. Returns the one-line reason when it could not be measured (an
        unreadable file, no particle-like signal); with ``strict`` (a batch's up-front sample)
        a sample without signal is followed by another, and no signal in any before an estimate
        is a :class:`UsageError`."""
        sizing = self.sizing
        sample = [] if sizing is None else [tasks[index] for index in
                                             sizing.sample([task.key for task in tasks])]
        if sizing is None or not sample:
            return None
        if not self.checked_first:
            self.check_first(sample[0])
        try:
            estimate = self._on_worker(
                measure_files, [str(task.path) for task in sample],
                [self.options.pixel_size_angstrom or task.pixel_size_angstrom for task in sample],
                sizing.range_angstrom, sizing.evidence, self.config)
        except ValueError as error:  # also BadInputError
            sizing.tried = (*sizing.tried, *(task.key for task in sample))
            if strict and sizing.may_try_again([task.key for task in tasks]):
                return self.measure_diameter(tasks, strict)  # the next sample, up to a few
            return unmeasured(error, sample, strict and sizing.estimate is None,
                              len(sizing.tried) - len(sample))
        if estimate is None:  # cancelled while measuring
            return None
        if sizing.update(estimate, [task.key for task in sample]):
            self._pick_at(estimate)
        with output_boundary(self.journal.path):
            sizing.save(self.journal)
            record_configuration(self.journal, self.config, self.diameter_mode)
        self.config_recorded = True
        self.on_event("diameter", {"message": sizing.describe(),
                                   "diameter_angstrom": self.config.diameter_angstrom})
        if caution := sizing.caution():
            self.on_event("warning", {"message": caution})
        return None

    def _on_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the executor, waited for while watching for cancellation (None when
        cancelled); its exception is raised here."""
        future = self.executor.submit(fn, *args)
        while not self.executor.wait_any({future}, TICK_SECONDS)[0]:
            if self.cancel.reason:
                return None
        return future.result()

    def provenance_notes(self) -> list[str]:
        """Extra STAR header lines: how the diameter was measured (``--diameter auto``)."""
        return [] if self.sizing is None else [f"diameter_source: {self.sizing.describe()}"]

    def _load_done_picks(self) -> None:
        """The picks of every micrograph finished earlier, for the combined STAR, also of those
        queued again to be redone (their STARs stay until replaced, so the combined STAR never
        empties at start-up). A STAR that is gone or unreadable is picked again (see
        :meth:`needs_picking`)."""
        for entry in self.journal.entries():
            if entry.output and entry.status != "failed":
                try:
                    picks = picks_from_star(Path(entry.output), entry.path)
                except (BadInputError, OSError):
                    continue
                self.done_picks[entry.path] = (entry.name or entry.path, picks)

    def _finish(self, raise_errors: bool) -> None:
        """Write the combined STAR from the journal and say the session stopped; after an error,
        as far as the output folder allows (the next run rebuilds the combined STAR)."""
        try:
            with output_boundary(self.outputs.out_dir):
                if self.outputs.combined_star:
                    self.write_combined()
                self.heartbeat(running=False)
        except OutputError:
            if raise_errors:
                raise

    def heartbeat(self, running: bool = True, **details: Any) -> None:
        """Tell ``status`` the session is alive (at most every few seconds unless it stops)."""
        now = time.monotonic()
        if running and now < self._next_heartbeat:
            return
        self._next_heartbeat = now + HEARTBEAT_SECONDS
        with output_boundary(self.journal.path):
            write_heartbeat(self.journal, self.options.kind, running,
                            in_flight=len(self.in_flight), **details)

    def check_output(self) -> None:
        """Raise :class:`OutputError` unless the output folder takes a new file and the journal
        takes a write (after a full disk or a read-only remount)."""
        check_writable(self.outputs.out_dir / ".cryostream-write-test")
        self._next_heartbeat = 0.0
        self.heartbeat()

    def write_combined(self) -> Path:
        """Write ``particles.star`` with every pick finished so far, atomically."""
        return write_combined(self.done_picks.values(), self.outputs.out_dir, self.config,
                              self.provenance_notes())

    # -- one micrograph ----------------------------------------------------------------------
    def needs_picking(self, task: Task, state: FileState | None = None) -> bool:
        """Whether ``task`` is to be picked: not done yet, changed since, its output gone or
        elsewhere, or failed earlier (when failures are retried)."""
        entry = self.journal.entry(task.key)
        if entry is None or entry.status == "queued":
            return True
        state = state or FileState.of(task.path)
        if entry.status == "failed":
            return self.options.retry_failed or entry.state != state
        return (entry.state != state or entry.output != str(task.star)
                or not task.star.is_file())

    def submit(self, task: Task, wait_for_diameter: bool = False) -> bool:
        """Mark ``task`` queued in the journal and start picking it; True when it started. The
        first task's header is checked against the parameters before anything is picked (see
        :mod:`.preflight`). With ``--diameter auto`` and no estimate yet, ``task`` is measured
        first; when that finds no particle-like signal either, it is recorded as failed, or with
        ``wait_for_diameter`` (a watcher, whose later micrographs may show one) left unrecorded
        and False returned, so it can be submitted again once the diameter is measured."""
        if not self.checked_first:
            self.check_first(task)
        why_unmeasured = self.measure_diameter([task])
        if self.sizing is not None and self.sizing.estimate is None:
            reason = why_unmeasured or f"{task.path}: diameter not measured"
            if self.cancel.reason:
                return False
            if wait_for_diameter:
                self.on_event("waiting", {"micrograph": task.name, "reason": f"{reason}; "
                                          "picked once a later micrograph gives the diameter"})
            else:
                self.fail(task, reason)
            return False
        state = FileState.of(task.path)
        before = self.journal.entry(task.key)
        with output_boundary(self.journal.path):
            if not self.config_recorded:
                record_configuration(self.journal, self.config, self.diameter_mode)
                self.config_recorded = True
            self.journal.mark_queued(task.key, task.name, state, self.digest)
        pixel_size = self.options.pixel_size_angstrom or task.pixel_size_angstrom
        future = self.executor.submit(pick_file, str(task.path), self.config, pixel_size,
                                      self.outputs.image_format is not None)
        self.in_flight[future] = (task, state, before)
        return True

    def check_first(self, task: Task) -> None:
        """Check the diameter and pixel size against ``task``'s header, once per session (raising
        :class:`UsageError`), and tell people what they should know as ``warning`` events. A
        header that cannot be read leaves the check to the next task."""
        try:
            notes = check_first_micrograph(task.path, None if self.sizing else
                                           self.config.diameter_angstrom,
                                           self.options.pixel_size_angstrom,
                                           task.pixel_size_angstrom)
        except BadInputError:
            return
        self.checked_first = True
        for note in notes:
            self.on_event("warning", {"micrograph": task.name, "message": note})

    def collect(self, timeout: float | None) -> list[tuple[Task, FileState | None, PickOutcome]]:
        """Wait up to ``timeout`` seconds for picks to finish; return them, not yet recorded. Work
        that was cancelled, or lost because the session is stopping, is left recorded as queued."""
        done, _ = self.executor.wait_any(set(self.in_flight), timeout)
        finished = []
        for future in done:
            task, state, _ = self.in_flight.pop(future)
            try:
                outcome = future.result()
            except CancelledError:
                continue
            except Exception as error:  # a worker died, the pool broke, the scheduler went away
                if self.cancel.reason:
                    continue
                outcome = lost_task(task.path, error)
            finished.append((task, state, outcome))
        return finished

    def record(self, task: Task, outcome: PickOutcome, state: FileState | None = None,
               **details: Any) -> bool:
        """Write a finished micrograph's outputs atomically and mark it done, or record its
        failure; True when done (``details`` go into the ``done`` event). A failure of the output
        file system itself (disk full, read-only) raises :class:`OutputError` instead, since
        every later micrograph would fail the same way."""
        if outcome.picks is None:
            self.fail(task, outcome.error or f"{task.path}: picking failed", state)
            return False
        owner = self.journal.output_owner(str(task.star))
        if owner not in (None, task.key):
            self.fail(task, f"{task.path}: its output {task.star} is already the output of "
                      f"{owner}", state)
            return False
        try:
            written = write_outputs(outcome.picks, task.star, self.outputs, self.config,
                                    outcome.image8, self.provenance_notes())
        except OSError as error:
            if is_filesystem_error(error):
                raise OutputError(error.filename or task.star,
                                  f"cannot write ({describe(error)})") from error
            self.fail(task, f"{task.path}: could not write outputs ({describe(error)}: "
                      f"{error.filename or task.star})", state)
            return False
        merit = outcome.picks.figure_of_merit
        with output_boundary(self.journal.path):
            self.journal.mark_done(task.key, len(merit), float(merit.mean()) if len(merit) else None,
                                   outcome.seconds, str(written[0]), self.digest)
        self.done_picks[task.key] = (task.name, outcome.picks)
        self.summary.picked += 1
        self.summary.particles += len(merit)
        self.summary.seconds.append(outcome.seconds)
        self.on_event("done", {"micrograph": task.name, "picks": len(merit),
                               "seconds": round(outcome.seconds, 3), "output": str(written[0]),
                               **details})
        return True

    def fail(self, task: Task, error: str, state: FileState | None = None) -> None:
        """Record that ``task`` cannot be picked, with the one-line reason and the state of the
        file that was tried (default: as it is now)."""
        self.fail_file(task.path, task.name, error, state)

    def fail_file(self, path: Path, name: str, error: str, state: FileState | None = None) -> None:
        """Record that the file at ``path`` cannot be picked (also one that has no output name,
        such as a folder named like a micrograph)."""
        key = micrograph_key(path)
        with output_boundary(self.journal.path):
            self.journal.mark_queued(key, name, state or FileState.of(path), self.digest)
            self.journal.mark_failed(key, error, self.digest)
        self.done_picks.pop(key, None)
        self.summary.failed.append(error)
        self.on_event("failed", {"micrograph": name, "error": error})

    # -- a batch ------------------------------------------------------------------------------
    def run(self, tasks: Iterable[Task]) -> Summary:
        """Pick every task not already done, at most one per worker at a time, checking for
        cancellation before each micrograph starts and while waiting; returns the summary."""
        todo = []
        for task in tasks:
            if self.needs_picking(task):
                todo.append(task)
            else:
                self.summary.already_done += 1
        self.on_event("start", {"to_pick": len(todo), "already_done": self.summary.already_done})
        self.measure_diameter(todo, strict=True)
        capacity = self.executor.capacity
        for task in todo:
            while len(self.in_flight) >= capacity and not self.cancel.reason:
                self.record_finished(TICK_SECONDS)
            if self.cancel.reason:
                break
            self.submit(task)
        while self.in_flight and not self.cancel.reason:
            self.record_finished(TICK_SECONDS)
        self.summary.cancelled = self.cancel.reason
        self.summary.finished = time.monotonic()
        return self.summary

    def record_finished(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds and record whatever finished."""
        for task, state, outcome in self.collect(timeout):
            self.record(task, outcome, state)
        self.heartbeat()

    def stop(self, record: bool = True) -> None:
        """Cancel work not started (its journal row goes back to what it was, so the next run
        picks it as it would have); wait for work being picked and record it, unless ``record``
        is off or a second signal asked to stop now (that work stays queued, to be redone)."""
        for future in list(self.in_flight):
            if future.cancel():
                task, _, row_before = self.in_flight.pop(future)
                with output_boundary(self.journal.path):
                    self.journal.restore(task.key, row_before)
        while record and self.in_flight and not self.cancel.forced:
            self.record_finished(TICK_SECONDS)
        if self.in_flight:
            self.executor.terminate()
            self.in_flight.clear()
