"""The ``cryostream`` command line: a thin typer layer over the library."""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .config import PRESETS, PickerConfig, load_config, preset
from .evaluation import PARADIGMS, evaluate_files
from .executor import Executor, pick_file
from .io import MICROGRAPH_SUFFIXES, BadInputError
from .journal import Journal
from .outputs import COMBINED_STAR, IMAGE_FORMATS, OutputOptions, provenance, write_outputs
from .star import DEFAULT_SUFFIX, write_combined_star

app = typer.Typer(help="Live filter-and-cluster particle picking for cryo-EM micrographs. "
                  "Coordinates are written in pixels of the original micrograph; diameters are in "
                  "Å, using the pixel size from the MRC header unless --pixel-size overrides it.",
                  no_args_is_help=True, rich_markup_mode=None)
console = Console(stderr=True)

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
            raise typer.BadParameter("give the particle diameter in Å (--diameter) or a --config "
                                     "file that sets diameter_angstrom", param_hint="--diameter")
        return preset(preset_name, **overrides)
    except (ValueError, BadInputError) as error:
        fail(str(error))
    raise AssertionError("unreachable")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


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


@app.command()
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
    suffix: Annotated[str, typer.Option(help="Coordinate files are named "
                                        "<micrograph>_<suffix>.star.")] = DEFAULT_SUFFIX,
    box: Annotated[bool, typer.Option("--box", help="Also write EMAN2 .box files.")] = False,
    image_format: Annotated[str | None, typer.Option(
        "--write-image", help=f"Also write the binned 8-bit image: {' or '.join(IMAGE_FORMATS)}.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: cores - 1).")
                       ] = None,
    executor: Annotated[str, typer.Option(help="local (process pool) or dask.")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786) or scheduler file, with --executor dask.")
    ] = None,
) -> None:
    """Pick particles in micrographs and write RELION/CryoSPARC coordinate files.

    Writes <OUT>/<micrograph>_autopick.star per micrograph (x, y in original pixels) and
    <OUT>/particles.star with every pick and its micrograph name.
    """
    config = build_config(diameter, pixel_size, preset_name, config_file, threshold)
    if image_format is not None and image_format not in IMAGE_FORMATS:
        fail(f"--write-image must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
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
            for outcome in pool.map_unordered(pick_file, list(roots), config,
                                              image_format is not None):
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
                    journal.mark_failed(str(outcome.path), error, config.digest())
                    console.print(f"[red]failed:[/red] {error}", highlight=False)
                    continue
                journal.mark_done(str(outcome.path), len(outcome.picks),
                                  mean_or_none(outcome.picks.figure_of_merit), outcome.seconds,
                                  str(written[0]), config.digest())
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


@app.command()
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
    for paradigm in PARADIGMS:
        table = Table(title=f"{paradigm} paradigm", title_justify="left")
        for column in ("micrograph", "TP", "FP", "FN", "accuracy", "precision", "recall", "F1",
                       "F2", "Jaccard"):
            table.add_column(column, justify="left" if column == "micrograph" else "right")
        rows = list(evaluation.per_micrograph.items()) if per_micrograph else []
        for name, counts in [*((n, c[paradigm]) for n, c in rows),
                             ("pooled", evaluation.pooled(paradigm))]:
            table.add_row(name, str(counts.true_positives), str(counts.false_positives),
                          str(counts.false_negatives),
                          *(f"{value:.3f}" for value in (counts.accuracy, counts.precision,
                                                         counts.recall, counts.f1, counts.f2,
                                                         counts.jaccard)))
        out.print(table)


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Where to write the synthetic acquisition and "
                                           "its picks.")] = Path("cryostream-demo"),
    micrographs: Annotated[int, typer.Option(help="Number of synthetic micrographs.")] = 6,
) -> None:
    """Generate a synthetic acquisition (EPU-like tree of MRCs, 1.5 Å/px, 60 Å particles), pick it
    with the default preset and score the picks against the known positions."""
    from .synthetic import write_acquisition

    acquisition, out = folder / "acquisition", folder / "picks"
    write_acquisition(acquisition, micrographs, diameter_px=40.0, pixel_size_angstrom=1.5)
    console.print(f"wrote {micrographs} synthetic micrographs to {acquisition}", highlight=False)
    pick([str(acquisition / "GridSquare_*" / "Data" / "*.mrc")], out=out, diameter=60.0,
         pixel_size=None, preset_name="default", config_file=None, threshold=None,
         suffix=DEFAULT_SUFFIX, box=False, image_format="png", workers=None, executor="local",
         scheduler=None)
    evaluate(out, acquisition / "truth", diameter=None, radius=0.5, cell=100.0,
             per_micrograph=False, as_json=False)
