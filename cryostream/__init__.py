"""cryostream: live filter-and-cluster particle picking for cryo-EM micrographs.

The public verbs follow the data flow: read a micrograph, pick it, write the picks, score them.
"""

__version__ = "0.1.0"

from .config import PickerConfig, load_config, preset  # noqa: E402
from .io import BadInputError, Micrograph, read_micrograph  # noqa: E402
from .metrics import Counts, score_distance, score_grid  # noqa: E402
from .picker import Picks, pick_micrograph  # noqa: E402
from .star import read_coordinates, write_combined_star, write_star  # noqa: E402

__all__ = [
    "BadInputError",
    "Counts",
    "Micrograph",
    "PickerConfig",
    "Picks",
    "load_config",
    "pick_micrograph",
    "preset",
    "read_coordinates",
    "read_micrograph",
    "score_distance",
    "score_grid",
    "write_combined_star",
    "write_star",
]
