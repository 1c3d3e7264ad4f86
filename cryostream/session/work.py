"""The work a worker process does for one micrograph: read it, pick it, return the picks or the
one-line reason it failed. Large arrays never travel back: only the picks (a few kB) and, when
asked, the binned 8-bit image."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PickerConfig
from ..io import BadInputError, read_micrograph
from ..picker import Picks, pick_micrograph, working_image
from .errors import one_line


@dataclass(frozen=True)
class PickOutcome:
    """The result of picking one file: picks, or the one-line reason it failed."""

    path: Path
    picks: Picks | None
    error: str | None
    seconds: float
    image8: np.ndarray | None = None
    incomplete: bool = False  # the file looks like one still being written


def pick_file(path: str | Path, config: PickerConfig, pixel_size_angstrom: float | None = None,
              keep_image: bool = False) -> PickOutcome:
    """Read and pick one file; any failure becomes an outcome with a one-line error.

    ``pixel_size_angstrom`` (Å/px) replaces the header's. With ``keep_image`` the outcome also
    carries the binned 8-bit working image (for a PNG/JPEG copy next to the outputs)."""
    started = time.perf_counter()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            micrograph = read_micrograph(path, pixel_size_angstrom)
        picks = pick_micrograph(micrograph, config)
        image8 = working_image(micrograph, config)[0] if keep_image else None
        return PickOutcome(path, picks, None, time.perf_counter() - started, image8)
    except BadInputError as error:
        return PickOutcome(path, None, str(error), time.perf_counter() - started,
                           incomplete=error.incomplete)
    except Exception as error:  # a picker bug must not stop a session; keep the reason
        message = f"{path}: picking failed ({one_line(error)})"
    return PickOutcome(path, None, message, time.perf_counter() - started)


def lost_task(path: str | Path, error: BaseException) -> PickOutcome:
    """The outcome of a task the executor could not run to the end (its worker process kept
    dying, the pool broke, the scheduler went away): a failure naming the file."""
    return PickOutcome(Path(path), None, f"{path}: task lost ({one_line(error)})", 0.0)
