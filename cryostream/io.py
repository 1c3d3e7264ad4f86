"""Reading micrographs (MRC, PNG, JPEG, TIFF) into one validated in-memory form.

Every problem with an input file is raised as :class:`BadInputError`, whose message is one line
naming the file and what is wrong with it, so a batch or the watcher can report it and carry on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import mrcfile
import numpy as np

MRC_SUFFIXES = (".mrc", ".mrcs", ".rec", ".st")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MICROGRAPH_SUFFIXES = MRC_SUFFIXES + IMAGE_SUFFIXES
MIN_SIDE_PX = 16
MRC_HEADER_BYTES = 1024
MRC_MODES = (0, 1, 2, 6, 12)  # the real-valued image modes
UNSET_PIXEL_SIZE_ANGSTROM = 1.0  # what an MRC header says when nobody set its pixel size


class BadInputError(ValueError):
    """An input file (micrograph, STAR, configuration) that cannot be used, with the reason;
    ``incomplete`` when the file looks like one still being written (shorter than its header
    says, or a pre-allocated, zero-filled tail), which may read once its writer is done."""

    def __init__(self, path: str | Path, problem: str, incomplete: bool = False) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        self.incomplete = incomplete
        super().__init__(f"{self.path}: {self.problem}")


@dataclass(frozen=True)
class Micrograph:
    """A 2-D micrograph as float32, with its pixel size in Å (None when the file has none)."""

    data: np.ndarray
    pixel_size_angstrom: float | None
    path: Path

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]))


@dataclass(frozen=True)
class MicrographHeader:
    """What a micrograph file says about itself, read without its pixels: its size in pixels
    (rows, columns), how many frames it stacks, and its pixel size in Å (None: it has none)."""

    path: Path
    shape: tuple[int, int]
    frames: int
    pixel_size_angstrom: float | None

    @property
    def pixel_size_looks_unset(self) -> bool:
        """An MRC header saying exactly 1.0 Å/px: usually one nobody set, not a real value."""
        return self.pixel_size_angstrom == UNSET_PIXEL_SIZE_ANGSTROM


def read_header(path: str | Path) -> MicrographHeader:
    """Read a micrograph's header only (MRC header, or the image header of PNG/JPEG/TIFF): cheap
    enough to check a session's parameters against before any micrograph is picked."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in MRC_SUFFIXES:
            with mrcfile.open(path, mode="r", header_only=True) as mrc:
                header, voxel_x = mrc.header, mrc.voxel_size.x
            rows, columns, frames = int(header.ny), int(header.nx), max(1, int(header.nz))
            return MicrographHeader(path, (rows, columns), frames, _pixel_size_as_written(voxel_x))
        from PIL import Image  # Pillow (a Matplotlib dependency) reads image headers lazily

        with Image.open(path) as image:
            columns, rows = image.size
        return MicrographHeader(path, (rows, columns), 1, None)
    except (ValueError, OSError, EOFError) as error:
        raise BadInputError(path, f"its header cannot be read ({error})") from error


def read_micrograph(path: str | Path, pixel_size_angstrom: float | None = None) -> Micrograph:
    """Read one micrograph; a 3-D MRC stack (movie frames) is averaged into one image.

    ``pixel_size_angstrom`` overrides the header's pixel size (and is the only source for PNG, JPEG
    and TIFF files, which have none).
    """
    path = Path(path)
    if path.is_dir():
        raise BadInputError(path, "is a directory, not a micrograph file")
    if not path.exists():
        raise BadInputError(path, "does not exist (deleted before it could be read?)")
    if path.stat().st_size == 0:
        raise BadInputError(path, "is an empty file (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in MRC_SUFFIXES:
        data, header_pixel_size = _read_mrc(path)
    elif suffix in IMAGE_SUFFIXES:
        data, header_pixel_size = _read_image(path), None
    else:
        raise BadInputError(path, f"unsupported file type {suffix!r}; expected one of "
                            f"{', '.join(MICROGRAPH_SUFFIXES)}")
    _validate_pixels(path, data)
    pixel_size = pixel_size_angstrom if pixel_size_angstrom is not None else header_pixel_size
    if pixel_size is not None and pixel_size <= 0:
        raise BadInputError(path, f"pixel size must be positive, got {pixel_size} Å")
    return Micrograph(data=data, pixel_size_angstrom=pixel_size, path=path)


def _read_mrc(path: Path) -> tuple[np.ndarray, float | None]:
    try:
        with mrcfile.open(path, mode="r", permissive=False, header_only=True) as mrc:
            header, voxel_x = mrc.header, mrc.voxel_size.x
        raw = _read_block(path, MRC_HEADER_BYTES + int(header.nsymbt),
                          mrcfile.utils.data_dtype_from_header(header),
                          mrcfile.utils.data_shape_from_header(header))
    except (ValueError, OSError, EOFError) as error:
        _raise_if_short(path)
        raise BadInputError(path, f"not a readable MRC file ({error})") from error
    if raw.ndim not in (2, 3):
        raise BadInputError(path, "MRC data is not a 2-D image or a 3-D stack of frames")
    if np.iscomplexobj(raw):
        raise BadInputError(path, "MRC holds complex (Fourier-space) data, not an image")
    if not raw[(-1,) * (raw.ndim - 1)].any():  # also all zeros: reserved, nothing written yet
        raise BadInputError(path, "its last row is all zeros: pre-allocated and still being "
                            "written?", incomplete=True)
    data = (raw.astype(np.float32, copy=False) if raw.ndim == 2
            else raw.mean(axis=0, dtype=np.float32))
    return data, _pixel_size_as_written(voxel_x)


def _pixel_size_as_written(voxel_angstrom: float) -> float | None:
    """An MRC header's pixel size (Å/px, a float32 cell length over a count) as written: to 6
    significant digits (1.35, not 1.3500000238), None when unset (0). Picks must not depend on
    how the pixel size reached the picker, from a header or as ``--pixel-size`` from a STAR file:
    a diameter of exactly 40 px and one of 39.9999993 px differ in which pixels lie on a
    template's disc (15 of 24 synthetic micrographs moved picks by up to 3 px)."""
    voxel = float(voxel_angstrom)
    return float(f"{voxel:.6g}") if voxel > 0 else None


def _read_block(path: Path, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The MRC data block: ``shape`` values of ``dtype`` from byte ``offset``, read in one call
    (a quarter less CPU than copying a memory map of a 4k image, 2x less than mrcfile.open's
    buffered read); ValueError when the file holds fewer."""
    count = int(np.prod(shape))
    raw = np.fromfile(path, dtype=dtype, count=count, offset=offset)
    if raw.size < count:
        raise ValueError(f"{raw.size} of the {count} values its header announces")
    return raw.reshape(shape)


def _raise_if_short(path: Path) -> None:
    """Raise an ``incomplete`` :class:`BadInputError` when ``path`` is shorter than an MRC
    header, or than the data its header announces: a file still being written."""
    size = path.stat().st_size
    if size < MRC_HEADER_BYTES:
        raise BadInputError(path, f"not a readable MRC file: {size} bytes, shorter than an MRC "
                            "header (still being written?)", incomplete=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # permissive: a damaged header is told apart below
            with mrcfile.open(path, mode="r", header_only=True, permissive=True) as mrc:
                header = mrc.header
            mode = int(header.mode)
            item = mrcfile.utils.dtype_from_mode(mode).itemsize if mode in MRC_MODES else 0
            expected = (MRC_HEADER_BYTES + int(header.nsymbt)
                        + int(header.nx) * int(header.ny) * int(header.nz) * item)
    except (ValueError, OSError, EOFError):
        return
    if item and 0 < size < expected:
        raise BadInputError(path, f"not a readable MRC file: {size} of the {expected} bytes its "
                            "header announces (still being written?)", incomplete=True)


def _read_image(path: Path) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if raw is None:
        raise BadInputError(path, "not a readable PNG/JPEG/TIFF image (truncated or corrupt?)")
    if raw.ndim == 3:
        channels = raw.shape[2]
        if channels == 4:
            raw = raw[:, :, :3]
        raw = raw.mean(axis=2) if channels in (3, 4) else raw[:, :, 0]
    return np.asarray(raw, dtype=np.float32)


def _validate_pixels(path: Path, data: np.ndarray) -> None:
    if min(data.shape) < MIN_SIDE_PX:
        raise BadInputError(path, f"image is {data.shape[1]}x{data.shape[0]} px; at least "
                            f"{MIN_SIDE_PX}x{MIN_SIDE_PX} is needed")
    low, high = float(data.min()), float(data.max())  # NaN or inf anywhere shows up here
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise BadInputError(path, f"{bad} {'pixel is' if bad == 1 else 'pixels are'} NaN or "
                            "infinite")
    if low == high:
        raise BadInputError(path, "image is constant (every pixel the same value)")
