"""Which files are exposures to pick: the same rules for ``pick``, ``watch`` and ``--dry-run``.

Acquisition software writes much besides exposures into a session folder: EPU's atlas, grid-square
and foil-hole overviews, movies (``_Fractions``), gain references, power spectra and CTF fits.
Those are skipped by default, each with the reason a ``--dry-run`` shows.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..io import MICROGRAPH_SUFFIXES
from .errors import UsageError
from .naming import common_root

DEFAULT_INCLUDE = ("*.mrc",)
# Not exposures, by name (EPU and SerialEM); matched without case.
NOT_EXPOSURES: dict[str, str] = {
    "*_ps.mrc": "a power spectrum",
    "*_ctf.mrc": "a CTF fit",
    "*gain*": "a gain reference",
    "countref*": "a gain reference",
    "*_fractions.mrc": "a movie (frames), not a motion-corrected sum",
    "gridsquare_*.mrc": "an EPU grid-square overview",
    "*/foilholes/*": "an EPU foil-hole overview",
    "atlas*": "an atlas overview",
    "*/atlas/*": "an atlas tile",
}
IN_PROGRESS_SUFFIXES = (".tmp", ".part", "~")


@dataclass(frozen=True)
class Selection:
    """Include and exclude globs, matched without case against the file name or, when a pattern
    has a ``/``, against ``/`` + the path below the input folder. Hidden files and folders and
    in-progress names (``.tmp``, ``.part``, ``~``) are never taken: writers rename those into
    place when done."""

    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = tuple(NOT_EXPOSURES)

    @classmethod
    def from_options(cls, include: Sequence[str] | None, exclude: Sequence[str] | None,
                     default_excludes: bool = True) -> Selection:
        """``--include`` (replacing the default) and ``--exclude`` (added to the defaults unless
        ``default_excludes`` is off)."""
        defaults = tuple(NOT_EXPOSURES) if default_excludes else ()
        return cls(tuple(include or DEFAULT_INCLUDE), defaults + tuple(exclude or ()))

    def skip_reason(self, relative: str, named: bool = False) -> str | None:
        """None when the file at ``relative`` (below the input folder) is an exposure to pick;
        otherwise why it is skipped. A file ``named`` on the command line need not match
        ``include``."""
        path = "/" + relative.replace(os.sep, "/").lower()
        name = path.rsplit("/", 1)[-1]
        if any(part.startswith(".") for part in path.split("/") if part not in ("", ".", "..")):
            return "hidden"
        if name.endswith(IN_PROGRESS_SUFFIXES):
            return "still being written (a temporary name)"
        if not named and not self._first_hit(self.include, path, name):
            return f"does not match --include {' '.join(self.include)}"
        pattern = self._first_hit(self.exclude, path, name)
        if pattern is not None:
            what = NOT_EXPOSURES.get(pattern)
            return f"excluded by {pattern}" + (f" ({what})" if what else "")
        return None

    def matches(self, relative: str) -> bool:
        return self.skip_reason(relative) is None

    @staticmethod
    def _first_hit(patterns: tuple[str, ...], path: str, name: str) -> str | None:
        return next((pattern for pattern in patterns if fnmatch.fnmatchcase(
            path if "/" in pattern else name, pattern.lower())), None)


@dataclass
class Selected:
    """What a set of inputs holds: the micrographs to pick (absolute, sorted), the folder their
    outputs are mirrored below, and every file left out with the reason."""

    micrographs: list[Path]
    root: Path
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def select_inputs(inputs: Sequence[str], selection: Selection,
                  out_dir: Path | None = None) -> Selected:
    """Expand files, folders (searched recursively with ``selection``) and globs into the
    micrographs to pick. Excludes apply to every file; ``--include`` to the files found in folders
    (a file named on the command line is taken when it is a micrograph format). Files inside
    ``out_dir`` are never inputs. A missing input is a :class:`UsageError`."""
    paths = [Path(match) for item in inputs for match in _expand(item)]
    folders = [path for path in paths if path.is_dir()]
    files = [path for path in paths if not path.is_dir()]
    root = common_root([*folders, *(path.parent for path in files)])
    output = Path(os.path.abspath(out_dir)) if out_dir is not None else None
    found = [(Path(os.path.abspath(path)), True) for folder in folders for path in _walk(folder)]
    found += [(Path(os.path.abspath(path)), False) for path in files]
    reasons = {path: _reason(path, root, selection, in_folder, output) for path, in_folder in found}
    return Selected(sorted(path for path, reason in reasons.items() if reason is None), root,
                    [(path, reason) for path, reason in reasons.items() if reason is not None])


def _expand(item: str) -> list[str]:
    """An input as given, or the paths its glob matches; nothing is a :class:`UsageError`."""
    if os.path.exists(item):
        return [item]
    matches = sorted(glob.glob(item, recursive=True))
    if not matches:
        raise UsageError(f"{item}: no such file, folder or matching glob")
    return matches


def _reason(path: Path, root: Path, selection: Selection, found_in_folder: bool,
            out_dir: Path | None) -> str | None:
    if out_dir is not None and path.is_relative_to(out_dir):
        return "inside the output folder"
    reason = selection.skip_reason(os.path.relpath(path, root), named=not found_in_folder)
    if reason is None and path.suffix.lower() not in MICROGRAPH_SUFFIXES:
        return f"not a micrograph file ({', '.join(MICROGRAPH_SUFFIXES)})"
    return reason


def _walk(folder: Path) -> Iterable[Path]:
    """Every file below ``folder``; symbolically linked folders are not entered (loops)."""
    for top, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(top) / name
