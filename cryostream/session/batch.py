"""A batch session: a fixed list of micrographs picked once (``pick``, the RELION and CryoSPARC
jobs), with the same selection, naming, journal, cancellation and errors as the daemon."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import PickerConfig
from ..picker import Picks
from .cancel import Cancellation
from .engine import EventSink, Session
from .executor import ExecutorChoice
from .naming import check_unique, mirrored_path
from .selection import Selected
from .tasks import SessionOptions, Summary, Task


def mirrored_tasks(selected: Selected, out_dir: Path, suffix: str) -> list[Task]:
    """One task per selected micrograph, its outputs mirroring the inputs below their common root
    (named by absolute path); two micrographs with one output are refused before any picking."""
    outputs = {str(path): mirrored_path(path, selected.root, out_dir, suffix)
               for path in selected.micrographs}
    check_unique(outputs)
    return [Task(Path(path), path, star) for path, star in outputs.items()]


@dataclass(frozen=True)
class BatchResult:
    """What a batch did, and the picks of every micrograph done in the folder (by name; with
    the combined STAR on, also those of earlier runs)."""

    summary: Summary
    picks: dict[str, Picks]


def run_batch(options: SessionOptions, config: PickerConfig, tasks: Sequence[Task],
              executor: ExecutorChoice | None = None, cancel: Cancellation | None = None,
              on_event: EventSink | None = None) -> BatchResult:
    """Pick ``tasks`` in a session over ``options.outputs.out_dir`` until done or cancelled
    (SIGINT, SIGTERM, or ``cancel``'s abort file)."""
    cancel = cancel or Cancellation()
    with cancel.handling_signals(), (executor or ExecutorChoice()).open(len(tasks)) as pool, \
            Session(options, config, pool, cancel, on_event) as session:
        summary = session.run(tasks)
    return BatchResult(summary, dict(session.done_picks.values()))
