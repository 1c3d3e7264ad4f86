"""Throughput benchmark: micrographs per second on the local pool and on a Dask LocalCluster.

Writes 4096 x 4096 float32 MRCs (1.0 Å/px, 150 Å particles: a realistic K3/Falcon-sized image and a
typical protein), picks them with 1 and 2 workers on each executor, writing each STAR on the
client as ``cryostream pick`` does, and reports the median rate over a few repeats, the 2/1 scaling
ratio and each worker's memory (resident after start-up, and peak).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil

from ..config import PickerConfig, preset
from ..session.executor import Executor
from ..session.outputs import OutputOptions, write_outputs
from ..session.work import lost_task, pick_file
from .synthetic import synthetic_micrograph, write_mrc

SIDE_PX = 4096
PIXEL_SIZE_ANGSTROM = 1.0
DIAMETER_ANGSTROM = 150.0
UPSAMPLE = 4
NOISE_SIGMA = 3.0


@dataclass(frozen=True)
class Measurement:
    """One executor configuration: rates of every repeat, per-worker memory in MiB, and the CPU
    time spent per micrograph by the workers together and by the client process (for the Dask
    LocalCluster the client process also runs the scheduler and the nannies). CPU time does not
    depend on what else runs on the machine, so equal worker CPU per micrograph with 1 and 2
    workers means the work divides cleanly and only free cores limit the scaling."""

    executor: str
    workers: int
    micrographs: int
    rates_per_second: list[float]
    start_rss_mib: list[float]
    peak_rss_mib: list[float]
    worker_cpu_seconds_per_micrograph: float
    client_cpu_seconds_per_micrograph: float

    @property
    def median_rate(self) -> float:
        return statistics.median(self.rates_per_second)


def write_bench_micrographs(folder: str | Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` synthetic 4096 x 4096 float32 MRCs of 150 Å particles at 1.0 Å/px.

    Each is drawn at 1024 x 1024 and 4 Å/px (drawing discs of 150 px at full size takes minutes),
    upsampled, and given fresh per-pixel noise, so files differ and look like a 4k micrograph to
    the picker. Existing files of the right name are reused."""
    folder = Path(folder)
    paths = []
    for index in range(count):
        path = folder / f"bench_{SIDE_PX}_{seed + index:04d}.mrc"
        if not path.is_file():
            small = synthetic_micrograph((SIDE_PX // UPSAMPLE,) * 2, n_particles=90,
                                         diameter_px=DIAMETER_ANGSTROM / PIXEL_SIZE_ANGSTROM / UPSAMPLE,
                                         pixel_size_angstrom=PIXEL_SIZE_ANGSTROM * UPSAMPLE,
                                         seed=seed + index)
            image = np.asarray(cv2.resize(small.image, (SIDE_PX, SIDE_PX),
                                          interpolation=cv2.INTER_LINEAR))
            rng = np.random.default_rng(seed + index)
            image += rng.normal(scale=NOISE_SIGMA, size=image.shape).astype(np.float32)
            write_mrc(image, path, PIXEL_SIZE_ANGSTROM)
        paths.append(path)
    return paths


def process_memory_mib(pid: int, field: str = "VmHWM") -> float:
    """Resident memory of a process in MiB from /proc (Linux): VmHWM the peak, VmRSS now."""
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024.0


def measure(kind: str, workers: int, paths: Sequence[Path], config: PickerConfig, out_dir: Path,
            repeats: int = 3) -> Measurement:
    """Pick ``paths`` ``repeats`` times with a fresh executor of ``workers`` workers; the STAR
    files are written on the client. Start-up (and workers' first imports) is not timed."""
    rates = []
    with Executor(kind, workers) as pool:
        for future in [pool.submit(os.getpid) for _ in range(workers)]:
            future.result()
        start_rss = [process_memory_mib(pid, "VmRSS") for pid in pool.worker_pids()]
        list(pool.map_unordered(pick_file, paths[:workers], config))  # warm-up: lazy imports
        processes = [psutil.Process(pid) for pid in pool.worker_pids()]
        worker_cpu, client_cpu = cpu_seconds(processes), time.process_time()
        for _ in range(repeats):
            started = time.perf_counter()
            for outcome in pool.map_unordered(pick_file, paths, config, on_error=lost_task):
                if outcome.picks is None:
                    raise RuntimeError(outcome.error)
                write_outputs(outcome.picks, out_dir / f"{outcome.path.stem}_autopick.star",
                              OutputOptions(out_dir), config)
            rates.append(len(paths) / (time.perf_counter() - started))
        picked = len(paths) * repeats
        worker_cpu = (cpu_seconds(processes) - worker_cpu) / picked
        client_cpu = (time.process_time() - client_cpu) / picked
        peaks = [process_memory_mib(process.pid) for process in processes]
    return Measurement(kind, workers, len(paths), rates, start_rss, peaks, worker_cpu, client_cpu)


def cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    """User plus system CPU time of ``processes`` so far, in seconds."""
    return sum(sum(process.cpu_times()[:2]) for process in processes)


def run_throughput_bench(folder: Path, count: int, repeats: int,
                         worker_counts: Sequence[int] = (1, 2),
                         kinds: Sequence[str] = ("local", "dask")) -> list[Measurement]:
    """Write the micrographs under ``folder`` and measure every (executor, workers) pair."""
    paths = write_bench_micrographs(folder / "micrographs", count)
    config = preset("default", diameter_angstrom=DIAMETER_ANGSTROM)
    return [measure(kind, workers, paths, config, folder / "picks", repeats)
            for kind in kinds for workers in worker_counts]


def scaling_ratio(measurements: Sequence[Measurement], kind: str, more: int = 2,
                  fewer: int = 1) -> float | None:
    """Median rate with ``more`` workers over the rate with ``fewer``, for one executor."""
    rates = {m.workers: m.median_rate for m in measurements if m.executor == kind}
    return rates[more] / rates[fewer] if more in rates and fewer in rates else None


def measurements_json(measurements: Sequence[Measurement]) -> list[dict]:
    """Plain data for ``--json``, with the median rate added."""
    return [asdict(m) | {"median_rate_per_second": m.median_rate} for m in measurements]
