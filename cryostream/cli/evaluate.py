"""``cryostream evaluate``: score coordinate files against truth, as tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..session.settings import check_positive
from .common import add_command, warn

if TYPE_CHECKING:
    from ..evaluation import Evaluation


def evaluate(
    picks: Annotated[Path, typer.Argument(help="Coordinate STAR file or folder of them.")],
    truth: Annotated[Path, typer.Argument(help="Truth STAR file or folder; files pair up by "
                                          "micrograph name (mic_autopick.star ~ mic.star).")],
    diameter: Annotated[float | None, typer.Option(
        "--diameter", "-d", help="Particle diameter in Å; sets the matching radius, in pixels "
        "at --pixel-size or the pixel size recorded in each picks file. Default: the diameter "
        "recorded in the picks files.")] = None,
    pixel_size: Annotated[float | None, typer.Option(
        "--pixel-size", help="Pixel size in Å/px of the micrographs the picks are of, to turn "
        "--diameter into pixels. Default: the one recorded in each picks file.")] = None,
    radius: Annotated[float, typer.Option(
        "--radius-diameters", help="Matching radius in particle diameters (distance paradigm).")
                      ] = 0.5,
    cell: Annotated[float, typer.Option(
        "--cell-px", help="Grid cell size in pixels of the micrograph (grid paradigm).")] = 100.0,
    per_micrograph: Annotated[bool, typer.Option("--per-micrograph",
                                                 help="Also print each micrograph's figures.")
                              ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")
                       ] = False,
) -> None:
    """Score picks against ground truth: accuracy, precision, recall, F1, F2 and Jaccard under
    the distance paradigm (one-to-one matching within RADIUS x diameter) and the grid paradigm.
    A truth micrograph without a picks file counts as all missed."""
    from ..evaluation import evaluate_files

    for option, value, unit in (("--diameter", diameter, "Å"), ("--pixel-size", pixel_size, "Å/px"),
                                ("--radius-diameters", radius, "particle diameters"),
                                ("--cell-px", cell, "px")):
        check_positive(option, value, unit)
    evaluation = evaluate_files(picks, truth, diameter, pixel_size, cell, radius)
    if evaluation.without_picks:
        names = evaluation.without_picks
        warn(f"{len(names)} truth {'micrograph has' if len(names) == 1 else 'micrographs have'}"
             f" no picks file in {picks}, counted as all missed: {', '.join(names)}")
    if as_json:
        typer.echo(json.dumps(evaluation.to_dict(), indent=2))
        return
    out = Console()
    if per_micrograph:
        for paradigm in evaluation.paradigms:
            out.print(per_micrograph_table(evaluation, paradigm))
    out.print(pooled_table(evaluation))
    for line in (f"distance: one-to-one matches within {radius:g} particle diameters",
                 f"diameter: {describe_scales(evaluation)}", f"grid: cells of {cell:g} x {cell:g} px"):
        out.print(line, highlight=False)


def describe_scales(evaluation: Evaluation) -> str:
    """The diameter the picks were scored with: one value, or the range over the files."""
    scales = sorted(set(evaluation.scales.values()), key=lambda scale: scale.diameter_px)
    if len(scales) == 1:
        return scales[0].describe()
    return f"{scales[0].diameter_px:.3g}-{scales[-1].diameter_px:.3g} px, as recorded per file"


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


def pooled_table(evaluation: Evaluation) -> Table:
    """Pooled figures with one row per metric and one column per paradigm: narrow enough for any
    terminal (what the paradigms mean is printed below it, unwrapped)."""
    count = len(evaluation.per_micrograph)
    table = Table(title=f"pooled over {count} micrograph{'' if count == 1 else 's'}",
                  title_justify="left")
    table.add_column("metric", no_wrap=True)
    summaries = {paradigm: evaluation.pooled(paradigm).summary()
                 for paradigm in evaluation.paradigms}
    for paradigm in summaries:
        table.add_column(paradigm, justify="right", no_wrap=True)
    for label, key in EVALUATION_ROWS:
        table.add_row(label, *(format_metric(summary[key]) for summary in summaries.values()))
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


def register(app: typer.Typer) -> None:
    add_command(app, evaluate, "Score picks against truth: precision, recall, F1.")
