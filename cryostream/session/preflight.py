"""What a session checks once, before it picks anything: the particle diameter in pixels of the
micrographs it is about to pick, from the first micrograph's header only (its pixels are read once,
by the worker that picks it).

A diameter no micrograph like it can be picked at (wider than the micrograph, or a few pixels
across), or a micrograph without a pixel size, is a :class:`UsageError` in the user's units: the
diameter in Å, what that is in pixels, and at which pixel size from where. What a person should know
but may mean (a small diameter, an MRC header saying 1.0 Å/px, a stack of frames) comes back as
one-line notes for the front door to show once.
"""

from __future__ import annotations

from pathlib import Path

from ..config import SETTINGS
from ..io import IMAGE_SUFFIXES, MicrographHeader, read_header
from .errors import UsageError

MIN_DIAMETER_PX = 4.0  # below this the filters find nothing (recall under 0.1 on clean synthetics)
GOOD_DIAMETER_PX = 8.0  # from here on most particles are found
DIAMETER_OPTION = SETTINGS["diameter_angstrom"].option


def check_first_micrograph(path: Path, diameter_angstrom: float | None,
                           pixel_size_angstrom: float | None = None,
                           host_pixel_size_angstrom: float | None = None) -> list[str]:
    """Check the session's diameter against the header of ``path``, the first micrograph to pick,
    at the pixel size it will be picked at: the user's ``--pixel-size``, else the host's (RELION's
    optics group, CryoSPARC's exposure), else the header's. Returns notes for people; raises
    :class:`UsageError` when nothing could be picked, :class:`~cryostream.io.BadInputError` when
    the header cannot be read (check the next micrograph instead). ``diameter_angstrom`` None
    (``--diameter auto``) checks the pixel size and frames only."""
    if pixel_size_angstrom is None and host_pixel_size_angstrom is None \
            and path.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(f"{path}: PNG, JPEG and TIFF files carry no pixel size; pass "
                         "--pixel-size in Å/px (the diameter is in Å)")
    header = read_header(path)
    pixel_size = pixel_size_angstrom or host_pixel_size_angstrom or header.pixel_size_angstrom
    if pixel_size is None:
        raise UsageError(f"{path}: its header has no pixel size (0); pass --pixel-size in Å/px "
                         "(the diameter is in Å)")
    source = ("--pixel-size" if pixel_size_angstrom else "the job's micrograph metadata"
              if host_pixel_size_angstrom else f"the header of {path}")
    notes = [] if diameter_angstrom is None else _diameter_notes(
        path, diameter_angstrom, pixel_size, source, header)
    if header.frames > 1:
        notes.append(f"{path}: a stack of {header.frames} frames; stacked micrographs are "
                     "averaged into one image without motion correction (motion-corrected sums "
                     "pick better)")
    return notes


def _diameter_notes(path: Path, diameter_angstrom: float, pixel_size: float, source: str,
                    header: MicrographHeader) -> list[str]:
    """The diameter against the micrograph: a :class:`UsageError` when nothing could be picked,
    notes when many particles would be missed or the pixel size looks unset."""
    diameter_px = diameter_angstrom / pixel_size
    scale = (f"{DIAMETER_OPTION} {_number(diameter_angstrom)} Å is {_number(diameter_px)} px at "
             f"{pixel_size:g} Å/px (from {source})")
    rows, columns = header.shape
    if diameter_px >= min(rows, columns):
        raise UsageError(f"{scale}: as wide as the micrograph ({columns} x {rows} px) or wider; "
                         "give the particle's diameter in Å")
    if diameter_px < MIN_DIAMETER_PX:
        raise UsageError(f"{scale}: too small to pick (at least {MIN_DIAMETER_PX:g} px across, "
                         f"{GOOD_DIAMETER_PX:g} px or more to find most particles); give the "
                         "diameter in Å, not nm, and check the pixel size")
    notes = []
    if diameter_px < GOOD_DIAMETER_PX:
        notes.append(f"{scale}: under {GOOD_DIAMETER_PX:g} px across, so many particles will be "
                     "missed; check that the diameter is in Å and the pixel size is right")
    if source.startswith("the header") and header.pixel_size_looks_unset:
        notes.append(f"{path}: the MRC header says 1.0 Å/px, often a header nobody set, so the "
                     f"{_number(diameter_angstrom)} Å diameter is taken as "
                     f"{_number(diameter_px)} px; pass --pixel-size in Å/px if that is wrong")
    return notes


def _number(value: float) -> str:
    """A length for people: 3.33, 60.5, 666,667."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"
