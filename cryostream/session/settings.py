"""The effective configuration of a session, as every front door builds it: a preset or a TOML
file, then the options given; a bad value is a :class:`UsageError` naming the option it came from."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..config import (
    DEFAULT_DIAMETER_RANGE_ANGSTROM,
    SETTINGS,
    ConfigError,
    PickerConfig,
    load_config,
    preset,
)
from .errors import UsageError

AUTO = "auto"


def effective_config(preset_name: str, config_file: Path | None,
                     overrides: dict[str, Any], measured: bool = False) -> PickerConfig:
    """``config_file`` (or the preset ``preset_name``) with ``overrides`` (field -> value; None
    means not given). The diameter is required from one or the other, unless it is
    ``measured`` (``--diameter auto``: the session sets it)."""
    try:
        if config_file is not None:
            return load_config(config_file, **overrides)
        if overrides.get("diameter_angstrom") is None and not measured:
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


def parse_diameter(text: str | float | None) -> float | None:
    """The ``--diameter`` value in Å, or None for ``auto`` or not given; anything else that is
    not a number is a :class:`UsageError` (its range is checked with the configuration)."""
    if text is None or str(text).strip().lower() == AUTO:
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--diameter must be a number of Å or auto, got {text!r}") from None


def auto_range(diameter: str | float | None,
               range_text: str | None) -> tuple[float, float] | None:
    """The diameter range (Å) to search when ``--diameter auto`` was given (``--diameter-range
    MIN:MAX``, default 20:600), else None; a range without ``auto`` is a :class:`UsageError`."""
    auto = diameter is not None and str(diameter).strip().lower() == AUTO
    if range_text is None:
        return DEFAULT_DIAMETER_RANGE_ANGSTROM if auto else None
    if not auto:
        raise UsageError("--diameter-range is used only with --diameter auto")
    try:
        low, high = (float(part) for part in range_text.split(":"))
    except ValueError:
        raise UsageError(f"--diameter-range must be MIN:MAX in Å, got {range_text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise UsageError(f"--diameter-range must satisfy 0 < MIN < MAX (Å), got {range_text!r}")
    return low, high
