"""Tools beside the product: ``bench`` (quality and speed against truth, beside RELION's LoG
picker), ``tune``, ``bench-throughput`` and ``bench-latency``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ..bench.picking import SetReport

from ..config import PickerConfig, dump_config
from ..session.errors import UsageError, check_output_file
from ..star import write_atomically
from .common import (
    ConfigOption,
    DiameterOption,
    PixelSizeOption,
    PlainHelp,
    PresetOption,
    build_config,
    console,
)

BENCH_COLUMNS = ("picker", "mics", "truth", "picks", "prec", "recall", "F1", "F2", "s/mic")


def bench(
    data: Annotated[Path, typer.Option(help="Folder of benchmark sets: each set folder holds "
                                       "images/, truth/ (coordinates in image pixels) and meta.json "
                                       "with particle_diameter_px.")] = Path("../shared/bench"),
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", help="Also run another picker on the same MRCs: relion-log (relion_autopick "
        "--LoG, diameters 0.8-1.2 x D, --shrink 0, lowpass for a ~16 px particle).")] = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every figure (pooled and "
                                                  "per micrograph) to this JSON file.")] = None,
    sets: Annotated[str | None, typer.Option(help="Comma-separated set names (default: all).")
                    ] = None,
) -> None:
    """Benchmark picking on labelled sets: images -> float32 MRC (1.0 Å/px, so diameters in Å equal
    the set's diameter in px) -> pick -> score (distance paradigm, one-to-one matches within 0.5 x
    diameter, pooled per set). Coordinates are compared in pixels of the original images."""
    from ..bench.picking import COMPARISONS, bench_json, bench_set_report, find_sets

    unknown = sorted(set(compare or ()) - set(COMPARISONS))
    if unknown:
        raise UsageError(f"--compare must be one of {', '.join(COMPARISONS)}, got "
                         f"{', '.join(unknown)}")
    config = build_config(PickerConfig.diameter_angstrom, preset_name, config_file)
    bench_sets = find_sets(data, [name for name in (sets or "").split(",") if name])
    reports = []
    out = Console()
    with tempfile.TemporaryDirectory(prefix="cryostream-bench-") as work:
        for bench_set in bench_sets:
            console.print(f"{bench_set.name}: {len(bench_set.images)} micrographs, particle "
                          f"{bench_set.diameter_px:g} px ...", highlight=False)
            report = bench_set_report(bench_set, config, Path(work), compare or ())
            reports.append(report)
            out.print(bench_table(report))
    if json_out is not None:
        write_atomically(json_out, bench_json(reports, data, config))
        console.print(f"figures written to {json_out}", highlight=False)


def bench_table(report: SetReport) -> Table:
    """One set's figures, one row per picker, with the RELION / cryostream time ratio."""
    caption = [f"{picker} skipped: {reason}" for picker, reason in report.skipped.items()]
    if report.time_ratio is not None:
        caption.append(f"time ratio (relion-log s/micrograph / cryostream s/micrograph): "
                       f"{report.time_ratio:.1f}")
    caption.append("mics = micrographs, prec = precision, s/mic = seconds per micrograph")
    table = Table(title=f"{report.bench_set.name} (particle {report.bench_set.diameter_px:g} px)",
                  title_justify="left", box=box.SIMPLE_HEAD, caption="\n".join(caption),
                  caption_justify="left")
    for column in BENCH_COLUMNS:
        table.add_column(column, justify="left" if column == "picker" else "right", no_wrap=True)
    for name, result in report.results.items():
        counts = result.counts
        table.add_row(name, str(len(report.bench_set.images)), str(report.truth_count),
                      str(result.picks), *(f"{value:.3f}" for value in (
                          counts.precision, counts.recall, counts.f1, counts.f2)),
                      f"{result.seconds_per_micrograph:.3f}")
    return table


def tune(
    data: Annotated[Path, typer.Option(help="Labelled micrographs: DATA/images/<name>.* and "
                                       "DATA/truth/<name>.star (true centres in pixels of the "
                                       "image), the layout of a bench set.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the best configuration "
                                      "(TOML that pick --config and watch --config read).")
                   ] = Path("tuned.toml"),
    diameter: DiameterOption = None,
    pixel_size: PixelSizeOption = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    trials: Annotated[int, typer.Option(min=0, help="Random variations to try (the starting "
                                        "configuration is always scored too).")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same trials.")
                    ] = 0,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")
                       ] = None,
) -> None:
    """Tune the picker on a few labelled micrographs: a seeded random search around the starting
    configuration's numeric parameters (every pipeline step parameter, the diameter the picker
    works at, working_diameter_px, low/high_percentile, min_distance_diameters,
    min_figure_of_merit), maximising pooled F1 (distance paradigm, matches within 0.5 x the
    diameter you give). Diameters are in Å; truth coordinates in pixels of the original
    micrographs. Pick with --config and without --diameter, which would replace the tuned one."""
    from ..bench.tune import changed_values
    from ..bench.tune import tune as run_tune
    from ..metrics import Counts

    config = build_config(diameter, preset_name, config_file)
    check_output_file(out)
    result = run_tune(config, data, trials, seed, workers, pixel_size)
    start, best = result.start, result.best
    scored = sum(trial.counts is not None for trial in result.trials)
    counts = best.counts or Counts(0, 0, 0)  # the best trial was scored: the start always is
    summary = (f"F1 {start.f1:.3f} -> {best.f1:.3f} (precision {counts.precision:.3f}, recall "
               f"{counts.recall:.3f}) on {data}, best of {scored} scored trials "
               f"(trial {best.index}, seed {seed}, {len(result.parameters)} parameters searched)")
    write_atomically(out, "".join(f"# {line}\n" for line in (f"cryostream tune: {summary}",))
                     + dump_config(best.config))
    for name, before, after in changed_values(result):
        console.print(f"  {name}: {before} -> {after}", highlight=False)
    console.print(f"{summary} in {result.seconds:.0f} s. Wrote {out}", highlight=False)


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
    app.command(cls=PlainHelp, short_help="Benchmark quality and speed on labelled micrographs.")(bench)
    app.command(cls=PlainHelp, short_help="Tune the picker on a few labelled micrographs.")(tune)
    app.command("bench-throughput", cls=PlainHelp, short_help="Measure micrographs per second and memory.")(
        bench_throughput)
    app.command("bench-latency", cls=PlainHelp,
                short_help="Measure the watcher's latency.")(bench_latency)
