"""The picker's configuration: one dataclass, named presets, TOML load/dump and a stable hash."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from .cluster import AUTO, METHODS
from .filters import validate_pipeline
from .io import BadInputError


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


DEFAULT_MIN_SNR = 4.0


@dataclass(frozen=True)
class PickerConfig:
    """Every parameter of the picker. Lengths are in Å or in particle diameters, never raw pixels,
    so one configuration works at any magnification.

    diameter_angstrom: particle diameter in Å.
    pixel_size_angstrom: overrides the micrograph header's pixel size (Å/px); None uses the header.
    working_diameter_px: the micrograph is binned by the whole factor that makes the particle
        closest to this many pixels across (0 disables binning).
    low_percentile, high_percentile: percentile clip of the 8-bit conversion.
    pipeline: the filter steps (see cryostream.filters).
    cluster_method: kmeans, gmm, dbscan, meanshift or hdbscan.
    n_clusters: a number or "auto" (kmeans and gmm).
    min_distance_diameters: picks closer than this (in diameters) are merged, the better kept.
    edge_diameters: picks closer than this to the micrograph edge are dropped.
    min_figure_of_merit: picks scoring below this are dropped (None keeps all). The default
        pipeline's figure of merit is a signal-to-noise ratio (particle-scale contrast over the
        pixel noise), and 4 sits above the strongest noise peaks of an empty micrograph.
    crowded_diameter_fraction: the picker also picks at this fraction of the diameter and keeps
        those picks when the micrograph is crowded with particles smaller than the given
        diameter (see picker.resolves_crowding); 0 disables.
    adaptive_threshold: also drop, per micrograph, the picks that a two-component Gaussian mixture
        of log figures of merit assigns to the background population.
    correct_diameter: measure the particle size on each micrograph with the pipeline's learned
        template (see cryostream.diameter) from 0.6 to 1.35 x the diameter, and pick at the
        measured size when it is more than 15 % away from the configured one.
    """

    diameter_angstrom: float = 150.0
    pixel_size_angstrom: float | None = None
    working_diameter_px: float = 20.0
    low_percentile: float = 2.0
    high_percentile: float = 98.0
    pipeline: list[dict[str, Any]] = field(default_factory=lambda: _copy(DEFAULT_PIPELINE))
    cluster_method: str = "kmeans"
    n_clusters: int | str = AUTO
    min_distance_diameters: float = 0.5
    edge_diameters: float = 0.5
    crowded_diameter_fraction: float = 0.7
    min_figure_of_merit: float | None = DEFAULT_MIN_SNR
    adaptive_threshold: bool = True
    correct_diameter: bool = True

    def __post_init__(self) -> None:
        for name in NUMBER_FIELDS:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and not isinstance(value, bool)) and \
                    not (value is None and name in OPTIONAL_FIELDS):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if self.diameter_angstrom <= 0:
            raise ValueError(f"diameter_angstrom must be positive, got {self.diameter_angstrom}")
        if self.pixel_size_angstrom is not None and self.pixel_size_angstrom <= 0:
            raise ValueError(f"pixel_size_angstrom must be positive, got "
                             f"{self.pixel_size_angstrom}")
        if self.cluster_method not in METHODS:
            raise ValueError(f"unknown cluster_method {self.cluster_method!r}; choose from "
                             f"{', '.join(METHODS)}")
        if self.n_clusters != AUTO and (not str(self.n_clusters).isdigit()
                                        or int(self.n_clusters) < 1):
            raise ValueError(f"n_clusters must be a positive whole number or 'auto', got "
                             f"{self.n_clusters!r}")
        validate_pipeline(self.pipeline)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (TOML/JSON-ready); None values are left out."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def digest(self) -> str:
        """A short stable hash of the parameters that change the picks."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


NUMBER_FIELDS = ("diameter_angstrom", "pixel_size_angstrom", "working_diameter_px", "low_percentile",
                 "high_percentile", "min_distance_diameters", "edge_diameters",
                 "crowded_diameter_fraction", "min_figure_of_merit")
OPTIONAL_FIELDS = ("pixel_size_angstrom", "min_figure_of_merit")

PRESETS: dict[str, PickerConfig] = {
    "default": PickerConfig(),
    "seed": PickerConfig(working_diameter_px=0.0, low_percentile=0.0, high_percentile=100.0,
                         pipeline=_copy(SEED_PIPELINE), n_clusters=100, adaptive_threshold=False,
                         min_figure_of_merit=None, crowded_diameter_fraction=0.0),
}


def preset(name: str, **overrides: Any) -> PickerConfig:
    """A named preset with some parameters replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


def load_config(path: str | Path, **overrides: Any) -> PickerConfig:
    """Read a TOML configuration (optionally naming a ``preset`` to start from)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BadInputError(path, f"not a readable TOML configuration ({error})") from error
    base = data.pop("preset", "default")
    known = {f.name for f in fields(PickerConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInputError(path, f"unknown configuration keys: {', '.join(unknown)}")
    try:
        return preset(base, **{**data, **{k: v for k, v in overrides.items() if v is not None}})
    except (TypeError, ValueError) as error:
        raise BadInputError(path, str(error)) from error


def dump_config(config: PickerConfig) -> str:
    """The configuration as TOML text that :func:`load_config` reads back unchanged."""
    return tomli_w.dumps(config.to_dict())
