"""What a session is given and what it gives back: the micrographs to pick (:class:`Task`), how
it treats its output folder (:class:`SessionOptions`), and what one run did (:class:`Summary`)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .naming import micrograph_key
from .outputs import OutputOptions
from .settings import check_positive


@dataclass(frozen=True)
class Task:
    """One micrograph to pick: the file, the name the outputs give it (``rlnMicrographName``),
    where its coordinate STAR goes, and the pixel size the host software knows (Å/px; None: the
    file's header)."""

    path: Path
    name: str
    star: Path
    pixel_size_angstrom: float | None = None

    @property
    def key(self) -> str:
        return micrograph_key(self.path)


@dataclass(frozen=True)
class SessionOptions:
    """How a session treats its output folder. ``kind`` names the front door (pick, watch, relion,
    cryosparc) for the lock and ``status``; ``pixel_size_angstrom`` is the user's override (Å/px),
    which wins over the host's and the header's; ``retry_failed`` picks earlier failures again;
    ``auto_diameter`` is the range (Å) to measure the diameter in (``--diameter auto``; None: the
    configuration's diameter is used)."""

    kind: str
    outputs: OutputOptions
    on_config_change: str = "abort"
    pixel_size_angstrom: float | None = None
    retry_failed: bool = True
    auto_diameter: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_positive("--pixel-size", self.pixel_size_angstrom, "Å/px")


@dataclass
class Summary:
    """What one run of a session did."""

    picked: int = 0
    particles: int = 0
    failed: list[str] = field(default_factory=list)
    already_done: int = 0
    seconds: list[float] = field(default_factory=list)
    cancelled: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def line(self) -> str:
        """One line for people: counts, then speed when anything was picked."""
        parts = [f"{_count(self.picked, 'micrograph')} picked, {_count(self.particles, 'particle')}"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.already_done:
            parts.append(f"{self.already_done} already picked (skipped)")
        text = ", ".join(parts)
        if self.seconds:
            text += (f"; {statistics.median(self.seconds):.3f} s per micrograph (median, one "
                     "worker)")
        ended = time.monotonic() if self.finished is None else self.finished
        text += f"; {ended - self.started:.1f} s in all"
        if self.cancelled:
            text += f"; stopped early ({self.cancelled})"
        return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
