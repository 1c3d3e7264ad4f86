"""Where each micrograph's outputs go, and the one key that names a micrograph in the journal.

The output tree mirrors the inputs below their common root, so two inputs never map to one output;
a collision that mirroring cannot avoid (``x.mrc`` beside ``x.MRC`` or ``x.png``) is refused before
anything is picked, and an output is never written outside the output folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import UsageError

DEFAULT_SUFFIX = "autopick"  # RELION's autopicker names coordinate files <micrograph>_autopick.star
IMAGE_FORMATS = ("png", "jpg")  # of the optional 8-bit copy beside each coordinate file


def micrograph_key(path: str | Path) -> str:
    """The journal's key of a micrograph: its absolute path with its folder resolved (symbolic
    links to folders followed, so one file reached through a linked folder is one micrograph),
    and its own name kept: two names linked to one file (an import folder of links) are two
    micrographs with two outputs, each recorded as done."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(folder), name)


def check_suffix(suffix: str) -> str:
    """Refuse a coordinate-file suffix that is empty or would make a folder."""
    if not suffix or any(character in suffix for character in "/\\") or suffix.startswith("."):
        raise UsageError(f"--suffix must be a plain word such as {DEFAULT_SUFFIX}, got {suffix!r}")
    return suffix


def mirrored_path(micrograph: str | Path, root: str | Path, out_dir: str | Path,
                  suffix: str = DEFAULT_SUFFIX, extension: str = ".star") -> Path:
    """``<out_dir>/<micrograph's folder below root>/<stem>_<suffix><extension>``; a micrograph
    outside ``root``, or a result outside ``out_dir``, is a :class:`UsageError`."""
    micrograph, out_dir = Path(micrograph), Path(out_dir)
    try:
        relative_dir = Path(os.path.relpath(micrograph.parent, root))
    except ValueError as error:
        raise UsageError(f"{micrograph}: is not below the input folder {root}") from error
    if relative_dir.parts[:1] == (os.pardir,):
        raise UsageError(f"{micrograph}: is not below the input folder {root}")
    target = out_dir / relative_dir / f"{micrograph.stem}_{suffix}{extension}"
    if not Path(os.path.realpath(target)).is_relative_to(os.path.realpath(out_dir)):
        raise UsageError(f"{micrograph}: its output {target} would fall outside {out_dir}")
    return target


def common_root(folders: Iterable[str | Path]) -> Path:
    """The deepest folder containing every one of ``folders`` (absolute)."""
    absolute = [os.path.abspath(folder) for folder in folders]
    return Path(os.path.commonpath(absolute)) if absolute else Path.cwd()


def check_unique(outputs: dict[str, Path]) -> None:
    """Refuse two micrographs whose outputs are one file (compared without case, as case-
    insensitive file systems and people do); ``outputs`` maps each micrograph to its output."""
    owners: dict[str, str] = {}
    clashes = []
    for micrograph, output in outputs.items():
        owner = owners.setdefault(str(output).casefold(), micrograph)
        if owner != micrograph:
            clashes.append(f"{owner} and {micrograph} -> {output}")
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise UsageError(f"two micrographs would write one coordinate file: {clashes[0]}{more}; "
                         "rename one, or pick them into separate output folders")
