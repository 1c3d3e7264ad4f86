"""Tools beside the product: ``bench`` (quality and speed against truth, beside RELION's LoG
picker), ``tune``, ``bench-throughput`` and ``bench-latency``."""

from __future__ import annotations

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
    PresetOption,
    add_command,
    build_config,
    console,
)

BENCH_COLUMNS = ("picker", "D", "picks", "P", "R", "F1", "P int", "R int", "F1 int", "s/mic")


def bench(
    data: Annotated[Path, typer.Option(help="Folder of benchmark sets: each set folder holds "
                                       "images/, truth/ (coordinates in image pixels) and meta.json "
                                       "with particle_diameter_angstrom (MRC images with their "
                                       "pixel size in the header) or particle_diameter_px (any "
                                       "images).")] = Path("../shared/bench"),
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", help="Also run another picker on the same MRCs: relion-log (relion_autopick "
        "--LoG, diameters 0.8-1.2 x D, --shrink 0, lowpass for a ~16 px particle), "
        "cryostream-cli (the `cryostream pick` command, one worker, timed start to exit) or "
        "cryostream-auto (the same with --diameter auto; its D column is the estimate over the "
        "true diameter).")
                                  ] = None,
    diameter_scale: Annotated[str, typer.Option(
        "--diameter-scale", help="Comma-separated factors: cryostream is also run with the "
        "diameter multiplied by each (e.g. 0.75,1,1.33), to measure how much a wrong diameter "
        "costs; matches are always counted within 0.5 x the true diameter.")] = "1",
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every figure (pooled and "
                                                  "per micrograph) to this JSON file.")] = None,
    sets: Annotated[str | None, typer.Option(help="Comma-separated set names (default: all).")
                    ] = None,
) -> None:
    """Benchmark picking on labelled sets: float32 MRCs (the set's own with their header pixel
    size, or its images converted at 1.0 Å/px so diameters in Å equal its diameter in px) -> pick
    -> score (one-to-one matches within 0.5 x the true diameter, pooled per set) on the whole
    micrographs and on their interiors (truth and picks at least 0.5 x D from every border),
    beside a lattice of picks at spacing D that never looks at the image (chance level).
    Coordinates are compared in pixels of the original images."""
    from ..bench.picking import COMPARISONS, bench_json, bench_set_report
    from ..bench.sets import find_sets

    unknown = sorted(set(compare or ()) - set(COMPARISONS))
    if unknown:
        raise UsageError(f"--compare must be one of {', '.join(COMPARISONS)}, got "
                         f"{', '.join(unknown)}")
    try:
        scales = [float(value) for value in diameter_scale.split(",") if value.strip()]
    except ValueError as error:
        raise UsageError(f"--diameter-scale must be comma-separated numbers, got "
                         f"{diameter_scale!r}") from error
    if not scales or min(scales) <= 0:
        raise UsageError(f"--diameter-scale needs positive factors, got {diameter_scale!r}")
    config = build_config(PickerConfig.diameter_angstrom, preset_name, config_file)
    bench_sets = find_sets(data, [name for name in (sets or "").split(",") if name])
    reports = []
    out = Console()
    with tempfile.TemporaryDirectory(prefix="cryostream-bench-") as work:
        for bench_set in bench_sets:
            console.print(f"{bench_set.name}: {len(bench_set.images)} micrographs, particle "
                          f"{bench_set.diameter_angstrom:g} Å = {bench_set.diameter_px:.1f} px "
                          f"at {bench_set.pixel_size_angstrom:g} Å/px ...", highlight=False)
            report = bench_set_report(bench_set, config, Path(work), compare or (), scales)
            reports.append(report)
            out.print(bench_table(report))
    if json_out is not None:
        write_atomically(json_out, bench_json(reports, data, config))
        console.print(f"figures written to {json_out}", highlight=False)


def bench_table(report: SetReport) -> Table:
    """One set's figures, one row per picker (the lattice is chance level), with the RELION /
    cryostream time ratios and the F1 lost at a wrong diameter."""
    from ..bench.picking import CRYOSTREAM, CRYOSTREAM_AUTO, CRYOSTREAM_CLI

    caption = [f"{picker} skipped: {reason}" for picker, reason in report.skipped.items()]
    for ours in (CRYOSTREAM, CRYOSTREAM_CLI, CRYOSTREAM_AUTO):
        if report.time_ratio(ours) is not None:
            cpu_ratio = report.time_ratio(ours, cpu=True)
            caption.append(f"time ratio relion-log / {ours} (s/micrograph): "
                           f"{report.time_ratio(ours):.1f} wall-clock"
                           + (f", {cpu_ratio:.1f} CPU" if cpu_ratio is not None else ""))
    cpu = {name: result.cpu_seconds_per_micrograph for name, result in report.results.items()
           if result.cpu_seconds_per_micrograph is not None}
    if cpu:
        caption.append("CPU s/mic (steadier than wall-clock on a shared machine): " + ", ".join(
            f"{name} {seconds:.3f}" for name, seconds in cpu.items()))
    if report.fragility():
        caption.append("F1 / F1 at the true diameter: " + ", ".join(
            f"{name} {ratio:.2f}" for name, ratio in report.fragility().items()))
    caption.append("D = diameter the picker was told / true diameter; P = precision, R = "
                   "recall; int = interior (truth and picks >= 0.5 D from every border); s/mic = "
                   "seconds per micrograph")
    bench_set = report.bench_set
    table = Table(title=f"{bench_set.name}: {len(bench_set.images)} micrographs, "
                  f"{report.truth_count['all']} particles ({report.truth_count['interior']} "
                  f"interior) of {bench_set.diameter_angstrom:g} Å = {bench_set.diameter_px:.1f} "
                  f"px", title_justify="left", box=box.SIMPLE_HEAD, caption="\n".join(caption),
                  caption_justify="left", pad_edge=False, collapse_padding=True)
    for column in BENCH_COLUMNS:
        table.add_column(column, justify="left" if column == "picker" else "right", no_wrap=True)
    for name, result in report.results.items():
        whole, interior = result.scores["all"], result.scores["interior"]
        seconds = result.seconds_per_micrograph
        table.add_row(name.split(" x")[0],
                      f"x{result.given_diameter_angstrom / bench_set.diameter_angstrom:.2f}",
                      str(result.picks), *(f"{value:.3f}" for value in (
                          whole.precision, whole.recall, whole.f1, interior.precision,
                          interior.recall, interior.f1)),
                      "-" if seconds is None else f"{seconds:.3f}")
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


def register(app: typer.Typer) -> None:
    add_command(app, bench, "Benchmark quality and speed on labelled micrographs.")
    add_command(app, tune, "Tune the picker on a few labelled micrographs.")
