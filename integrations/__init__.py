"""Shims that run cryostream inside other software (RELION External job, CryoSPARC External job).

They are front doors like the command line: each parses its host's arguments into one
configuration (options derived from :data:`cryostream.config.SETTINGS`) and the host's micrographs
into session tasks, and runs one batch session; the session does the rest. The core never imports
this package.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cryostream.config import PRESET_HELP, SETTINGS, PickerConfig
from cryostream.session.policy import CHOICES
from cryostream.session.settings import (
    auto_range,
    effective_config,
    option_overrides,
    parse_diameter,
)


def add_picker_arguments(parser: argparse.ArgumentParser) -> None:
    """The picker options every shim takes: each configuration field with a command-line option
    (help and unit from the schema), the preset, a TOML file and the configuration policy."""
    for name, setting in SETTINGS.items():
        if name == "diameter_angstrom":
            parser.add_argument("--diameter", help=setting.describe() + "; or auto: measured on "
                                "the first micrographs and recorded in every STAR header.")
        elif setting.option is not None:
            parser.add_argument(setting.option, type=setting.kind, help=setting.describe() + ".")
    parser.add_argument("--diameter_range", "--diameter-range", metavar="MIN:MAX",
                        help="With --diameter auto: the diameters to search, in Å (default "
                        "20:600).")
    parser.add_argument("--preset", default="default", help=PRESET_HELP + ".")
    parser.add_argument("--config", type=Path,
                        help="TOML file with picker parameters; the options above override it.")
    parser.add_argument("--on_config_change", "--on-config-change", default="abort",
                        choices=CHOICES, help="When this output was picked with other parameters: "
                        "abort (the default; names each changed parameter), keep (earlier picks "
                        "stay) or redo (pick everything again).")


def picker_config(args: argparse.Namespace) -> PickerConfig:
    """The configuration from parsed :func:`add_picker_arguments` options (with ``--diameter
    auto`` the session sets the diameter; see :func:`measured_diameter`)."""
    overrides = option_overrides({**vars(args), "diameter": parse_diameter(args.diameter)})
    return effective_config(args.preset, args.config, overrides,
                            measured_diameter(args) is not None)


def measured_diameter(args: argparse.Namespace) -> tuple[float, float] | None:
    """The range (Å) to measure the diameter in with ``--diameter auto``, else None."""
    return auto_range(args.diameter, args.diameter_range)
