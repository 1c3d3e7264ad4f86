"""``--diameter auto``: the session's particle diameter, measured on its own micrographs.

The measure is :func:`cryostream.diameter.estimate_diameter` (the learned template's signal
plateau). A session measures it on its first ``SAMPLE_MICROGRAPHS`` micrographs (a batch: spread
over its inputs, before anything is picked; a watcher: each new micrograph until it has that
many, refining the estimate as they arrive), keeps the evidence in the journal so a restart goes
on from it, and changes the diameter it picks at only when a refinement moves it by more than
the picker's own dead band (15 %). The picker's per-micrograph diameter check then moves no
further than the estimate's plateau: alone, one micrograph's check can shrink a two-domain
particle onto a contamination's tail (h11-3, estimated at 0.71 x: to 0.5 x; interior F1 0.718
unbounded, 0.827 bounded). Every STAR file written says which diameter was used and how it was
measured.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..config import PickerConfig
from ..curve import plateau
from ..diameter import DEAD_BAND, DiameterEstimate, SizeEvidence, estimate_diameter
from ..io import BadInputError, read_micrograph
from .errors import UsageError, one_line
from .journal import Journal
from .tasks import Task

SAMPLE_MICROGRAPHS = 5  # one micrograph's estimate is within 15 % on 64 % of 121 (13 sets); a
#                        median of 5 is on 3 more sets than a median of 3 (of random samples)
SAMPLE_ATTEMPTS = 3  # a batch tries up to this many samples before it gives up on measuring
JOURNAL_KEY = "auto_diameter"


def measure_files(paths: Sequence[str], pixel_sizes: Sequence[float | None],
                  range_angstrom: tuple[float, float], evidence: Sequence[SizeEvidence],
                  config: PickerConfig) -> DiameterEstimate:
    """Read ``paths`` (Å/px from ``pixel_sizes`` or the headers) and estimate the diameter with
    the ``evidence`` of earlier micrographs (runs on a worker; raises ValueError without a
    particle-like signal and BadInputError for a file that cannot be read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        micrographs = [read_micrograph(path, size) for path, size in zip(paths, pixel_sizes,
                                                                         strict=True)]
    return estimate_diameter(micrographs, range_angstrom, evidence, config)


def unmeasured(error: ValueError, sample: list[Task], first: bool, earlier: int = 0) -> str:
    """Why the diameter could not be measured on ``sample`` (after ``earlier`` micrographs that
    gave none either), in one line; no particle-like signal in a batch's ``first`` samples is a
    :class:`UsageError` (nothing could be picked)."""
    if isinstance(error, BadInputError):
        return str(error)
    files = ", ".join(str(task.path) for task in sample)
    if earlier:
        files += f" (and the {earlier} micrograph{'s' if earlier > 1 else ''} tried before)"
    if first:
        raise UsageError(f"--diameter auto: {error} in {files}; give the diameter in Å with "
                         "--diameter, or another --diameter-range") from error
    return f"{files}: diameter not measured (--diameter auto: {one_line(error)})"


def measured_config(config: PickerConfig, estimate: DiameterEstimate) -> PickerConfig:
    """``config`` picking at the ``estimate``: its diameter, measured, with the diameter check
    bounded by its plateau."""
    return replace(config, diameter_angstrom=round(estimate.diameter_angstrom, 1),
                   diameter_measured=True,
                   min_checked_diameter_angstrom=round(estimate.low_angstrom, 1),
                   max_checked_diameter_angstrom=round(estimate.high_angstrom, 1))


def evidence_from(diameters: list[float], snr: list[float],
                  plateau_angstrom: list[float] | None = None) -> SizeEvidence:
    """A micrograph's evidence as the journal keeps it (a journal written before each
    micrograph's plateau was kept has none: its curve gives it)."""
    curve = np.array(diameters), np.array(snr)
    low, middle, high = plateau_angstrom or plateau(*curve)
    return SizeEvidence(*curve, (low, middle, high))


@dataclass
class AutoDiameter:
    """The state of a session's diameter measurement: the range searched, the estimate and the
    micrographs it rests on."""

    range_angstrom: tuple[float, float]
    estimate: DiameterEstimate | None = None
    measured: tuple[str, ...] = ()
    tried: tuple[str, ...] = ()  # measured without a particle-like signal, or unreadable

    @property
    def evidence(self) -> tuple[SizeEvidence, ...]:
        """The curves of the micrographs measured so far."""
        return () if self.estimate is None else self.estimate.evidence

    def sample(self, keys: Sequence[str]) -> list[int]:
        """Which of ``keys`` (in order) to measure next: up to the sample size, spread evenly
        over them, none already measured."""
        fresh = [index for index, key in enumerate(keys)
                 if key not in self.measured and key not in self.tried]
        wanted = SAMPLE_MICROGRAPHS - len(self.measured)
        if wanted <= 0 or not fresh:
            return []
        step = max(1, len(fresh) // wanted)
        return fresh[::step][:wanted]

    def may_try_again(self, keys: Sequence[str]) -> bool:
        """Whether a batch with no estimate yet should try another sample of ``keys``."""
        return (self.estimate is None and bool(self.sample(keys))
                and len(self.tried) < SAMPLE_ATTEMPTS * SAMPLE_MICROGRAPHS)

    def update(self, estimate: DiameterEstimate, keys: Sequence[str]) -> bool:
        """Take a new estimate over ``keys`` too; True when the diameter to pick at changes (the
        first estimate, or one more than the dead band away from the current one)."""
        previous = self.estimate
        self.measured = (*self.measured, *keys)
        if previous is not None and abs(np.log(estimate.diameter_angstrom
                                               / previous.diameter_angstrom)) <= np.log(DEAD_BAND):
            self.estimate = DiameterEstimate(previous.diameter_angstrom, previous.low_angstrom,
                                             previous.high_angstrom, estimate.evidence)
            return False
        self.estimate = estimate
        return True

    @property
    def with_signal(self) -> tuple[int, int]:
        """How many of the micrographs measured show a particle-like signal, and of how many
        (also those a batch measured first and found none in, ``tried``)."""
        evidence = self.evidence
        return (sum(not np.isnan(item.plateau_angstrom[1]) for item in evidence),
                len(evidence) + len(self.tried))

    def describe(self) -> str:
        """``auto: 142 Å measured on 5 micrographs (plateau 120-160 Å, searched 20-600 Å)``, with
        ``, 2 with a particle-like signal`` after the count when not all of them show one."""
        if self.estimate is None:
            return f"auto: not measured yet (searching {self._range()} Å)"
        estimate = self.estimate
        count = len(self.measured) + len(self.tried)
        signal, total = self.with_signal
        shown = "" if signal == total else f", {signal} with a particle-like signal"
        return (f"auto: {estimate.diameter_angstrom:.0f} Å measured on {count} "
                f"micrograph{'' if count == 1 else 's'}{shown} (plateau "
                f"{estimate.low_angstrom:.0f}-{estimate.high_angstrom:.0f} Å, searched "
                f"{self._range()} Å)")

    def caution(self) -> str | None:
        """A warning for people when fewer than half the micrographs measured show a
        particle-like signal: the estimate then rests on a few, whose signal may be contamination
        or noise (simulated faint sets, 6 micrographs each: 1 with a signal gave 0.65 x the
        diameter, 2 gave 0.40 x; crowded TRPV1 at 4k, 1 of 6, 0.88 x)."""
        signal, total = self.with_signal
        if self.estimate is None or 2 * signal >= total:
            return None
        return (f"--diameter auto: {signal} of {total} micrographs measured show a particle-like "
                f"signal, so {self.estimate.diameter_angstrom:.0f} Å may be the size of "
                "contamination or noise; check the picks (cryostream preview) or give --diameter "
                "in Å")

    def _range(self) -> str:
        return f"{self.range_angstrom[0]:g}-{self.range_angstrom[1]:g}"

    def save(self, journal: Journal) -> None:
        """Record the estimate and its evidence in the journal."""
        journal.set_setting(JOURNAL_KEY, json.dumps(self.to_dict()))

    def to_dict(self) -> dict[str, object]:
        estimate = self.estimate
        return {"range_angstrom": list(self.range_angstrom), "measured": list(self.measured),
                "tried": list(self.tried),
                "estimate": None if estimate is None else {
                    "diameter_angstrom": estimate.diameter_angstrom,
                    "low_angstrom": estimate.low_angstrom, "high_angstrom": estimate.high_angstrom,
                    "evidence": [[item.diameters_angstrom.tolist(), item.snr.tolist(),
                                  list(item.plateau_angstrom)] for item in estimate.evidence]}}

    @classmethod
    def restore(cls, journal: Journal, range_angstrom: tuple[float, float]) -> AutoDiameter:
        """The measurement recorded in ``journal`` when it searched the same range, else a fresh
        one."""
        try:
            recorded = json.loads(journal.get_setting(JOURNAL_KEY) or "null")
            if recorded is None or tuple(recorded["range_angstrom"]) != tuple(range_angstrom):
                return cls(range_angstrom)
            found = recorded["estimate"]
            estimate = None if found is None else DiameterEstimate(
                found["diameter_angstrom"], found["low_angstrom"], found["high_angstrom"],
                tuple(evidence_from(*item) for item in found["evidence"]))
            return cls(range_angstrom, estimate, tuple(recorded["measured"]),
                       tuple(recorded.get("tried", ())))
        except (ValueError, KeyError, TypeError):
            return cls(range_angstrom)

    @staticmethod
    def recorded(journal: Journal) -> str | None:
        """The description of the measurement recorded in ``journal`` (for the report)."""
        text = journal.get_setting(JOURNAL_KEY)
        if text is None:
            return None
        try:
            return AutoDiameter.restore(journal, tuple(json.loads(text)["range_angstrom"])
                                        ).describe()
        except (ValueError, KeyError, TypeError):
            return None
