"""Looking at picks and settings: ``cryostream preview`` (an overlay PNG), ``cryostream report``
(the HTML session report) and ``cryostream config`` (the effective configuration as TOML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import PickerConfig, dump_config
from ..preview import DEFAULT_LOW_PASS_DIAMETERS, DEFAULT_MAX_SIDE_PX, write_preview
from ..session.errors import check_output_file, output_boundary
from ..session.settings import check_positive
from ..star import write_atomically
from .common import (
    ConfigOption,
    DiameterOption,
    PixelSizeOption,
    PresetOption,
    ThresholdOption,
    add_command,
    build_config,
    console,
    warn,
)


def preview(
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
        "--low-pass-diameters", help="Gaussian low-pass for visibility: sigma in particle "
        "diameters (0 = off).")] = DEFAULT_LOW_PASS_DIAMETERS,
    max_side: Annotated[int, typer.Option(
        "--max-side-px", min=64, help="Downscale for display so the longer side is at most this "
        "many pixels; circles keep the particle's diameter.")] = DEFAULT_MAX_SIDE_PX,
) -> None:
    """Draw circles of the particle diameter on a micrograph: picks in orange, or with --truth
    true positives, false positives and misses in colour-blind-safe colours with a legend; a
    caption names the file and the diameter (Å, px and pixel size)."""
    from ..session.preflight import check_first_micrograph

    check_positive("--pixel-size", pixel_size, "Å/px")
    check_positive("--low-pass-diameters", low_pass or None, "particle diameters")
    config = (build_config(diameter, preset_name, config_file)
              if picks is None or diameter is not None or config_file is not None else None)
    if config is not None:
        for note in check_first_micrograph(micrograph, config.diameter_angstrom, pixel_size):
            warn(note)
    check_output_file(out)
    with output_boundary(out):
        counts, caption = write_preview(micrograph, out, config, picks, truth, low_pass,
                                        max_side, pixel_size)
    summary = ", ".join(f"{count} {label}" for label, count in counts.items())
    console.print(f"wrote {out}: {summary} ({caption})", highlight=False)


def report(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of a pick or watch run (it holds "
                                            "the journal).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="HTML file to write. Default: OUT_DIR/report.html.")] = None,
) -> None:
    """Write the session report: one self-contained HTML file (summary, plots, thumbnails with
    picks, failed files) that opens in any browser without a server."""
    from ..report import REPORT_NAME, write_report

    target = output or out_dir / REPORT_NAME
    check_output_file(target)
    with output_boundary(target):
        written = write_report(out_dir, output)
    console.print(f"wrote {written}", highlight=False)


def config(
    show: Annotated[bool, typer.Option("--show", help="Print the effective configuration as TOML "
                                       "(what happens when --write is not given).")] = False,
    write: Annotated[Path | None, typer.Option(
        "--write", help="Write the effective configuration to this TOML file, to edit and pass "
        "back with --config.")] = None,
    diameter: DiameterOption = None,
    preset_name: PresetOption = "default",
    config_file: ConfigOption = None,
    threshold: ThresholdOption = None,
) -> None:
    """Show the effective picker configuration (preset or --config file, then command-line
    overrides) as TOML, each parameter with its meaning and unit: lengths in Å or particle
    diameters. The pixel size is not part of it: it comes from the data or --pixel-size."""
    placeholder = diameter is None and config_file is None
    effective = build_config(PickerConfig.diameter_angstrom if placeholder else diameter,
                             preset_name, config_file, threshold)
    text = dump_config(effective, comments=True)
    if placeholder:
        text = "# diameter_angstrom is a placeholder: set it with --diameter (Å)\n" + text
    if write is not None:
        check_output_file(write)
        with output_boundary(write):
            write_atomically(write, text)
        console.print(f"wrote {write}", highlight=False)
    if show or write is None:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    add_command(app, preview, "Draw the picks (and truth) on a micrograph as a PNG.")
    add_command(app, report, "Write the HTML session report of an output folder.")
    add_command(app, config, "Show the effective configuration as TOML.")
