"""Latency benchmark: how long after a micrograph is complete its picks exist, with the watcher live.

Runs ``cryostream watch`` as a separate process on a temporary acquisition folder, then lands the
throughput benchmark's 4096 x 4096 float32 MRCs (1.0 Å/px, 150 Å particles) one every few seconds
the way acquisition software does (copied to a ``.tmp`` name, then renamed into place), and
measures the seconds from each rename to its STAR file existing. With ``in_place`` each file is
written under its final name instead (complete when closed), the case where, without inotify, only
the quiet period tells a complete file from one still being written.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..session.journal import Journal
from ..session.naming import mirrored_path
from .throughput import DIAMETER_ANGSTROM, SIDE_PX, write_bench_micrographs

STAR_POLL_SECONDS = 0.01
START_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class LatencyResult:
    """Seconds from rename-into-place to STAR, per micrograph, and the picking time inside it."""

    micrographs: int
    interval_seconds: float
    size_px: int
    quiet_seconds: float
    polling: bool
    in_place: bool
    latencies_seconds: list[float]
    pick_seconds: list[float]

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.latencies_seconds)

    @property
    def p95_seconds(self) -> float:
        ordered = sorted(self.latencies_seconds)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def summary(self) -> str:
        mode = "polling" if self.polling else "inotify events"
        landing = "written in place" if self.in_place else "renamed into place"
        return (f"{self.micrographs} micrographs of {self.size_px} x {self.size_px} px, one every "
                f"{self.interval_seconds:g} s, {landing} ({mode}, quiet period "
                f"{self.quiet_seconds:g} s): "
                f"latency median {self.median_seconds:.2f} s, 95th percentile "
                f"{self.p95_seconds:.2f} s, of which reading and picking (median) "
                f"{statistics.median(self.pick_seconds):.2f} s. Target: median <= quiet period "
                f"+ 0.5 s = {self.quiet_seconds + 0.5:.1f} s.")


def watcher_command(acquisition: Path, out: Path, *options: str) -> list[str]:
    """The command line of a ``cryostream watch`` process with this interpreter."""
    return [sys.executable, "-m", "cryostream", "watch", str(acquisition), "-o", str(out),
            *options]


def run_latency_bench(micrographs: int = 15, interval_seconds: float = 2.0,
                      quiet_seconds: float = 3.0, polling: bool = False, in_place: bool = False,
                      workers: int | None = None) -> LatencyResult:
    """Run the benchmark in a temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="cryostream-latency-") as scratch:
        folder = Path(scratch)
        sources = write_bench_micrographs(folder / "staging", micrographs + 1)
        acquisition, out = folder / "acquisition", folder / "picks"
        data = acquisition / "GridSquare_1" / "Data"
        data.mkdir(parents=True)
        options = ["--diameter", str(DIAMETER_ANGSTROM), "--quiet-seconds", str(quiet_seconds),
                   "--log-json", *(["--polling"] if polling else []),
                   *(["--workers", str(workers)] if workers else [])]
        daemon = subprocess.Popen(watcher_command(acquisition, out, *options),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            _wait_for_start(daemon)
            warm_up = land_micrograph(sources[0], data / "warm_up.mrc", in_place)
            _wait_for(mirrored_path(warm_up, acquisition, out), START_TIMEOUT_SECONDS)
            latencies = _measure(sources[1:], data, out, acquisition, interval_seconds, in_place)
        finally:
            daemon.terminate()
            daemon.wait(timeout=600)
        with Journal(out, readonly=True) as journal:
            pick_seconds = [entry.seconds for entry in journal.entries("done")
                            if entry.seconds is not None and "warm_up" not in entry.path]
    return LatencyResult(micrographs, interval_seconds, SIDE_PX, quiet_seconds, polling, in_place,
                         [round(value, 3) for value in latencies],
                         [round(value, 3) for value in pick_seconds])


def _wait_for_start(daemon: subprocess.Popen) -> None:
    assert daemon.stdout is not None, "the daemon is started with stdout=PIPE"
    for line in daemon.stdout:
        if json.loads(line).get("event") == "start":
            return
    raise RuntimeError(f"cryostream watch exited with code {daemon.wait()} before starting")


def land_micrograph(source: Path, target: Path, in_place: bool) -> Path:
    """Copy ``source`` to ``target``, or to a temporary name beside it, then renamed into place."""
    if in_place:
        return Path(shutil.copyfile(source, target))
    temporary = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    return target


def _wait_for(path: Path, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout_seconds:g} s")
        time.sleep(STAR_POLL_SECONDS)


def _measure(sources: list[Path], data: Path, out: Path, acquisition: Path,
             interval_seconds: float, in_place: bool) -> list[float]:
    """Land one micrograph every ``interval_seconds`` (in a thread) while this thread watches for
    the STAR files; returns complete-to-STAR seconds in landing order."""
    landed: dict[Path, float] = {}
    lock = threading.Lock()

    def writer() -> None:
        start = time.monotonic()
        for index, source in enumerate(sources):
            time.sleep(max(0.0, start + index * interval_seconds - time.monotonic()))
            target = land_micrograph(source, data / f"FoilHole_{index:04d}_Data.mrc", in_place)
            with lock:
                landed[mirrored_path(target, acquisition, out)] = time.monotonic()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    latencies: dict[Path, float] = {}
    deadline = time.monotonic() + len(sources) * (interval_seconds + 60.0)
    while len(latencies) < len(sources) and time.monotonic() < deadline:
        with lock:
            waiting = [(star, at) for star, at in landed.items() if star not in latencies]
        for star, at in waiting:
            if star.exists():
                latencies[star] = time.monotonic() - at
        time.sleep(STAR_POLL_SECONDS)
    thread.join()
    if len(latencies) < len(sources):
        raise TimeoutError(f"only {len(latencies)} of {len(sources)} STAR files appeared")
    return [latencies[star] for star in landed]
