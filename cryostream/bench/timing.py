"""Timing a picker in a child process: wall-clock time from start to exit and the CPU time the
child used. On a shared machine the wall-clock time grows with the other work; the CPU time
(user + system) hardly does, so both are reported."""

from __future__ import annotations

import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TimedRun:
    """A finished child process with its wall-clock and CPU seconds."""

    run: subprocess.CompletedProcess
    wall_seconds: float
    cpu_seconds: float


def children_cpu_seconds() -> float:
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(command: list[str], cwd: Path | None = None) -> TimedRun:
    """Run ``command`` to completion (output captured) and time it."""
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    return TimedRun(run, time.perf_counter() - started, children_cpu_seconds() - cpu_before)
