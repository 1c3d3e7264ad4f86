"""The ``cryostream`` command line: a thin typer layer over the library."""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from . import __version__
from .config import PRESETS, PickerConfig, dump_config, load_config, preset
from .evaluation import PARADIGMS, Evaluation, evaluate_files
from .executor import Executor, lost_task, pick_file
from .io import MICROGRAPH_SUFFIXES, BadInputError
from .journal import Journal
from .outputs import COMBINED_STAR, IMAGE_FORMATS, OutputOptions, provenance, write_outputs
from .preview import DEFAULT_LOW_PASS_DIAMETERS, DEFAULT_MAX_SIDE_PX, write_preview
from .star import DEFAULT_SUFFIX, write_atomically, write_combined_star

if TYPE_CHECKING:
    from .bench.picking import SetReport

COMMAND_ORDER = ("demo", "pick", "evaluate", "preview", "watch", "status", "report", "config", "bench",
                 "tune")


class CommandOrder(TyperGroup):
    """Lists commands in the order a new user needs them (COMMAND_ORDER), then any others in the
    order they were added."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: COMMAND_ORDER.index(name) if name in COMMAND_ORDER
                      else len(COMMAND_ORDER))


app = typer.Typer(cls=CommandOrder,
                  help="Live filter-and-cluster particle picking for cryo-EM micrographs. "
                  "Coordinates are written in pixels of the original micrograph; diameters are in "
                  "Å, using the pixel size from the MRC header unless --pixel-size overrides it.",
                  no_args_is_help=True, rich_markup_mode=None)
# messages are never wrapped: a path in a log line or a one-line error stays whole and greppable
console = Console(stderr=True, soft_wrap=True)

DiameterOption = Annotated[float | None, typer.Option(
    "--diameter", "-d", help="Particle diameter in Å (converted to pixels with the pixel size).")]
PixelSizeOption = Annotated[float | None, typer.Option(
    "--pixel-size", help="Pixel size in Å/px; overrides the MRC header. Required for PNG/JPEG/TIFF.")]
PresetOption = Annotated[str, typer.Option(
    "--preset", help=f"Starting parameters: {', '.join(PRESETS)} (seed = the seed report's "
    "published default, for comparison).")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML file with picker parameters (see examples/config.toml); "
    "command-line options override it.")]
ThresholdOption = Annotated[float | None, typer.Option(
    "--threshold", help="Drop picks whose figure of merit is below this (unitless).")]
SuffixOption = Annotated[str, typer.Option(
    help="Coordinate files are named <micrograph>_<suffix>.star.")]
BoxOption = Annotated[bool, typer.Option("--box", help="Also write EMAN2 .box files.")]
ImageFormatOption = Annotated[str | None, typer.Option(
    "--write-image", help=f"Also write the binned 8-bit image: {' or '.join(IMAGE_FORMATS)}.")]
WorkersOption = Annotated[int | None, typer.Option(help="Worker processes (default: one per core).")]
ExecutorOption = Annotated[str, typer.Option(
    help="local (a process pool on this machine) or dask (a Dask cluster; its workers must see the "
    "micrographs under the same paths).")]
SchedulerOption = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://host:8786) or scheduler file, with --executor dask; "
    "without it a LocalCluster of --workers processes is started.")]


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cryostream {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                               is_eager=True, help="Print the version.")] = False
         ) -> None:
    """Live filter-and-cluster particle picking for cryo-EM micrographs."""


def build_config(diameter: float | None, pixel_size: float | None, preset_name: str,
                 config_file: Path | None, threshold: float | None = None) -> PickerConfig:
    """The effective configuration: preset or TOML file, then command-line overrides."""
    overrides = {"diameter_angstrom": diameter, "pixel_size_angstrom": pixel_size,
                 "min_figure_of_merit": threshold}
    try:
        if config_file is not None:
            return load_config(config_file, **overrides)
        if diameter is None:
            fail("give the particle diameter in Å with --diameter, or a --config file that sets "
                 "diameter_angstrom")
        return preset(preset_name, **overrides)
    except (ValueError, BadInputError) as error:
        fail(str(error))
    raise AssertionError("unreachable")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def check_image_format(image_format: str | None) -> None:
    """Refuse a --write-image format other than IMAGE_FORMATS."""
    if image_format is not None and image_format not in IMAGE_FORMATS:
        fail(f"--write-image must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if len(values) else None


def find_micrographs(inputs: list[str]) -> list[tuple[Path, Path | None]]:
    """Expand files, folders (recursively) and globs into (micrograph, input root) pairs."""
    found: dict[Path, Path | None] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if candidate.suffix.lower() in MICROGRAPH_SUFFIXES and candidate.is_file():
                    found.setdefault(candidate, path)
        elif path.exists():
            found.setdefault(path, None)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                fail(f"{item}: no such file, folder or matching glob")
            for match in matches:
                found.setdefault(Path(match), None)
    return list(found.items())


@app.command(short_help="Pick micrographs and write coordinate STAR files.")
def pick(
    inputs: Annotated[list[str], typer.Argument(help="Micrograph files (MRC, PNG, JPEG, TIFF), "
                                                "folders (searched recursively) or globs.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; the input folder "
                                      "tree is mirrored under it.")] = Path("picks"),
    diameter: DiameterOption = None,
    pixel_size: PixelSizeOption = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    threshold: ThresholdOption = None,
    suffix: SuffixOption = DEFAULT_SUFFIX,
    box: BoxOption = False,
    image_format: ImageFormatOption = None,
    workers: WorkersOption = None,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
) -> None:
    """Pick particles in micrographs and write RELION/CryoSPARC coordinate files.

    Writes <OUT>/<micrograph>_autopick.star per micrograph (x, y in original pixels) and
    <OUT>/particles.star with every pick and its micrograph name.
    """
    config = build_config(diameter, pixel_size, preset_name, config_file, threshold)
    check_image_format(image_format)
    if executor == "dask":  # Dask workers open files by path, from their own working folder
        inputs = [str(Path(item).absolute()) for item in inputs]
    micrographs = find_micrographs(inputs)
    if not micrographs:
        fail(f"no micrographs ({', '.join(MICROGRAPH_SUFFIXES)}) found in {' '.join(inputs)}")
    roots = dict(micrographs)
    all_picks, failures, seconds = [], [], []
    started = time.perf_counter()
    progress = Progress(TextColumn("picking"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console, transient=True)
    try:
        with Executor(executor, workers, scheduler) as pool, progress, Journal(out) as journal:
            task = progress.add_task("pick", total=len(micrographs))
            journal.record_config(config.digest(), dump_config(config))
            for outcome in pool.map_unordered(pick_file, list(roots), config,
                                              image_format is not None, on_error=lost_task):
                progress.advance(task)
                options = OutputOptions(out, suffix, box, image_format, roots[outcome.path])
                error = outcome.error
                if outcome.picks is not None:
                    try:
                        written = write_outputs(outcome.picks, options, config, outcome.image8)
                    except (OSError, BadInputError) as write_error:
                        error = f"{outcome.path}: could not write outputs ({write_error})"
                if error is not None:
                    failures.append(error)
                    journal.mark_failed(str(outcome.path.resolve()), error, config.digest())
                    console.print(f"[red]failed:[/red] {error}", highlight=False)
                    continue
                journal.mark_done(str(outcome.path.resolve()), len(outcome.picks),
                                  mean_or_none(outcome.picks.figure_of_merit), outcome.seconds,
                                  str(written[0].resolve()), config.digest())
                all_picks.append(outcome.picks)
                seconds.append(outcome.seconds)
    except ValueError as error:
        fail(str(error))
    all_picks.sort(key=lambda picks: str(picks.micrograph))
    write_combined_star(all_picks, out / COMBINED_STAR, provenance(config))
    elapsed = time.perf_counter() - started
    total = sum(len(picks) for picks in all_picks)
    per_micrograph = sorted(seconds)[len(seconds) // 2] if seconds else 0.0
    console.print(f"{len(all_picks)} micrographs picked, {total} particles, {len(failures)} "
                  f"failed; {per_micrograph:.3f} s per micrograph (median, one worker), "
                  f"{elapsed:.1f} s in all. Output: {out}", highlight=False)
    if failures:
        raise typer.Exit(1)


@app.command(short_help="Score picks against truth: precision, recall, F1.")
def evaluate(
    picks: Annotated[Path, typer.Argument(help="Coordinate STAR file or folder of them.")],
    truth: Annotated[Path, typer.Argument(help="Truth STAR file or folder; files pair up by "
                                          "micrograph name (mic_autopick.star ~ mic.star).")],
    diameter: Annotated[float | None, typer.Option(
        "--diameter", help="Particle diameter in pixels of the micrograph; sets the matching "
        "radius. Default: the diameter recorded in the picks files.")] = None,
    radius: Annotated[float, typer.Option(help="Matching radius in particle diameters "
                                          "(distance paradigm).")] = 0.5,
    cell: Annotated[float, typer.Option(help="Grid cell size in pixels (grid paradigm).")
                    ] = 100.0,
    per_micrograph: Annotated[bool, typer.Option("--per-micrograph",
                                                 help="Also print each micrograph's figures.")
                              ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")
                       ] = False,
) -> None:
    """Score picks against ground truth: accuracy, precision, recall, F1, F2 and Jaccard under
    the distance paradigm (one-to-one matching within RADIUS x diameter) and the grid paradigm."""
    try:
        evaluation = evaluate_files(picks, truth, diameter, cell, radius)
    except BadInputError as error:
        fail(str(error))
    if as_json:
        typer.echo(json.dumps(evaluation.to_dict(), indent=2))
        return
    out = Console()
    if per_micrograph:
        for paradigm in PARADIGMS:
            out.print(per_micrograph_table(evaluation, paradigm))
    out.print(pooled_table(evaluation, radius, cell))


@app.command(short_help="Try it on synthetic micrographs: write, pick, score.")
def demo(
    folder: Annotated[Path, typer.Argument(help="Where to write the synthetic acquisition and "
                                           "its picks.")] = Path("cryostream-demo"),
    micrographs: Annotated[int, typer.Option(help="Number of synthetic micrographs.")] = 6,
) -> None:
    """Generate a synthetic acquisition (EPU-like tree of MRCs, 1.5 Å/px, 60 Å particles), pick it
    with the default preset and score the picks against the known positions."""
    from .bench.synthetic import write_acquisition

    acquisition, out = folder / "acquisition", folder / "picks"
    write_acquisition(acquisition, micrographs, diameter_px=40.0, pixel_size_angstrom=1.5)
    console.print(f"wrote {micrographs} synthetic micrographs to {acquisition}", highlight=False)
    pick([str(acquisition / "GridSquare_*" / "Data" / "*.mrc")], out=out, diameter=60.0,
         pixel_size=None, preset_name="default", config_file=None, threshold=None,
         suffix=DEFAULT_SUFFIX, box=False, image_format="png", workers=None, executor="local",
         scheduler=None)
    evaluate(out, acquisition / "truth", diameter=None, radius=0.5, cell=100.0,
             per_micrograph=False, as_json=False)


EVALUATION_ROWS = (("true positives (TP)", "true_positives"), ("false positives (FP)", "false_positives"),
                   ("false negatives (FN)", "false_negatives"), ("true negatives (TN)", "true_negatives"),
                   ("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"),
                   ("F1", "f1"), ("F2", "f2"), ("Jaccard", "jaccard"))
PER_MICROGRAPH_COLUMNS = (("TP", "true_positives"), ("FP", "false_positives"),
                          ("FN", "false_negatives"), ("precision", "precision"), ("recall", "recall"),
                          ("F1", "f1"), ("F2", "f2"))


def format_metric(value: float | int | None) -> str:
    """Counts as integers, ratios with three decimals, a dash where the paradigm has none."""
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def pooled_table(evaluation: Evaluation, radius: float, cell: float) -> Table:
    """Pooled figures with one row per metric and one column per paradigm: narrow enough for any
    terminal."""
    table = Table(title=f"pooled over {len(evaluation.per_micrograph)} micrographs", title_justify="left",
                  caption=f"distance: one-to-one matches within {radius:g} x diameter; "
                  f"grid: {cell:g} px cells", caption_justify="left")
    table.add_column("metric", no_wrap=True)
    summaries = {paradigm: evaluation.pooled(paradigm).summary() for paradigm in PARADIGMS}
    for paradigm in PARADIGMS:
        table.add_column(paradigm, justify="right", no_wrap=True)
    for label, key in EVALUATION_ROWS:
        table.add_row(label, *(format_metric(summaries[p][key]) for p in PARADIGMS))
    return table


def per_micrograph_table(evaluation: Evaluation, paradigm: str) -> Table:
    """One row per micrograph with the counts and the four headline metrics (all six are in
    --json), so it fits 72 columns; long names wrap instead of being cut."""
    table = Table(title=f"{paradigm} paradigm, per micrograph", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("micrograph", overflow="fold", min_width=12)
    for header, _ in PER_MICROGRAPH_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for name, counts in evaluation.per_micrograph.items():
        summary = counts[paradigm].summary()
        table.add_row(name, *(format_metric(summary[key]) for _, key in PER_MICROGRAPH_COLUMNS))
    return table


BENCH_COLUMNS = ("picker", "D", "picks", "P", "R", "F1", "P int", "R int", "F1 int", "s/mic")


@app.command()
def bench(
    data: Annotated[Path, typer.Option(help="Folder of benchmark sets: each set folder holds "
                                       "images/, truth/ (coordinates in image pixels) and meta.json "
                                       "with particle_diameter_angstrom (MRC images with their "
                                       "pixel size in the header) or particle_diameter_px (any "
                                       "images).")] = Path("../shared/bench"),
    compare: Annotated[list[str] | None, typer.Option(
        "--compare", help="Also run another picker on the same MRCs: relion-log (relion_autopick "
        "--LoG, diameters 0.8-1.2 x D, --shrink 0, lowpass for a ~16 px particle) or "
        "cryostream-cli (the `cryostream pick` command, one worker, timed start to exit).")
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
    from .bench.picking import COMPARISONS, bench_json, bench_set_report
    from .bench.sets import find_sets

    unknown = sorted(set(compare or ()) - set(COMPARISONS))
    if unknown:
        fail(f"--compare must be one of {', '.join(COMPARISONS)}, got {', '.join(unknown)}")
    try:
        scales = [float(value) for value in diameter_scale.split(",") if value.strip()]
    except ValueError:
        fail(f"--diameter-scale must be comma-separated numbers, got {diameter_scale!r}")
    if not scales or min(scales) <= 0:
        fail(f"--diameter-scale needs positive factors, got {diameter_scale!r}")
    try:
        config = load_config(config_file) if config_file is not None else preset(preset_name)
        bench_sets = find_sets(data, [name for name in (sets or "").split(",") if name])
    except (ValueError, BadInputError) as error:
        fail(str(error))
    reports = []
    out = Console()
    with tempfile.TemporaryDirectory(prefix="cryostream-bench-") as work:
        for bench_set in bench_sets:
            console.print(f"{bench_set.name}: {len(bench_set.images)} micrographs, particle "
                          f"{bench_set.diameter_angstrom:g} Å = {bench_set.diameter_px:.1f} px "
                          f"at {bench_set.pixel_size_angstrom:g} Å/px ...", highlight=False)
            try:
                report = bench_set_report(bench_set, config, Path(work), compare or (), scales)
            except BadInputError as error:
                fail(str(error))
            reports.append(report)
            out.print(bench_table(report))
    if json_out is not None:
        write_atomically(json_out, bench_json(reports, data, config))
        console.print(f"figures written to {json_out}", highlight=False)


def bench_table(report: SetReport) -> Table:
    """One set's figures, one row per picker (the lattice is chance level), with the RELION /
    cryostream time ratios and the F1 lost at a wrong diameter."""
    from .bench.picking import CRYOSTREAM, CRYOSTREAM_CLI

    caption = [f"{picker} skipped: {reason}" for picker, reason in report.skipped.items()]
    for ours in (CRYOSTREAM, CRYOSTREAM_CLI):
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


@app.command("preview", short_help="Draw the picks (and truth) on a micrograph as a PNG.")
def preview_command(
    micrograph: Annotated[Path, typer.Argument(help="Micrograph file (MRC, PNG, JPEG, TIFF).")],
    picks: Annotated[Path | None, typer.Argument(
        help="Coordinate STAR file (x, y in pixels of the original micrograph). Without it the "
        "micrograph is picked now with --diameter and --preset or --config.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Overlay image to write (.png or .jpg).")
                   ] = Path("overlay.png"),
    truth: Annotated[Path | None, typer.Option(
        help="Truth STAR file (x, y in pixels of the original micrograph): true positives, false "
        "positives and misses (matched within 0.5 x diameter) get their own colours.")] = None,
    diameter: DiameterOption = None,
    pixel_size: PixelSizeOption = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    low_pass: Annotated[float, typer.Option(
        "--low-pass", help="Gaussian low-pass for visibility: sigma in particle diameters "
        "(0 = off).")] = DEFAULT_LOW_PASS_DIAMETERS,
    max_side: Annotated[int, typer.Option(
        "--max-side", help="Downscale for display so the longer side is at most this many pixels; "
        "circles keep the particle's diameter.")] = DEFAULT_MAX_SIDE_PX,
) -> None:
    """Draw circles of the particle diameter on a micrograph: picks in orange, or with --truth
    true positives, false positives and misses in colour-blind-safe colours with a legend."""
    config = (build_config(diameter, pixel_size, preset_name, config_file)
              if picks is None or diameter is not None or config_file is not None else None)
    try:
        counts = write_preview(micrograph, out, config, picks, truth, low_pass, max_side)
    except (BadInputError, ValueError) as error:
        fail(str(error))
    summary = ", ".join(f"{count} {label}" for label, count in counts.items())
    console.print(f"wrote {out}: {summary}", highlight=False)


@app.command("report", short_help="Write the HTML session report of an output folder.")
def report_command(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of a pick or watch run (it holds "
                                            "the journal).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="HTML file to write. Default: OUT_DIR/report.html.")] = None,
) -> None:
    """Write the session report: one self-contained HTML file (summary, plots, thumbnails with
    picks, failed files) that opens in any browser without a server."""
    from .report import write_report

    try:
        written = write_report(out_dir, output)
    except (BadInputError, OSError) as error:
        fail(str(error))
    console.print(f"wrote {written}", highlight=False)


@app.command("config", short_help="Show the effective configuration as TOML.")
def config_command(
    show: Annotated[bool, typer.Option("--show", help="Print the effective configuration as TOML "
                                       "(what happens when --write is not given).")] = False,
    write: Annotated[Path | None, typer.Option(
        "--write", help="Write the effective configuration to this TOML file, to edit and pass "
        "back with --config.")] = None,
    diameter: DiameterOption = None,
    pixel_size: PixelSizeOption = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    threshold: ThresholdOption = None,
) -> None:
    """Show the effective picker configuration (preset or --config file, then command-line
    overrides) as TOML: every parameter, lengths in Å or particle diameters."""
    placeholder = diameter is None and config_file is None
    config = build_config(PickerConfig.diameter_angstrom if placeholder else diameter, pixel_size,
                          preset_name, config_file, threshold)
    text = dump_config(config)
    if placeholder:
        text = "# diameter_angstrom is a placeholder: set it with --diameter (Å)\n" + text
    if write is not None:
        write_atomically(write, text)
        console.print(f"wrote {write}", highlight=False)
    if show or write is None:
        typer.echo(text, nl=False)


@app.command()
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
    from .bench.tune import changed_values
    from .bench.tune import tune as run_tune

    config = build_config(diameter, pixel_size, preset_name, config_file)
    try:
        result = run_tune(config, data, trials, seed, workers)
    except BadInputError as error:
        fail(str(error))
    start, best = result.start, result.best
    scored = sum(trial.counts is not None for trial in result.trials)
    summary = (f"F1 {start.f1:.3f} -> {best.f1:.3f} (precision {best.counts.precision:.3f}, recall "
               f"{best.counts.recall:.3f}) on {data}, best of {scored} scored trials "
               f"(trial {best.index}, seed {seed}, {len(result.parameters)} parameters searched)")
    write_atomically(out, "".join(f"# {line}\n" for line in (f"cryostream tune: {summary}",))
                     + dump_config(best.config))
    for name, before, after in changed_values(result):
        console.print(f"  {name}: {before} -> {after}", highlight=False)
    console.print(f"{summary} in {result.seconds:.0f} s. Wrote {out}", highlight=False)


@app.command("bench-throughput")
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
    from .bench.throughput import measurements_json, run_throughput_bench, scaling_ratio

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


@app.command()
def watch(
    acquisition_dir: Annotated[Path, typer.Argument(help="The microscope's output folder, followed "
                                                    "recursively (EPU Images-Disc*/GridSquare_*/"
                                                    "Data, SerialEM flat folders).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; the acquisition tree is "
                                      "mirrored under it, with particles.star for all picks.")
                   ] = Path("picks"),
    diameter: DiameterOption = None,
    pixel_size: PixelSizeOption = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    threshold: ThresholdOption = None,
    include: Annotated[list[str] | None, typer.Option(
        "--include", help="Glob of micrograph files (repeatable; default *.mrc). Matched against "
        "the file name, or the path below ACQUISITION_DIR when it has a '/'.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Glob of files to leave alone (repeatable), added to the defaults: "
        "power spectra (*_PS.mrc, *_ctf.mrc), gain references (*gain*, CountRef*), movies "
        "(*_Fractions.mrc), EPU grid-square and foil-hole images. Hidden and .tmp files are "
        "always skipped.")] = None,
    quiet_seconds: Annotated[float, typer.Option(
        help="A file counts as complete once its size and time stamp stay unchanged this long "
        "(seconds), unless a close-after-write or rename event says so sooner.")] = 3.0,
    polling: Annotated[bool, typer.Option(
        "--polling", help="Poll the folder instead of using inotify: needed on NFS/CIFS mounts, "
        "where file events from other machines are not seen.")] = False,
    poll_seconds: Annotated[float, typer.Option(help="Seconds between polls with --polling.")
                            ] = 1.0,
    retries: Annotated[int, typer.Option(min=0, help="Times a file that fails to read is tried "
                                         "again (with doubling back-off) before it is recorded "
                                         "as failed.")] = 3,
    retry_seconds: Annotated[float, typer.Option(help="First back-off in seconds.")] = 1.0,
    on_config_change: Annotated[str, typer.Option(
        help="When OUT was picked with other parameters: abort (default, explains), keep (earlier "
        "picks stay) or redo (pick everything again).")] = "abort",
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Try micrographs that failed in earlier runs again (e.g. after "
        "freeing disk space).")] = False,
    once: Annotated[bool, typer.Option("--once", help="Pick what is there now and exit "
                                       "(exit code 1 if any micrograph failed).")] = False,
    log_json: Annotated[bool, typer.Option("--log-json", help="Write one JSON object per event "
                                           "to stdout instead of the status line.")] = False,
    suffix: SuffixOption = DEFAULT_SUFFIX,
    box: BoxOption = False,
    image_format: ImageFormatOption = None,
    workers: WorkersOption = None,
    max_in_flight: Annotated[int | None, typer.Option(
        help="Micrographs handed to workers at once (default: 2 x workers); the rest wait as "
        "file names, so a burst of thousands costs little memory.")] = None,
    report_every: Annotated[int, typer.Option(
        min=0, help="Re-write OUT/report.html (the session report) every this many picked "
        "micrographs and at exit; 0 turns it off.")] = 25,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
) -> None:
    """Pick every micrograph that lands in ACQUISITION_DIR, as it lands, until Ctrl-C/SIGTERM.

    Writes the same outputs as pick (coordinates in pixels of the original micrograph; diameter
    in Å), keeps a journal in OUT so a restart (even after kill -9) resumes without losing or
    repeating a micrograph, and re-writes OUT/particles.star every few seconds for import into
    RELION or CryoSPARC at any moment. See `cryostream status OUT`.
    """
    from .watch import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, Reporter, Selection, WatchError, WatchOptions
    from .watch import watch as run_watch

    config = build_config(diameter, pixel_size, preset_name, config_file, threshold)
    check_image_format(image_format)
    selection = Selection(tuple(include or DEFAULT_INCLUDE), DEFAULT_EXCLUDE + tuple(exclude or ()))
    options = WatchOptions(acquisition_dir, out, selection, suffix, box, image_format, quiet_seconds,
                           polling, poll_seconds, retries, retry_seconds, max_in_flight,
                           report_every=report_every, on_config_change=on_config_change,
                           retry_failed=retry_failed, once=once)
    try:
        with Executor(executor, workers, scheduler) as pool:
            failed = run_watch(options, config, pool, Reporter(console, log_json))
    except (WatchError, ValueError) as error:
        fail(str(error))
    if once and failed:
        raise typer.Exit(1)


@app.command()
def status(
    out: Annotated[Path, typer.Argument(help="Output folder of a watch or pick run.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Summarise an output folder's journal: micrographs done / failed / queued, picks, seconds
    per micrograph, recent failures and whether a watch daemon is running (safe while it runs)."""
    from dataclasses import asdict

    from .journal import journal_path
    from .watch import read_status

    if not journal_path(out).is_file():
        fail(f"{out}: no journal ({journal_path(out).name}) here; is this a pick or watch output "
             "folder?")
    session = read_status(out)
    if as_json:
        typer.echo(json.dumps(asdict(session), indent=2))
        return
    counts = session.counts
    daemon = session.daemon
    state = "not running"
    if daemon and session.daemon_running:
        state = f"running (pid {daemon['pid']}, watching {daemon['acquisition_dir']})"
    elif daemon:
        state = f"not running (last seen {time.ctime(daemon['time'])})"

    def figure(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"{out}: {counts['done']} done, {counts['failed']} failed, {counts['queued']} queued",
             f"picks: {session.picks_total} in all, {figure(session.picks_per_micrograph, 1)} per "
             f"micrograph; {figure(session.seconds_per_micrograph, 2)} s per micrograph (median, "
             "one worker)", f"watch daemon: {state}"]
    lines += [f"failed: {failure['error']}" for failure in session.recent_failures]
    typer.echo("\n".join(lines))


@app.command("bench-latency")
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

    from .bench.latency import run_latency_bench

    result = run_latency_bench(micrographs, interval_seconds, quiet_seconds, polling, in_place,
                               workers)
    typer.echo(result.summary())
    if as_json is not None:
        write_atomically(as_json, json.dumps(asdict(result) | {
            "median_seconds": result.median_seconds, "p95_seconds": result.p95_seconds}, indent=2))


@app.command("bench-truth")
def bench_truth(
    masks: Annotated[Path, typer.Argument(help="Folder of label masks (PNG/JPEG/TIFF, searched "
                                          "recursively): filled discs drawn over the particles.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the truth files "
                                      "<mask name>.star (x, y in pixels of the micrographs).")
                   ] = Path("truth"),
    images: Annotated[Path | None, typer.Option(
        help="Folder of the micrographs (searched recursively, matched by file name stem): each "
        "mask is resized to its micrograph first. Without it, coordinates are in mask pixels.")
                      ] = None,
    radius: Annotated[float | None, typer.Option(
        "--radius", help="Drawn disc radius in pixels of the micrographs (default: measured "
        "from the masks' single discs).")] = None,
) -> None:
    """Truth centres from label masks of drawn discs by a greedy union-of-discs fit: place the
    disc, at the drawn radius, that covers the most uncovered label pixels among centres whose
    disc lies inside the mask (within one mask pixel), until a new disc covers under 20 % new
    area. Touching discs merged into one blob are counted one by one."""
    from .bench.truth import fit_mask_files, mask_files, write_coordinates

    try:
        mask_paths = mask_files(masks)
        found = ({} if images is None else
                 {path.stem: path for path, _ in find_micrographs([str(images)])})
        missing = [path.name for path in mask_paths if images is not None and path.stem not in found]
        if missing:
            fail(f"{images}: no micrograph for the masks {', '.join(missing[:3])}")
        fit = fit_mask_files(mask_paths, [found.get(path.stem) for path in mask_paths], radius)
    except BadInputError as error:
        fail(str(error))
    note = (f"cryostream bench-truth: greedy union of discs, radius {fit.radius_px:.2f} px, "
            f"slack {fit.slack_px:.2f} px")
    for name, xy in fit.centres.items():
        write_coordinates(xy, out / f"{name}.star", [note])
    console.print(f"drawn radius {fit.radius_px:.2f} px (diameter {2 * fit.radius_px:.1f} px); "
                  f"{fit.total} centres in {len(fit.centres)} masks written to {out}",
                  highlight=False)



@app.command("bench-simulate")
def bench_simulate(
    data: Annotated[Path, typer.Argument(help="Folder to write the sets into (one folder per "
                                         "set, the layout bench reads).")],
    sets: Annotated[str | None, typer.Option(help="Comma-separated recipe names (default: all: "
                                             "sim-globular-4k, sim-tetramer-4k, sim-shell-2k, "
                                             "sim-ribosome-2k).")] = None,
    micrographs: Annotated[int, typer.Option(min=1, help="Micrographs per set.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same files.")
                    ] = 0,
) -> None:
    """Write simulated labelled sets like real held-out data: float32 MRCs with a real pixel size
    (0.83-1.4 Å/px), phase contrast through a 300 kV CTF at 0.8-2.5 µm defocus, crowded
    projections of blobby 3-D particles (110-250 Å) in random orientations, ice thickness
    gradients, contamination, carbon edges and counting noise; truth in pixels of the images and
    meta.json with particle_diameter_angstrom."""
    from .bench.simulated_sets import write_simulated_sets

    try:
        written = write_simulated_sets(data, [name for name in (sets or "").split(",") if name],
                                       micrographs, seed)
    except ValueError as error:
        fail(str(error))
    for bench_set in written:
        console.print(f"wrote {bench_set.folder}: {len(bench_set.images)} micrographs, particle "
                      f"{bench_set.diameter_angstrom:g} Å at {bench_set.pixel_size_angstrom:g} "
                      "Å/px", highlight=False)


@app.command("bench-make-crowded")
def bench_make_crowded(
    source: Annotated[Path, typer.Argument(help="A bench set of crowded real micrographs (e.g. "
                                           "trpv1-10059), all of one size.")],
    out: Annotated[Path, typer.Argument(help="The set folder to write (outside the repository).")],
    size: Annotated[int, typer.Option(min=64, help="Width of the new micrographs in px.")] = 4096,
    tiles: Annotated[int, typer.Option(min=1, help="Source micrographs per side of a new one.")
                     ] = 1,
    quarter_turns: Annotated[str, typer.Option(
        "--quarter-turns", help="Comma-separated quarter turns; each makes one new micrograph per "
        "source micrograph.")] = "0,1",
    pixel_size: Annotated[float, typer.Option(help="Nominal pixel size for the headers (Å/px); "
                                              "the diameter in Å follows from it.")] = 1.1,
    seed: Annotated[int, typer.Option(help="Random seed of the noise.")] = 0,
) -> None:
    """Make a crowded float32 MRC set from a set of crowded real micrographs: each new micrograph
    is TILES x TILES source micrographs, turned, upsampled bicubically to SIZE px, with pixel-level
    noise matched to the sources' (invisible at the sources' scale); truth centres follow the same
    turns, tiling and scaling."""
    from .bench.crowded import make_crowded_set

    try:
        turns = tuple(int(value) for value in quarter_turns.split(",") if value.strip())
        made = make_crowded_set(source, out, size, tiles, turns, pixel_size, seed)
    except (ValueError, BadInputError) as error:
        fail(str(error))
    console.print(f"wrote {made.folder}: {len(made.images)} micrographs of {size} px, particle "
                  f"{made.diameter_angstrom:g} Å = {made.diameter_px:.1f} px", highlight=False)
