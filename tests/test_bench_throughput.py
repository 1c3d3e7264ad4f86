"""The throughput benchmark's pieces on one real 4096 x 4096 micrograph (the full benchmark is the
``cryostream bench-throughput`` command, not a test)."""

from __future__ import annotations

import os
from pathlib import Path

import mrcfile
import numpy as np

from cryostream.bench.throughput import (
    DIAMETER_ANGSTROM,
    Measurement,
    measure,
    measurements_json,
    process_memory_mib,
    scaling_ratio,
    write_bench_micrographs,
)
from cryostream.config import preset
from cryostream.star import read_coordinates


def test_bench_micrograph_is_a_4k_float32_mrc_reused_and_picked_on_both_executors(
        tmp_path: Path) -> None:
    [path] = write_bench_micrographs(tmp_path / "mics", 1)
    with mrcfile.open(path) as mrc:
        assert mrc.data.shape == (4096, 4096) and mrc.data.dtype == np.float32
        assert float(mrc.voxel_size.x) == 1.0
    written = path.stat().st_mtime_ns
    assert write_bench_micrographs(tmp_path / "mics", 1) == [path]
    assert path.stat().st_mtime_ns == written

    config = preset("default", diameter_angstrom=DIAMETER_ANGSTROM)
    result = measure("local", 1, [path], config, tmp_path / "picks", repeats=2)
    assert (result.executor, result.workers, result.micrographs) == ("local", 1, 1)
    assert len(result.rates_per_second) == 2 and min(result.rates_per_second) > 0
    assert len(result.peak_rss_mib) == 1
    assert result.peak_rss_mib[0] > result.start_rss_mib[0] > 0
    assert result.worker_cpu_seconds_per_micrograph > 0.05, "the worker did the picking"
    picks = read_coordinates(tmp_path / "picks" / f"{path.stem}_autopick.star")
    assert 45 <= len(picks) <= 110, "about the 90 drawn particles"

    on_dask = measure("dask", 1, [path], config, tmp_path / "dask-picks", repeats=1)
    assert on_dask.peak_rss_mib[0] > on_dask.start_rss_mib[0] > 0
    assert read_coordinates(tmp_path / "dask-picks" / f"{path.stem}_autopick.star").equals(picks)


def test_scaling_ratio_and_json() -> None:
    measurements = [Measurement("local", 1, 4, [1.0, 2.0, 3.0], [100.0], [300.0], 0.5, 0.01),
                    Measurement("local", 2, 4, [3.5, 3.9, 4.0], [100.0, 100.0], [300.0, 310.0],
                                0.5, 0.01)]
    assert scaling_ratio(measurements, "local") == 3.9 / 2.0
    assert scaling_ratio(measurements, "dask") is None
    assert measurements_json(measurements)[1]["median_rate_per_second"] == 3.9


def test_process_memory_of_this_process() -> None:
    assert process_memory_mib(os.getpid()) >= process_memory_mib(os.getpid(), "VmRSS") > 10
