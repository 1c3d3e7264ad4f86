"""The picker's configuration: one dataclass whose fields carry the schema (type, range, unit, help),
named presets, TOML load/dump and a stable digest.

Every front door derives its options from :data:`SETTINGS` (the typer options, the RELION and
CryoSPARC shims' options, TOML validation and ``config --show``), so each parameter is described
once. The pixel size is not here: it belongs to the data (MRC header, RELION optics group, CryoSPARC
exposure, or ``--pixel-size``), not to a way of picking.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import textwrap
import tomllib
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from .cluster import AUTO, METHODS
from .io import BadInputError


class ConfigError(ValueError):
    """A parameter with a value it cannot have; ``key`` names the parameter."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class Setting:
    """How one parameter is described everywhere: its meaning and unit for people, its type and
    range for validation, and its command-line option (None: TOML only)."""

    help: str
    unit: str = ""
    kind: type = float
    minimum: float | None = None
    positive: bool = False
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False
    option: str | None = None

    def describe(self) -> str:
        """The help text with its unit, as option help and TOML comments show it."""
        return f"{self.help} ({self.unit})" if self.unit else self.help

    def check(self, key: str, value: Any) -> None:
        """Raise :class:`ConfigError` when ``value`` is not allowed for ``key``."""
        if value is None and self.optional:
            return
        if self.choices and isinstance(value, str) and value in self.choices:
            return
        if not _has_kind(value, self.kind) or self.kind is str:
            expected = " or ".join(([] if self.kind is str else [_KIND_NAMES[self.kind]])
                                   + [repr(choice) for choice in self.choices])
            raise ConfigError(key, f"must be {expected}, got {value!r}")
        if self.kind in (float, int):
            self._check_range(key, float(value))

    def _check_range(self, key: str, value: float) -> None:
        if not math.isfinite(value):
            raise ConfigError(key, f"must be a finite number, got {value}")
        if self.positive and value <= 0:
            raise ConfigError(key, f"must be positive, got {value:g}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(key, f"must be at least {self.minimum:g}, got {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(key, f"must be at most {self.maximum:g}, got {value:g}")


_KIND_NAMES = {float: "a number", int: "a whole number", bool: "true or false", list: "a list"}


def _has_kind(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_pipeline(steps: Any, where: str = "pipeline") -> None:
    """Check filter steps as a configuration is loaded, not when a micrograph is picked: each step
    names a known filter, each parameter is one that filter takes (``*_diameters`` for its
    ``*_px``), of its type, finite, and lengths are not negative (zero only for ``min_*``)."""
    from .filters import FILTERS  # the filters import SciPy: load them when a pipeline is checked

    if not isinstance(steps, list):
        raise ConfigError(where, f"must be a list of filter steps, got {steps!r}")
    for index, step in enumerate(steps):
        key = f"{where}[{index}]"
        if not isinstance(step, dict):
            raise ConfigError(key, f"must be a table such as {{ filter = \"invert\" }}, got {step!r}")
        if "pipeline" in step:
            check_pipeline(step["pipeline"], f"{key}.pipeline")
            continue
        name = step.get("filter")
        if name not in FILTERS:
            raise ConfigError(f"{key}.filter", f"unknown filter {name!r}; choose from "
                              f"{', '.join(FILTERS)}")
        _check_step(key, name, {k: v for k, v in step.items() if k != "filter"})


def _check_step(key: str, name: str, values: dict[str, Any]) -> None:
    from .filters import FILTERS, laplacian

    parameters = filter_parameters(FILTERS[name])
    for parameter, value in values.items():
        target = (parameter.removesuffix("_diameters") + "_px" if parameter.endswith("_diameters")
                  else parameter)
        if target not in parameters:
            accepted = ", ".join(_spellings(parameters)) or "no parameters"
            raise ConfigError(f"{key}.{parameter}", f"filter {name} takes {accepted}")
        _check_filter_value(f"{key}.{parameter}", target, value, parameters[target][0])
    missing = [p for p, (_, required) in parameters.items() if required
               and p not in values and p.removesuffix("_px") + "_diameters" not in values]
    if missing:
        raise ConfigError(key, f"filter {name} needs {', '.join(missing)}")
    if name == "laplacian" and "kernel" in values:
        try:
            laplacian(np.zeros((3, 3), np.float32), values["kernel"])
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{key}.kernel", str(error)) from error


def _check_filter_value(key: str, parameter: str, value: Any, kind: Any) -> None:
    if kind in (float, int, bool) and not _has_kind(value, kind):
        raise ConfigError(key, f"must be {_KIND_NAMES[kind]}, got {value!r}")
    if kind not in (float, int) or (parameter.startswith("max_") and value == math.inf):
        return
    if not math.isfinite(value):
        raise ConfigError(key, f"must be a finite number, got {value}")
    if parameter.endswith("_px") and (value < 0 or (value == 0 and not parameter.startswith("min_"))):
        raise ConfigError(key, f"is a length and must be positive, got {value:g}")


@cache
def filter_parameters(function: Callable[..., Any]) -> dict[str, tuple[Any, bool]]:
    """A filter's parameters after the image: name -> (type, required)."""
    hints = typing.get_type_hints(function)
    signature = list(inspect.signature(function).parameters.values())[1:]
    return {p.name: (hints.get(p.name), p.default is inspect.Parameter.empty) for p in signature}


def _spellings(parameters: dict[str, tuple[Any, bool]]) -> list[str]:
    return [f"{name} (or {name.removesuffix('_px')}_diameters)" if name.endswith("_px") else name
            for name in parameters]


def _setting(default: Any = None, *, default_factory: Any = None, **description: Any) -> Any:
    """A dataclass field carrying its :class:`Setting`."""
    metadata = {"setting": Setting(**description)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _copy(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return json.loads(json.dumps(steps))


SEED_PIPELINE: list[dict[str, Any]] = [
    {"filter": "range", "low": 69, "high": 74},
    {"filter": "laplacian"},
    {"filter": "more_than", "threshold": 0},
]

DEFAULT_PIPELINE: list[dict[str, Any]] = [
    {"filter": "flatten", "sigma_diameters": 2.0},
    {"filter": "normalise_noise"},
    {"filter": "invert"},
    {"filter": "radial_template", "radius_diameters": 0.4, "template_radius_diameters": 1.25,
     "annulus_ratio": 1.5, "seed_snr": 3.0, "max_seeds": 200, "min_seeds": 10, "passes": 2},
    {"filter": "threshold_sigma", "n_sigma": 1.0},
    {"filter": "clean_components", "max_diameter_diameters": 3.0},
]

DEFAULT_DIAMETER_RANGE_ANGSTROM = (20.0, 600.0)  # searched by --diameter auto unless told
DEFAULT_MIN_SNR = 4.0


@dataclass(frozen=True)
class PickerConfig:
    """Every parameter of the picker. Lengths are in Å or in particle diameters, never raw pixels,
    so one configuration works at any magnification; each field's :class:`Setting` says what it
    means, its unit and its allowed range."""

    diameter_angstrom: float = _setting(
        150.0, help="Particle diameter; converted to pixels with the micrograph's pixel size",
        unit="Å", positive=True, option="--diameter")
    working_diameter_px: float = _setting(
        20.0, help="The micrograph is binned by the whole factor that makes a particle closest to "
        "this many pixels across before filtering; 0 disables binning", unit="px of the working "
        "image", minimum=0.0)
    low_percentile: float = _setting(
        2.0, help="Pixels below this percentile are clipped to black in the 8-bit conversion",
        unit="%", minimum=0.0, maximum=100.0)
    high_percentile: float = _setting(
        98.0, help="Pixels above this percentile are clipped to white in the 8-bit conversion",
        unit="%", minimum=0.0, maximum=100.0)
    pipeline: list[dict[str, Any]] = _setting(
        default_factory=lambda: _copy(DEFAULT_PIPELINE), kind=list,
        help="The filter steps, run in order on the 8-bit working image (see cryostream.filters)")
    cluster_method: str = _setting(
        "kmeans", kind=str, choices=METHODS, help="How the surviving pixels are clustered into "
        "particles")
    n_clusters: int | str = _setting(
        AUTO, kind=int, positive=True, choices=(AUTO,),
        help="Number of clusters (kmeans, gmm), or auto: one per peak of the point density")
    min_distance_diameters: float = _setting(
        0.5, help="Picks closer than this are merged, the higher figure of merit kept",
        unit="particle diameters", minimum=0.0)
    edge_diameters: float = _setting(
        0.5, help="Picks closer than this to the micrograph edge are dropped",
        unit="particle diameters", minimum=0.0)
    crowded_diameter_fraction: float = _setting(
        0.7, help="Also pick at this fraction of the diameter and keep those picks when the "
        "micrograph is crowded with particles smaller than the diameter; 0 disables",
        unit="fraction of the diameter", minimum=0.0, maximum=1.0)
    min_figure_of_merit: float | None = _setting(
        DEFAULT_MIN_SNR, optional=True, option="--threshold",
        help="Drop picks whose figure of merit (peak signal-to-noise ratio of the filter response "
        "times the particle area the cluster fills) is below this (on a micrograph crowded with "
        "smaller particles, down to 0.7 x the median of the particles both sizes find; on a "
        "faint one whose particles straddle it, down to 0.7 x the median of the picks above it "
        "but not under 7/8 of it); unset keeps every pick",
        unit="unitless")
    centring_radius_diameters: float = _setting(
        0.5, help="Each pick is moved three times to the centroid of the squared filter response "
        "within this radius of it, onto its particle's centre (a cluster's mean is pulled aside "
        "by a neighbour or by one side of a hollow particle); 0 disables",
        unit="particle diameters", minimum=0.0)
    touching_diameters: float = _setting(
        1.2, help="Also pick an unpicked peak of the learned template's response from 0.6 "
        "diameters to this far from a pick where the micrograph looks like the picked particles "
        "(two touching particles make one cluster and one pick); 0 disables",
        unit="particle diameters", minimum=0.0)
    adaptive_threshold: bool = _setting(
        True, kind=bool, help="Also drop, per micrograph, the picks that a two-component Gaussian "
        "mixture of log figures of merit assigns to a distinct background population")
    correct_diameter: bool = _setting(
        True, kind=bool, help="Measure the particle size on each micrograph with the pipeline's "
        "learned template (see cryostream.diameter) from 0.6 to 1.35 x the diameter, and pick at "
        "the measured size when it is more than 15 % away from the configured one; where it is "
        "not, at 4/3 x the configured one when that lifts twice as many picks above the floor")
    min_checked_diameter_angstrom: float | None = _setting(
        None, optional=True, positive=True, unit="Å", help="The diameter check picks at no smaller "
        "a size than this (--diameter auto sets it to the low end of its estimate's plateau); "
        "unset: no bound")
    max_checked_diameter_angstrom: float | None = _setting(
        None, optional=True, positive=True, unit="Å", help="The diameter check picks at no larger "
        "a size than this (--diameter auto sets it to the high end of its estimate's plateau); "
        "unset: no bound")
    diameter_measured: bool = _setting(
        False, kind=bool, help="The diameter was measured on these micrographs (--diameter auto "
        "sets this): picks at it are particles of that size, not merged neighbours, so a smaller "
        "size replaces them only when it re-finds nearly all of them, as after the diameter check")

    def __post_init__(self) -> None:
        for name, setting in SETTINGS.items():
            setting.check(name, getattr(self, name))
        if self.low_percentile >= self.high_percentile:
            raise ConfigError("low_percentile", f"must be below high_percentile "
                              f"({self.low_percentile:g} >= {self.high_percentile:g})")
        low, high = self.min_checked_diameter_angstrom, self.max_checked_diameter_angstrom
        if low is not None and high is not None and low > high:
            raise ConfigError("min_checked_diameter_angstrom", f"must not be above "
                              f"max_checked_diameter_angstrom ({low:g} > {high:g})")
        check_pipeline(self.pipeline)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (TOML/JSON-ready); None values are left out."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def digest(self) -> str:
        """A short stable hash of the parameters that change the picks."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


SETTINGS: dict[str, Setting] = {item.name: item.metadata["setting"] for item in fields(PickerConfig)}

PRESETS: dict[str, PickerConfig] = {
    "default": PickerConfig(),
    "seed": PickerConfig(working_diameter_px=0.0, low_percentile=0.0, high_percentile=100.0,
                         pipeline=_copy(SEED_PIPELINE), n_clusters=100, adaptive_threshold=False,
                         min_figure_of_merit=None, crowded_diameter_fraction=0.0),
}
PRESET_HELP = (f"Starting parameters: {', '.join(PRESETS)} (seed = the seed report's published "
               "default, for comparison)")


def preset(name: str, **overrides: Any) -> PickerConfig:
    """A named preset with some parameters replaced (None values leave the preset's)."""
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown parameter; known: {', '.join(SETTINGS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


def load_config(path: str | Path, **overrides: Any) -> PickerConfig:
    """Read a TOML configuration (optionally naming a ``preset`` to start from); every key is
    checked here, so a typo or a bad value is one line naming the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BadInputError(path, f"not a readable TOML configuration ({error})") from error
    base = data.pop("preset", "default")
    if "pixel_size_angstrom" in data:
        raise BadInputError(path, "pixel_size_angstrom: the pixel size belongs to the data, not to "
                            "a picker configuration; remove it (the MRC header is used) or pass "
                            "--pixel-size")
    try:
        return preset(base, **{**data, **{k: v for k, v in overrides.items() if v is not None}})
    except ConfigError as error:
        raise BadInputError(path, str(error)) from error


def dump_config(config: PickerConfig, comments: bool = False) -> str:
    """The configuration as TOML text that :func:`load_config` reads back unchanged; with
    ``comments`` each key is preceded by its meaning and unit."""
    data = config.to_dict()
    if not comments:
        return tomli_w.dumps(data)
    lines = []
    for key in sorted(data, key=lambda name: name == "pipeline"):  # tables after plain keys
        lines += [*textwrap.wrap(SETTINGS[key].describe(), 98, initial_indent="# ",
                                 subsequent_indent="# "),
                  tomli_w.dumps({key: data[key]}).rstrip("\n"), ""]
    return "\n".join(lines)


def config_differences(old: PickerConfig, new: PickerConfig) -> list[str]:
    """Each parameter that differs, as ``key: old -> new`` (pipeline steps by position), so a
    refusal can say what changed instead of naming two digests."""
    before, after = _flatten(old.to_dict()), _flatten(new.to_dict())
    return [f"{key}: {before.get(key, 'unset')} -> {after.get(key, 'unset')}"
            for key in sorted(set(before) | set(after), key=_key_order)
            if before.get(key) != after.get(key)]


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        items = ((f"{prefix}.{key}" if prefix else key, value) for key, value in data.items())
    elif isinstance(data, list):
        items = ((f"{prefix}[{index}]", value) for index, value in enumerate(data))
    else:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(_flatten(value, key))
    return flat


def _key_order(key: str) -> tuple[int, str]:
    top = key.split(".", 1)[0].split("[", 1)[0]
    names = list(SETTINGS)
    return (names.index(top) if top in names else len(names), key)

