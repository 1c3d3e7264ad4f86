"""Coordinate files: RELION per-micrograph STAR, the combined particles STAR, EMAN2 .box.

Every file is written atomically (temporary file in the same directory, fsync, rename), so a reader
or a crash never sees half a file. Coordinates are in pixels of the original micrograph. Coordinate
files are written without pandas; starfile (and pandas with it) is loaded when a STAR file is
read, or another table written, not with the module.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .io import BadInputError

NUMERIC_COLUMNS = ("rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit")

if TYPE_CHECKING:
    import pandas as pd

    from .picker import Picks


def write_atomically(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process umask (read by setting it and restoring it), so outputs get ordinary
    permissions rather than mkstemp's private 0600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _coordinate_columns(all_picks: Sequence[Picks]) -> dict[str, np.ndarray]:
    """relion_autopick's columns for the picks of several micrographs, built in one go."""
    count = sum(len(picks) for picks in all_picks)

    def joined(values: Callable[[Picks], np.ndarray]) -> np.ndarray:
        return np.concatenate([values(picks) for picks in all_picks]) if all_picks else np.empty(0)

    return {
        "rlnCoordinateX": np.round(joined(lambda picks: picks.x), 2),
        "rlnCoordinateY": np.round(joined(lambda picks: picks.y), 2),
        "rlnClassNumber": np.zeros(count, int),
        "rlnAutopickFigureOfMerit": np.round(joined(lambda picks: picks.figure_of_merit), 4),
        "rlnAnglePsi": np.zeros(count),  # as relion_autopick's LoG picks: no in-plane angle
    }


def write_star(picks: Picks, path: str | Path, comments: Sequence[str] = ()) -> Path:
    """Write one micrograph's picks as a RELION coordinate STAR file (unnamed ``data_`` block)."""
    return write_atomically(path, _loop_text("", _coordinate_columns([picks]), comments))


def write_combined_star(named_picks: Iterable[tuple[str, Picks]], path: str | Path,
                        comments: Sequence[str] = ()) -> Path:
    """Write every pick of every micrograph to one particles STAR, each row with its
    micrograph's name as ``rlnMicrographName``: every pick of a session in one table."""
    named_picks = list(named_picks)
    all_picks = [picks for _, picks in named_picks]
    names = np.repeat([name for name, _ in named_picks], [len(picks) for picks in all_picks])
    columns = {"rlnMicrographName": names, **_coordinate_columns(all_picks)}
    return write_atomically(path, _loop_text("particles", columns, comments))


def _loop_text(block: str, columns: dict[str, np.ndarray], comments: Sequence[str]) -> str:
    """STAR text of one loop, laid out as :func:`star_text` lays it out (floats as ``%.4f``,
    names with a space or empty quoted), without pandas and starfile: they take 0.5 s to
    import, a third of a one-micrograph session's start-up."""
    formats = {"f": "%.4f", "i": "%d", "U": "%s"}
    row_format = "\t".join(formats[values.dtype.kind] for values in columns.values())
    texts = [np.array([f'"{name}"' if " " in name or not name else name for name in values])
             if values.dtype.kind == "U" else values for values in columns.values()]
    rows = "".join(row_format % row + "\n" for row in zip(*texts, strict=True))
    header = "".join(f"_{name} #{index}\n" for index, name in enumerate(columns, 1))
    return ("".join(f"# {line}\n" for line in comments) + f"\n\ndata_{block}\n\nloop_\n{header}"
            + rows + "\n\n")


def write_box(picks: Picks, path: str | Path) -> Path:
    """Write EMAN2 .box lines: box corner x, corner y, width, height (box = particle diameter)."""
    size = int(round(picks.diameter_px))
    lines = [f"{int(round(x - size / 2))}\t{int(round(y - size / 2))}\t{size}\t{size}\n"
             for x, y in zip(picks.x, picks.y, strict=True)]
    return write_atomically(path, "".join(lines))


def star_text(blocks: dict[str, pd.DataFrame], comments: Sequence[str] = ()) -> str:
    """STAR text of ``blocks`` as starfile writes it, preceded by ``# `` comment lines."""
    import starfile

    header = "".join(f"# {line}\n" for line in comments)
    return header + starfile.to_string(blocks, float_format="%.4f")


def read_coordinates(path: str | Path) -> pd.DataFrame:
    """Read a coordinate or particles STAR file; needs rlnCoordinateX and rlnCoordinateY, which
    (like rlnAutopickFigureOfMerit) must hold finite numbers: a value that is not one is a
    :class:`BadInputError` naming the file, the row and the column."""
    import pandas as pd
    import starfile

    path = Path(path)
    try:
        data = starfile.read(path, always_dict=True)
    except Exception as error:  # starfile raises many types on malformed input
        raise BadInputError(path, f"not a readable STAR file ({error})") from error
    for block, table in data.items():
        if isinstance(table, pd.DataFrame) and {"rlnCoordinateX", "rlnCoordinateY"} <= \
                set(table.columns):
            return _numeric(path, f"row {{}} of data_{block}" if block else "row {}", table)
    raise BadInputError(path, "has no loop with rlnCoordinateX and rlnCoordinateY columns")


def _numeric(path: Path, row_name: str, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its coordinate and figure-of-merit columns as floats (``row_name`` says
    where a row is, with ``{}`` for its number)."""
    import pandas as pd

    for column in NUMERIC_COLUMNS:
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            value = table[column].iloc[row]
            shown = repr(value) if isinstance(value, str) else str(value)
            raise BadInputError(path, f"{row_name.format(row + 1)}, column {column}: {shown} is "
                                "not a finite number")
        table[column] = values
    return table


def read_provenance(path: str | Path) -> dict[str, str]:
    """The ``# key: value`` comment lines at the top of a STAR file written by cryostream."""
    values: dict[str, str] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("data_"):
            break
        if line.startswith("# ") and ": " in line:
            key, value = line[2:].split(": ", 1)
            values.setdefault(key, value)
    return values
