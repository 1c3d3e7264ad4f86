"""The ``cryostream`` command line: a package of small command modules over the session and the
core. The command group is the one error boundary: a wrong option, bad input named by the user
or an output folder that cannot be written ends the command with one line and exit code 2."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from ..io import BadInputError
from ..session.errors import OutputError, UsageError
from . import bench, bench_data, bench_speed, evaluate, pick, preview, watch
from .common import fail

COMMAND_ORDER = ("demo", "pick", "evaluate", "preview", "watch", "status", "report", "config", "bench",
                 "tune")


class CommandOrder(TyperGroup):
    """Lists commands in the order a new user needs them (COMMAND_ORDER), then any others in the
    order they were added; turns the expected errors of any command into one line."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: COMMAND_ORDER.index(name) if name in COMMAND_ORDER
                      else len(COMMAND_ORDER))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (UsageError, OutputError, BadInputError) as error:
            fail(str(error))


app = typer.Typer(cls=CommandOrder,
                  help="Live filter-and-cluster particle picking for cryo-EM micrographs. "
                  "Coordinates are written in pixels of the original micrograph; diameters are in "
                  "Å, using the pixel size from the MRC header unless --pixel-size overrides it.",
                  no_args_is_help=True, rich_markup_mode=None)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cryostream {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                               is_eager=True, help="Print the version.")] = False
         ) -> None:
    """Live filter-and-cluster particle picking for cryo-EM micrographs."""


for module in (pick, evaluate, preview, watch, bench, bench_speed, bench_data):
    module.register(app)
