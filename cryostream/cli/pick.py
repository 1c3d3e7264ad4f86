"""``cryostream pick`` (a batch session over files, folders and globs) and ``cryostream demo``."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..session.errors import UsageError
from ..session.naming import DEFAULT_SUFFIX, check_suffix
from ..session.policy import check_choice
from ..session.selection import Selected, Selection, select_inputs
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
    warn,
)

if TYPE_CHECKING:
    from ..session.engine import EventSink
    from ..session.tasks import Summary

InputsArgument = Annotated[list[str], typer.Argument(
    help="Micrograph files (MRC, PNG, JPEG, TIFF), folders (searched "
    "recursively for exposures) or globs.")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="List what would be picked and why the rest is skipped; pick nothing.")]
SKIPPED_EXAMPLES = 3


def pick(inputs: InputsArgument, out: OutOption = Path("picks"),
         diameter: MeasuredDiameterOption = None, diameter_range: DiameterRangeOption = None,
         pixel_size: PixelSizeOption = None, preset_name: PresetOption = "default",
         config_file: ConfigOption = None, threshold: ThresholdOption = None,
         include: IncludeOption = None, exclude: ExcludeOption = None,
         dry_run: DryRunOption = False, on_config_change: OnConfigChangeOption = "abort",
         suffix: SuffixOption = DEFAULT_SUFFIX, box: BoxOption = False,
         image_format: ImageFormatOption = None, workers: WorkersOption = None,
         executor: ExecutorOption = "local", scheduler: SchedulerOption = None) -> None:
    """Pick particles in micrographs and write RELION/CryoSPARC coordinate files.

    Writes OUT/<folders below the inputs' common folder>/<micrograph>_autopick.star (x, y in
    pixels of the original micrograph; diameter in Å) and OUT/particles.star with every pick.
    Micrographs already picked into OUT with the same parameters are skipped.
    """
    from ..session.batch import mirrored_tasks, run_batch  # loads the picker: not for --help
    from ..session.tasks import SessionOptions

    config, measured = session_config(diameter, diameter_range, preset_name, config_file,
                                      threshold)
    selected = select_inputs(inputs, Selection.from_options(include, exclude), out)
    if dry_run:
        show_selection(selected)
        return
    if not selected.micrographs:
        raise UsageError(f"no micrographs found in {' '.join(inputs)}{skipped_mostly(selected)}; "
                         "see --dry-run")
    out_dir = Path(os.path.abspath(out))  # the journal records outputs wherever it is read from
    tasks = mirrored_tasks(selected, out_dir, check_suffix(suffix))
    options = SessionOptions("pick", output_options(out_dir, box, image_format),
                             check_choice(on_config_change), pixel_size,
                             auto_diameter=measured)
    with progress_bar(len(tasks)) as on_event:
        summary = run_batch(options, config, tasks, executor_choice(executor, workers, scheduler),
                            on_event=on_event).summary
    finish(summary, out)


@contextmanager
def progress_bar(total: int) -> Iterator[EventSink]:
    """A transient progress bar (on a terminal) advanced by the session's events, with failures
    and warnings printed as they happen."""
    progress = Progress(TextColumn("picking"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True,
                        disable=not console.is_terminal)
    task = progress.add_task("pick", total=total)

    def on_event(kind: str, fields: dict[str, Any]) -> None:
        if kind == "start":
            progress.update(task, total=fields["to_pick"])
        elif kind in ("done", "failed"):
            progress.advance(task)
        if kind == "failed":
            progress.console.print(f"[red]failed:[/red] {fields['error']}", highlight=False)
        elif kind == "warning":
            warn(fields["message"])
        elif kind == "diameter":
            progress.console.print(f"diameter {fields['message']}", highlight=False)

    with progress:
        yield on_event


def finish(summary: Summary, out: Path) -> None:
    """Print the summary; exit 1 when a micrograph failed, 130/143 when stopped by a signal."""
    console.print(f"{summary.line()}. Output: {out}", highlight=False)
    if summary.cancelled:
        raise typer.Exit(130 if summary.cancelled == "SIGINT" else 143)
    if summary.failed:
        raise typer.Exit(1)


def show_selection(selected: Selected) -> None:
    """What ``--dry-run`` prints: each micrograph to pick, then the skipped files grouped by
    reason with a few examples."""
    for path in selected.micrographs:
        typer.echo(f"pick  {path}")
    reasons = Counter(reason for _, reason in selected.skipped)
    for reason, count in reasons.most_common():
        examples = [str(path) for path, why in selected.skipped if why == reason][:SKIPPED_EXAMPLES]
        more = ", ..." if count > len(examples) else ""
        typer.echo(f"skip  {count} {'file' if count == 1 else 'files'}: {reason} "
                   f"({', '.join(examples)}{more})")
    typer.echo(f"{len(selected.micrographs)} to pick, {len(selected.skipped)} skipped; outputs "
               f"mirror the folders below {selected.root}")


def skipped_mostly(selected: Selected) -> str:
    """Why most of the files found were skipped (``: 3 files skipped (does not match ...)``)."""
    return "".join(f": {count} {'file' if count == 1 else 'files'} skipped ({reason})" for
                   reason, count in Counter(why for _, why in selected.skipped).most_common(1))


def demo(folder: Annotated[Path, typer.Argument(help="Where to write the synthetic acquisition "
                                                "and its picks (replaced if it exists).")
                           ] = Path("cryostream-demo"),
         micrographs: Annotated[int, typer.Option(min=1, help="Number of synthetic micrographs.")
                                ] = 6) -> None:
    """Try it on synthetic micrographs: an EPU-like tree of MRCs (1.5 Å/px, 60 Å particles) is
    written, picked with the default preset and scored against the known positions."""
    from ..bench.synthetic import write_acquisition
    from .evaluate import evaluate

    acquisition, out = folder / "acquisition", folder / "picks"
    for stale in (acquisition, out):
        shutil.rmtree(stale, ignore_errors=True)
    write_acquisition(acquisition, micrographs, diameter_px=40.0, pixel_size_angstrom=1.5)
    console.print(f"wrote {micrographs} synthetic micrographs to {acquisition}", highlight=False)
    try:
        pick([str(acquisition)], out=out, diameter="60", image_format="png")
    except typer.Exit as done:
        if done.exit_code:
            raise
    evaluate(out, acquisition / "truth")


def register(app: typer.Typer) -> None:
    add_command(app, pick, "Pick micrographs and write coordinate STAR files.")
    add_command(app, demo, "Try it on synthetic micrographs: write, pick, score.")
