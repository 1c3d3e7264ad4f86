"""The effective configuration of a session, as every front door builds it: a preset or a TOML
file, then the options given; a bad value is a :class:`UsageError` naming the option it came from."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..config import SETTINGS, ConfigError, PickerConfig, load_config, preset
from .errors import UsageError


def effective_config(preset_name: str, config_file: Path | None,
                     overrides: dict[str, Any]) -> PickerConfig:
    """``config_file`` (or the preset ``preset_name``) with ``overrides`` (field -> value; None
    means not given). The diameter is required from one or the other."""
    try:
        if config_file is not None:
            return load_config(config_file, **overrides)
        if overrides.get("diameter_angstrom") is None:
            raise UsageError("give the particle diameter in Å with --diameter, or a --config file "
                             "that sets diameter_angstrom")
        return preset(preset_name, **overrides)
    except ConfigError as error:
        option = SETTINGS[error.key].option if error.key in SETTINGS else None
        raise UsageError(f"{option or error.key}: {error.problem}") from error


def option_overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Configuration fields from option values keyed by option name without dashes
    (``diameter``, ``threshold``), for the fields that have an option."""
    return {name: values.get(setting.option.lstrip("-").replace("-", "_"))
            for name, setting in SETTINGS.items() if setting.option is not None}


def check_positive(option: str, value: float | None, unit: str = "") -> None:
    """Refuse an option value (None: not given) that is not a positive finite number."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a positive number{f' of {unit}' if unit else ''}, "
                         f"got {value:g}")
