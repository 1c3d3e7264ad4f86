"""The session's error boundary: what can stop a session, each said in one line naming the path.

:class:`UsageError` is a wrong or missing parameter (checked before anything is picked);
:class:`OutputError` is the output side failing (not a folder, read-only, disk full, journal
locked). Problems with one input file are :class:`cryostream.io.BadInputError` and never stop a
session. Every front door turns the first two into one line and exit code 2.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Errors of the output file system as a whole, not of one micrograph's output: the session stops
# (a daemon pauses) instead of recording every micrograph after them as failed.
FILESYSTEM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                               errno.EIO})


class UsageError(ValueError):
    """A wrong or missing parameter, with the reason."""


class OutputError(RuntimeError):
    """The output side cannot go on: the path and the problem, on one line."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(problem.split())
        super().__init__(f"{self.path}: {self.problem}")


def describe(error: OSError) -> str:
    """An OS error's own words (``No space left on device``), without Python's decoration."""
    return error.strerror or " ".join(str(error).split())


def one_line(error: BaseException) -> str:
    """``Type: message`` of an exception on one line."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def is_filesystem_error(error: BaseException) -> bool:
    """Whether ``error`` is the output file system failing as a whole (disk full, read-only,
    permission denied, I/O error) rather than one path being wrong."""
    return isinstance(error, OSError) and error.errno in FILESYSTEM_ERRNOS


@contextmanager
def output_boundary(path: str | Path, doing: str = "write") -> Iterator[None]:
    """Turn an OS or SQLite error inside the block into an :class:`OutputError` naming ``path``
    (or the file the OS names)."""
    try:
        yield
    except OutputError:
        raise
    except sqlite3.Error as error:
        raise OutputError(path, f"cannot update the journal ({error})") from error
    except OSError as error:
        raise OutputError(error.filename or path, f"cannot {doing} ({describe(error)})") from error


def check_output_folder(out_dir: Path) -> None:
    """Refuse an output folder that is a file or cannot be created or written, before any work."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "is a file, not a folder; give a folder for the outputs")
    with output_boundary(out_dir, "create the output folder"):
        out_dir.mkdir(parents=True, exist_ok=True)
    check_writable(out_dir / ".cryostream-write-test")


def check_output_file(path: Path) -> None:
    """Refuse an output file whose place is a folder or whose folder cannot be written, before
    the work that produces it (tuning takes minutes)."""
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    with output_boundary(path.parent, "create the folder"):
        path.parent.mkdir(parents=True, exist_ok=True)
    check_writable(path.with_name(f".{path.name}.write-test"))


def check_writable(probe: Path) -> None:
    """Create and remove ``probe`` to learn whether its folder takes new files."""
    with output_boundary(probe.parent, "write here"):
        probe.write_bytes(b"")
        probe.unlink()
