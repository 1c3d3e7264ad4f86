"""What the commands share: the console, the one-line error exit, and option definitions derived
from the configuration schema (:data:`cryostream.config.SETTINGS`) and the session's choices."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperCommand

from ..config import PRESET_HELP, SETTINGS, PickerConfig
from ..session.errors import UsageError
from ..session.executor import KINDS, ExecutorChoice
from ..session.naming import IMAGE_FORMATS
from ..session.policy import CHOICES
from ..session.settings import auto_range, effective_config, option_overrides, parse_diameter

if TYPE_CHECKING:
    from ..session.outputs import OutputOptions

# messages are never wrapped: a path in a log line or a one-line error stays whole and greppable
console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit."""
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


class PlainHelp(TyperCommand):
    """Help as command-line tools print it: ``Usage: cryostream evaluate [OPTIONS] PICKS TRUTH``
    and ``INPUTS...`` in the arguments, not typer's ``{picks}`` and ``<list[str]>``; a repeatable
    option shows the type of one value, a bounded one its number type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument" and param.name:
                param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        arguments = [param for param in self.get_params(ctx) if param.param_type_name == "argument"]
        return [self.options_metavar or "", *(str(param.metavar) if param.required
                                              else f"[{param.metavar}]" for param in arguments)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                sections["Arguments"].append((str(param.metavar), record[1]))
            else:
                name = re.sub(r"<list\[(\w+)\]>|<(\w+) range>", r"<\1\2>", record[0])
                sections["Options"].append((name, record[1]))
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def warn(message: str) -> None:
    """Print a one-line warning."""
    console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def schema_option(name: str, *aliases: str) -> Any:
    """A typer option for a configuration field, with its help and unit from the schema."""
    setting = SETTINGS[name]
    return typer.Option(setting.option, *aliases, help=setting.describe() + ".")


DiameterOption = Annotated[float | None, schema_option("diameter_angstrom", "-d")]
MeasuredDiameterOption = Annotated[str | None, typer.Option(
    "--diameter", "-d", metavar="<Å|auto>", help=SETTINGS["diameter_angstrom"].describe()
    + "; or auto: measured on the first micrographs (the learned template's signal plateau) and "
    "recorded in every STAR header.")]
DiameterRangeOption = Annotated[str | None, typer.Option(
    "--diameter-range", metavar="<MIN:MAX>", help="With --diameter auto: the diameters to "
    "search, MIN:MAX in Å (default 20:600).")]
ThresholdOption = Annotated[float | None, schema_option("min_figure_of_merit")]
PixelSizeOption = Annotated[float | None, typer.Option(
    "--pixel-size", help="Pixel size in Å/px; overrides the MRC header (and RELION's or "
    "CryoSPARC's metadata). Required for PNG/JPEG/TIFF.")]
PresetOption = Annotated[str, typer.Option("--preset", help=PRESET_HELP + ".")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML file with picker parameters (see examples/config.toml); "
    "command-line options override it.")]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder; the input folder "
                                         "tree is mirrored under it, with particles.star for all "
                                         "picks and a journal.")]
SuffixOption = Annotated[str, typer.Option(
    help="Coordinate files are named <micrograph>_<suffix>.star.")]
BoxOption = Annotated[bool, typer.Option("--box", help="Also write EMAN2 .box files.")]
ImageFormatOption = Annotated[str | None, typer.Option(
    "--write-image", help=f"Also write the binned 8-bit image: {' or '.join(IMAGE_FORMATS)}.")]
OnConfigChangeOption = Annotated[str, typer.Option(
    help="When OUT was picked with other parameters: abort (the default; names each changed "
    "parameter), keep (earlier picks stay, new micrographs get the new parameters) or redo (pick "
    f"everything again). One of {', '.join(CHOICES)}.")]
IncludeOption = Annotated[list[str] | None, typer.Option(
    "--include", help="Glob of micrograph files in folders (repeatable; default *.mrc). Matched "
    "against the file name, or the path below the input folder when it has a '/'.")]
ExcludeOption = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Glob of files to leave alone (repeatable), added to the defaults: power "
    "spectra, CTF fits, gain references, movies (*_Fractions.mrc), atlas, EPU grid-square and "
    "foil-hole images. Hidden and .tmp files are always skipped.")]
WorkersOption = Annotated[int | None, typer.Option(
    min=1, help="Worker processes (default: one per core).")]
ExecutorOption = Annotated[str, typer.Option(
    help="local (a process pool on this machine) or dask (a Dask cluster; its workers must see "
    f"the micrographs under the same paths). One of {', '.join(KINDS[:2])}.")]
SchedulerOption = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://host:8786) or scheduler file, with --executor dask; "
    "without it a LocalCluster of --workers processes is started.")]


def build_config(diameter: str | float | None, preset_name: str, config_file: Path | None,
                 threshold: float | None = None, measured: bool = False) -> PickerConfig:
    """The effective configuration: preset or TOML file, then command-line overrides (with
    ``measured``, ``--diameter auto``: the session sets the diameter)."""
    return effective_config(preset_name, config_file, option_overrides(
        {"diameter": parse_diameter(diameter), "threshold": threshold}), measured)


def session_config(diameter: str | None, diameter_range: str | None, preset_name: str,
                   config_file: Path | None, threshold: float | None
                   ) -> tuple[PickerConfig, tuple[float, float] | None]:
    """The configuration of a picking session and, with ``--diameter auto``, the range (Å) the
    session measures the diameter in."""
    measured = auto_range(diameter, diameter_range)
    return build_config(diameter, preset_name, config_file, threshold, measured is not None), measured


def output_options(out: Path, box: bool, image_format: str | None) -> OutputOptions:
    """The output choices, checked."""
    from ..session.outputs import OutputOptions

    if image_format is not None and image_format not in IMAGE_FORMATS:
        raise UsageError(f"--write-image must be one of {', '.join(IMAGE_FORMATS)}, got "
                         f"{image_format!r}")
    return OutputOptions(out, box, image_format)


def executor_choice(executor: str, workers: int | None, scheduler: str | None) -> ExecutorChoice:
    if executor not in KINDS[:2]:
        raise UsageError(f"--executor must be local or dask, got {executor!r}")
    return ExecutorChoice(executor, workers, scheduler)


def add_command(app: typer.Typer, function: Callable[..., None], short_help: str,
                name: str | None = None) -> None:
    """Register a command with the help layout every cryostream command uses (:class:`PlainHelp`)."""
    app.command(name, cls=PlainHelp, short_help=short_help)(function)
