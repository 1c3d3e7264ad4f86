"""Speed tools beside the product: ``bench-throughput`` (micrographs per second and memory on the
process pool and on Dask) and ``bench-latency`` (the watcher's time from file to STAR)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..star import write_atomically
from .common import add_command


def bench_throughput(
    micrographs: Annotated[int, typer.Option(min=1, help="Synthetic 4096 x 4096 float32 MRCs "
                                             "(1.0 Å/px, 150 Å particles) to pick per run.")] = 12,
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs per configuration; the median "
                                         "is reported.")] = 3,
    folder: Annotated[Path | None, typer.Option(help="Where to write (and reuse) the micrographs "
                                                "and picks (default: a temporary folder, removed "
                                                "afterwards).")] = None,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON "
                                                 "to this file.")] = None,
) -> None:
    """Measure picking throughput (micrographs per second: read and pick on the workers, STAR
    written on the client) with 1 and 2 workers on the local process pool and on a Dask
    LocalCluster, the 2/1 scaling ratio and each worker's memory. Coordinates are in pixels of
    the original micrographs; the particle diameter is 150 Å."""
    from ..bench.throughput import measurements_json, run_throughput_bench, scaling_ratio

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cryostream-throughput-") as scratch:
        measurements = run_throughput_bench(folder or Path(scratch), micrographs, repeats)
    table = Table(title=f"{micrographs} micrographs of 4096 x 4096 px, median of {repeats} runs; "
                  "memory is each worker's resident set after start-up and at its peak; CPU is "
                  "seconds per micrograph, all workers together and the client process",
                  title_justify="left")
    for column in ("executor", "workers", "mic/s", "each run", "start MiB", "peak MiB",
                   "worker CPU", "client CPU"):
        table.add_column(column, justify="left" if column == "executor" else "right")
    for m in measurements:
        table.add_row(m.executor, str(m.workers), f"{m.median_rate:.2f}",
                      " ".join(f"{rate:.2f}" for rate in m.rates_per_second),
                      " ".join(f"{rss:.0f}" for rss in m.start_rss_mib),
                      " ".join(f"{rss:.0f}" for rss in m.peak_rss_mib),
                      f"{m.worker_cpu_seconds_per_micrograph:.2f}",
                      f"{m.client_cpu_seconds_per_micrograph:.2f}")
    Console().print(table)
    ratios = {kind: scaling_ratio(measurements, kind) for kind in ("local", "dask")}
    typer.echo("scaling 2 workers / 1 worker: " + ", ".join(
        f"{kind} {ratio:.2f}" for kind, ratio in ratios.items() if ratio is not None)
        + f" ({os.cpu_count()} cores; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after: other work on the machine lowers the ratio)")
    if as_json is not None:
        write_atomically(as_json, json.dumps({"measurements": measurements_json(measurements),
                                              "scaling_2_over_1": ratios}, indent=2))


def bench_latency(
    micrographs: Annotated[int, typer.Option(min=1, help="Micrographs written during the run.")
                           ] = 15,
    interval_seconds: Annotated[float, typer.Option(help="Seconds between micrographs.")] = 2.0,
    quiet_seconds: Annotated[float, typer.Option(help="The watcher's --quiet-seconds.")] = 3.0,
    polling: Annotated[bool, typer.Option("--polling", help="Run the watcher with --polling (no "
                                          "close events; renames show at the next poll).")
                       ] = False,
    in_place: Annotated[bool, typer.Option("--in-place", help="Write each micrograph under its "
                                           "final name instead of renaming a .tmp into place: "
                                           "with --polling the quiet period then decides.")
                        ] = False,
    workers: Annotated[int | None, typer.Option(help="The watcher's worker processes.")] = None,
    as_json: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON "
                                                 "to this file.")] = None,
) -> None:
    """Measure live-picking latency: land 4096 x 4096 float32 MRCs (1.0 Å/px, 150 Å particles) in
    a temporary acquisition folder (copied to a .tmp name, then renamed into place, or written in
    place) while `cryostream watch` runs, and report the median and 95th-percentile seconds from
    the file being complete to its STAR file existing."""
    from dataclasses import asdict

    from ..bench.latency import run_latency_bench

    result = run_latency_bench(micrographs, interval_seconds, quiet_seconds, polling, in_place,
                               workers)
    typer.echo(result.summary())
    if as_json is not None:
        write_atomically(as_json, json.dumps(asdict(result) | {
            "median_seconds": result.median_seconds, "p95_seconds": result.p95_seconds}, indent=2))


def register(app: typer.Typer) -> None:
    add_command(app, bench_throughput,
                "Measure micrographs per second and memory.", "bench-throughput")
    add_command(app, bench_latency, "Measure the watcher's latency.", "bench-latency")
