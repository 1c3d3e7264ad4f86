"""``cryostream watch`` (the live daemon over a session) and ``cryostream status``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ..session.cancel import Cancellation
from ..session.errors import UsageError
from ..session.naming import DEFAULT_SUFFIX, check_suffix
from ..session.policy import check_choice
from ..session.selection import Selection
from ..session.status import SessionStatus, read_status
from .common import (
    BoxOption,
    ConfigOption,
    DiameterRangeOption,
    ExcludeOption,
    ExecutorOption,
    ImageFormatOption,
    IncludeOption,
    MeasuredDiameterOption,
    OnConfigChangeOption,
    OutOption,
    PixelSizeOption,
    PresetOption,
    SchedulerOption,
    SuffixOption,
    ThresholdOption,
    WorkersOption,
    add_command,
    console,
    executor_choice,
    output_options,
    session_config,
)

AcquisitionArgument = Annotated[Path, typer.Argument(
    help="The microscope's output folder, followed recursively (EPU Images-Disc*/GridSquare_*/"
    "Data, SerialEM flat folders).")]
QuietOption = Annotated[float, typer.Option(
    help="A file counts as complete once it has not changed for this many seconds, unless a "
    "close-after-write or rename event says so sooner.")]
PollingOption = Annotated[bool, typer.Option(
    "--polling", help="Poll the folder instead of using inotify: needed on NFS/CIFS mounts, where "
    "file events from other machines are not seen.")]
PollSecondsOption = Annotated[float, typer.Option(help="Seconds between polls with --polling.")]
RetriesOption = Annotated[int, typer.Option(
    min=0, help="Times a file that fails to read is tried again (with doubling back-off) before "
    "it is recorded as failed.")]
RetrySecondsOption = Annotated[float, typer.Option(help="First back-off in seconds.")]
IncompleteSecondsOption = Annotated[float, typer.Option(
    help="A file that looks still written (shorter than its header says, or a zero-filled tail "
    "of a pre-allocated file) is waited for until it has not changed for this many seconds, "
    "then recorded as failed.")]
RetryFailedOption = Annotated[bool, typer.Option(
    "--retry-failed", help="Try micrographs that failed in earlier runs again.")]
OnceOption = Annotated[bool, typer.Option(
    "--once", help="Pick what is there now and exit (exit code 1 if any micrograph failed).")]
LogJsonOption = Annotated[bool, typer.Option(
    "--log-json", help="Write one JSON object per event to stdout instead of the status line.")]
MaxInFlightOption = Annotated[int | None, typer.Option(
    min=1, help="Micrographs handed to workers at once (default: one per worker); the rest wait "
    "as file names, so a burst of thousands costs little memory.")]
CryoSPARCOption = Annotated[str | None, typer.Option(
    "--cryosparc", help="Also publish the picks into a CryoSPARC External job after each refresh "
    "of particles.star: PROJECT/WORKSPACE/JOB.OUTPUT of the exposures that are these "
    "micrographs, e.g. P3/W1/J12.exposures_accepted; the instance and login come from the "
    "CRYOSPARC_* variables (integrations/cryosparc/README.md).")]
ReportEveryOption = Annotated[int, typer.Option(
    min=0, help="Re-write OUT/report.html (the session report) every this many picked "
    "micrographs and at exit; 0 turns it off.")]


def watch(acquisition_dir: AcquisitionArgument, out: OutOption = Path("picks"),
          diameter: MeasuredDiameterOption = None, diameter_range: DiameterRangeOption = None,
          pixel_size: PixelSizeOption = None,
          preset_name: PresetOption = "default", config_file: ConfigOption = None,
          threshold: ThresholdOption = None, include: IncludeOption = None,
          exclude: ExcludeOption = None, quiet_seconds: QuietOption = 3.0,
          polling: PollingOption = False, poll_seconds: PollSecondsOption = 1.0,
          retries: RetriesOption = 3, retry_seconds: RetrySecondsOption = 1.0,
          incomplete_seconds: IncompleteSecondsOption = 300.0,
          on_config_change: OnConfigChangeOption = "abort",
          retry_failed: RetryFailedOption = False, once: OnceOption = False,
          log_json: LogJsonOption = False, suffix: SuffixOption = DEFAULT_SUFFIX,
          box: BoxOption = False, image_format: ImageFormatOption = None,
          workers: WorkersOption = None, max_in_flight: MaxInFlightOption = None,
          report_every: ReportEveryOption = 25, executor: ExecutorOption = "local",
          scheduler: SchedulerOption = None, cryosparc: CryoSPARCOption = None) -> None:
    """Pick every micrograph that lands in ACQUISITION_DIR, as it lands, until Ctrl-C/SIGTERM.

    Writes the same outputs as pick (coordinates in pixels of the original micrograph; diameter
    in Å), keeps a journal in OUT so a restart (even after kill -9) resumes without losing or
    repeating a micrograph, and re-writes OUT/particles.star every few seconds (with --cryosparc
    the picks also go into a CryoSPARC External job). See `cryostream status OUT`.
    """
    from integrations.cryosparc.live import publishers

    from ..session.engine import Session  # loads the picker: not for --help
    from ..session.tasks import SessionOptions
    from ..watch.daemon import WatchOptions
    from ..watch.daemon import watch as run_daemon
    from ..watch.reporter import Reporter

    if not acquisition_dir.is_dir():
        raise UsageError(f"{acquisition_dir}: " + ("is a file; give the acquisition folder"
                                                    if acquisition_dir.exists() else "no such folder"))
    config, measured = session_config(diameter, diameter_range, preset_name, config_file,
                                      threshold)
    daemon_options = WatchOptions(
        Path(os.path.abspath(acquisition_dir)), Selection.from_options(include, exclude),
        check_suffix(suffix), quiet_seconds, polling, poll_seconds, retries, retry_seconds,
        incomplete_seconds, max_in_flight, report_every=report_every, retry_failed=retry_failed,
        once=once)
    options = SessionOptions("watch", output_options(Path(os.path.abspath(out)), box, image_format),
                             check_choice(on_config_change), pixel_size, retry_failed=False,
                             auto_diameter=measured)
    cancel = Cancellation()
    with cancel.handling_signals(), Reporter(console, log_json) as reporter, \
            executor_choice(executor, workers, scheduler).open() as pool, \
            Session(options, config, pool, cancel, reporter.session_event) as session, \
            publishers(cryosparc, config) as sinks:
        failed = run_daemon(daemon_options, session, reporter, sinks)
    if once and failed:
        raise typer.Exit(1)


def status(
    out: Annotated[Path, typer.Argument(help="Output folder of a pick, watch, RELION or "
                                       "CryoSPARC run.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Summarise an output folder's journal: micrographs done / failed / queued, picks, seconds
    per micrograph, recent failures and whether a session is running (safe while it runs)."""
    session = read_status(out)
    typer.echo(json.dumps(asdict(session), indent=2) if as_json else status_text(session))


def status_text(status: SessionStatus) -> str:
    counts, beat = status.counts, status.session
    state = "none recorded"
    if beat and status.running:
        state = f"{beat['kind']} running (pid {beat['pid']})"
    elif beat:
        state = f"{beat['kind']}, not running (last seen {time.ctime(beat['time'])})"

    def figure(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"{status.out_dir}: {counts['done']} done, {counts['failed']} failed, "
             f"{counts['queued']} queued",
             f"picks: {status.picks_total} in all, {figure(status.picks_per_micrograph, 1)} per "
             f"micrograph; {figure(status.seconds_per_micrograph, 2)} s per micrograph (median, "
             "one worker)", f"session: {state}"]
    return "\n".join(lines + [f"failed: {failure['error']}" for failure in status.recent_failures])


def register(app: typer.Typer) -> None:
    add_command(app, watch, "Pick each micrograph as it lands in an acquisition folder.")
    add_command(app, status, "How far along an output folder is.")
