"""cryostream: live filter-and-cluster particle picking for cryo-EM micrographs.

The public verbs follow the data flow: read a micrograph, pick it, write the picks, score them.
They are loaded on first use, so the command line starts without loading SciPy and pandas.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "BadInputError": "io", "Micrograph": "io", "read_micrograph": "io",
    "PickerConfig": "config", "load_config": "config", "preset": "config",
    "Counts": "metrics", "score_distance": "metrics", "score_grid": "metrics",
    "Picks": "picker", "pick_micrograph": "picker",
    "read_coordinates": "star", "write_combined_star": "star", "write_star": "star",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'cryostream' has no attribute {name!r}")
    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
