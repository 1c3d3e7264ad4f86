"""The picking benchmark: every labelled set (see :mod:`cryostream.bench.sets`) is picked as float32
MRCs by cryostream, optionally by RELION 3.1's LoG picker and by the ``cryostream pick`` command on
the same files in the same run, and beside them a lattice that never looks at the image; all are
scored against the true diameter, pooled over each set, on the whole micrographs and on their
interiors (:mod:`cryostream.bench.scoring`).

Diameter fragility: cryostream can be run with the diameter it is given multiplied by a few
factors (``diameter_scales``); matches are always counted within 0.5 x the true diameter. Every
row records the diameter its picker was given (the table's D column, as a fraction of the true
one), so a row picked with a diameter estimated from the micrographs fits in as one more
:class:`PickerResult` whose ``given_diameter_angstrom`` is the estimate.

Timing: in-process cryostream is timed per micrograph end to end (read the MRC + pick) on one
thread after a warm-up pick, and the median is reported. The ``cryostream pick`` command
(``cryostream-cli``) and RELION are each run once per set on all micrographs, one worker, and
their wall time (process start to exit) is divided by the number of micrographs. CPU seconds are
recorded beside the wall-clock figures of in-process cryostream and RELION: on a shared machine
they are the steadier measure.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from ..config import DEFAULT_DIAMETER_RANGE_ANGSTROM, PickerConfig, dump_config
from ..evaluation import coordinates_xy
from ..io import BadInputError
from ..metrics import Counts
from ..session.journal import Journal
from ..session.naming import mirrored_path
from ..session.sizing import AutoDiameter
from ..session.work import pick_file
from ..star import write_atomically
from .relion import relion_available, run_relion_log
from .scoring import (
    INTERIOR_MARGIN_DIAMETERS,
    MATCH_RADIUS_DIAMETERS,
    Scores,
    inside,
    lattice_picks,
    pooled,
    score_files,
)
from .sets import BenchSet, micrograph_shape, picker_mrcs
from .timing import run_timed

CRYOSTREAM = "cryostream"
CRYOSTREAM_CLI = "cryostream-cli"
CRYOSTREAM_AUTO = "cryostream-auto"
RELION_LOG = "relion-log"
LATTICE = "lattice"
COMPARISONS = (RELION_LOG, CRYOSTREAM_CLI, CRYOSTREAM_AUTO)
PER_SET_KEYS = ("diameter_angstrom", "pixel_size_angstrom")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PickerResult:
    """One picker's figures on one set: pooled and per-micrograph scores (whole micrograph and
    interior), the diameter it was given (Å) and its timing."""

    picker: str
    scores: Scores
    per_micrograph: dict[str, Scores]
    given_diameter_angstrom: float
    seconds_per_micrograph: float | None
    timing: str
    details: dict[str, Any] = field(default_factory=dict)
    cpu_seconds_per_micrograph: float | None = None

    @property
    def counts(self) -> Counts:
        return self.scores["all"]

    @property
    def picks(self) -> int:
        return self.counts.true_positives + self.counts.false_positives

    def to_dict(self) -> dict[str, Any]:
        return {"picks": self.picks, **self.counts.summary(),
                "interior": self.scores["interior"].summary(),
                "given_diameter_angstrom": self.given_diameter_angstrom,
                "seconds_per_micrograph": self.seconds_per_micrograph,
                "cpu_seconds_per_micrograph": self.cpu_seconds_per_micrograph, "timing": self.timing,
                **self.details,
                "micrographs": {name: {**scores["all"].summary(),
                                       "interior": scores["interior"].summary()}
                                for name, scores in self.per_micrograph.items()}}


@dataclass(frozen=True)
class SetReport:
    """Every picker's result on one set, plus what was skipped and why."""

    bench_set: BenchSet
    truth_count: dict[str, int]
    results: dict[str, PickerResult]
    skipped: dict[str, str] = field(default_factory=dict)

    def time_ratio(self, ours: str = CRYOSTREAM, cpu: bool = False) -> float | None:
        """RELION LoG seconds per micrograph (wall-clock, or CPU) divided by ``ours`` (how many
        times faster)."""
        if RELION_LOG not in self.results or ours not in self.results:
            return None
        theirs, mine = (self.results[RELION_LOG].cpu_seconds_per_micrograph,
                        self.results[ours].cpu_seconds_per_micrograph) if cpu else (
            self.results[RELION_LOG].seconds_per_micrograph,
            self.results[ours].seconds_per_micrograph)
        return theirs / mine if mine and theirs is not None else None

    def fragility(self) -> dict[str, float]:
        """F1 at each other given diameter over F1 at the true one, by picker name."""
        reference = self.results.get(CRYOSTREAM)
        if reference is None or reference.counts.f1 == 0:
            return {}
        return {name: result.counts.f1 / reference.counts.f1
                for name, result in self.results.items()
                if name.startswith(f"{CRYOSTREAM} x")}

    def to_dict(self) -> dict[str, Any]:
        return {"micrographs": len(self.bench_set.images), "truth": self.truth_count["all"],
                "truth_interior": self.truth_count["interior"],
                "diameter_px": self.bench_set.diameter_px,
                "diameter_angstrom": self.bench_set.diameter_angstrom,
                "pixel_size_angstrom": self.bench_set.pixel_size_angstrom,
                "pickers": {name: result.to_dict() for name, result in self.results.items()},
                "time_ratio_relion_over_cryostream": self.time_ratio(),
                "time_ratio_relion_over_cryostream_cli": self.time_ratio(CRYOSTREAM_CLI),
                "cpu_time_ratio_relion_over_cryostream": self.time_ratio(cpu=True),
                "cpu_time_ratio_relion_over_cryostream_cli": self.time_ratio(CRYOSTREAM_CLI, True),
                "f1_over_f1_at_true_diameter": self.fragility(), "skipped": self.skipped}


def picker_name(diameter_scale: float) -> str:
    """``cryostream`` at the true diameter, ``cryostream x0.75`` at 0.75 x it."""
    return CRYOSTREAM if diameter_scale == 1.0 else f"{CRYOSTREAM} x{diameter_scale:g}"


def run_cryostream(mrcs: Sequence[Path], bench_set: BenchSet, config: PickerConfig,
                   shapes: Sequence[tuple[int, int]], diameter_scale: float = 1.0) -> PickerResult:
    """Pick every MRC on one thread, told ``diameter_scale`` x the true diameter; time each end
    to end (read + pick), after one untimed warm-up pick."""
    given = diameter_scale * bench_set.diameter_angstrom
    config = replace(config, diameter_angstrom=given)
    pixel_size = bench_set.pixel_size_angstrom
    picked, seconds, cpu = [], [], []
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        # warm-up, untimed: imports scikit-learn, whose OpenMP threadpool_limits can only limit
        # once it is loaded (left unlimited, its spinning threads cost 10x on a busy machine)
        pick_file(mrcs[0], config, pixel_size)
        with threadpool_limits(1):
            for path in mrcs:
                cpu_before = time.process_time()
                outcome = pick_file(path, config, pixel_size)
                cpu.append(time.process_time() - cpu_before)
                if outcome.picks is None:
                    raise BadInputError(path, str(outcome.error).removeprefix(f"{path}: "))
                picked.append(np.column_stack([outcome.picks.x, outcome.picks.y]))
                seconds.append(outcome.seconds)
    finally:
        cv2.setNumThreads(threads)
    per_micrograph = score_files(picked, bench_set.truth, shapes, bench_set.diameter_px)
    return PickerResult(picker_name(diameter_scale), pooled(per_micrograph), per_micrograph, given,
                        statistics.median(seconds),
                        "median per micrograph, read + pick, one thread",
                        {"config_digest": config.digest(),
                         "seconds": {p.stem: s for p, s in zip(mrcs, seconds, strict=True)}},
                        statistics.median(cpu))


def run_cryostream_cli(mrcs: Sequence[Path], bench_set: BenchSet, config: PickerConfig,
                       shapes: Sequence[tuple[int, int]], work: Path,
                       auto: bool = False) -> PickerResult:
    """``cryostream pick`` on all MRCs in one call with one worker, as a user runs it (start-up,
    imports, the worker's warm-up and the STAR files included), timed start to exit; with
    ``auto``, ``--diameter auto`` (the given diameter reported is the session's estimate). Its
    CPU time is not recorded: the worker is a grandchild (forked by the fork server), whose CPU
    time never reaches this process."""
    name = CRYOSTREAM_AUTO if auto else CRYOSTREAM_CLI
    odir = work / f"{bench_set.name}_{name}"
    settings = write_atomically(work / f"{bench_set.name}_config.toml", dump_config(config))
    command = [sys.executable, "-m", "cryostream", "pick", *(str(path.resolve()) for path in mrcs),
               "--out", str(odir.resolve()), "--config", str(settings.resolve()),
               "--diameter", "auto" if auto else f"{bench_set.diameter_angstrom:g}",
               "--pixel-size", f"{bench_set.pixel_size_angstrom:g}", "--workers", "1"]
    timed = run_timed(command, PROJECT_ROOT)  # so `-m cryostream` is this copy, as in-process
    if timed.run.returncode != 0:
        last = (timed.run.stderr.strip() or "no output").splitlines()[-1]
        raise BadInputError(mrcs[0].parent, f"cryostream pick failed (exit "
                            f"{timed.run.returncode}): {last}")
    picked = [coordinates_xy(mirrored_path(path, path.parent, odir)) for path in mrcs]
    per_micrograph = score_files(picked, bench_set.truth, shapes, bench_set.diameter_px)
    given = bench_set.diameter_angstrom
    if auto:
        with Journal(odir, readonly=True) as journal:
            estimate = AutoDiameter.restore(journal, DEFAULT_DIAMETER_RANGE_ANGSTROM).estimate
        given = estimate.diameter_angstrom if estimate else given
    return PickerResult(name, pooled(per_micrograph), per_micrograph, given,
                        timed.wall_seconds / len(mrcs),
                        "whole `cryostream pick --workers 1` call / micrographs",
                        {"command": " ".join(command[1:]), "wall_seconds": timed.wall_seconds})


def run_relion(mrcs: Sequence[Path], bench_set: BenchSet, shapes: Sequence[tuple[int, int]],
               work: Path) -> PickerResult:
    """RELION 3.1 LoG (see :mod:`cryostream.bench.relion`), scored like the others."""
    picked, timed, details = run_relion_log(mrcs, bench_set, work)
    per_micrograph = score_files(picked, bench_set.truth, shapes, bench_set.diameter_px)
    return PickerResult(RELION_LOG, pooled(per_micrograph), per_micrograph,
                        bench_set.diameter_angstrom, timed.wall_seconds / len(mrcs),
                        "whole relion_autopick call / micrographs",
                        details | {"wall_seconds": timed.wall_seconds},
                        timed.cpu_seconds / len(mrcs))


def lattice_result(bench_set: BenchSet, shapes: Sequence[tuple[int, int]]) -> PickerResult:
    """The chance level: a hexagonal lattice at spacing D on every micrograph."""
    picked = [lattice_picks(shape, bench_set.diameter_px) for shape in shapes]
    per_micrograph = score_files(picked, bench_set.truth, shapes, bench_set.diameter_px)
    return PickerResult(LATTICE, pooled(per_micrograph), per_micrograph,
                        bench_set.diameter_angstrom, None,
                        "never looks at the image: hexagonal lattice at spacing D")


def bench_set_report(bench_set: BenchSet, config: PickerConfig, work: Path,
                     compare: Sequence[str] = (),
                     diameter_scales: Sequence[float] = (1.0,)) -> SetReport:
    """Pick one set with cryostream at every diameter scale (and the comparisons) and score
    everything, beside the lattice. Converted images are written under ``work``."""
    mrcs = picker_mrcs(bench_set, work / bench_set.name)
    shapes = [micrograph_shape(path) for path in mrcs]
    results, skipped = {}, {}
    for scale in sorted(set(diameter_scales) | {1.0}, key=lambda value: (value != 1.0, value)):
        result = run_cryostream(mrcs, bench_set, config, shapes, scale)
        results[result.picker] = result
    for name in (CRYOSTREAM_CLI, CRYOSTREAM_AUTO):
        if name in compare:
            try:
                results[name] = run_cryostream_cli(mrcs, bench_set, config, shapes, work,
                                                   auto=name == CRYOSTREAM_AUTO)
            except BadInputError as error:  # e.g. no diameter measured: a figure, not a crash
                skipped[name] = str(error)
    if RELION_LOG in compare:
        if relion_available() is None:
            skipped[RELION_LOG] = "relion_autopick is not installed (not on PATH)"
        else:
            results[RELION_LOG] = run_relion(mrcs, bench_set, shapes, work)
    results[LATTICE] = lattice_result(bench_set, shapes)
    return SetReport(bench_set, _truth_count(bench_set, shapes), results, skipped)


def _truth_count(bench_set: BenchSet, shapes: Sequence[tuple[int, int]]) -> dict[str, int]:
    margin = INTERIOR_MARGIN_DIAMETERS * bench_set.diameter_px
    truth = [coordinates_xy(path) for path in bench_set.truth]
    return {"all": sum(len(xy) for xy in truth),
            "interior": sum(int(inside(xy, shape, margin).sum())
                            for xy, shape in zip(truth, shapes, strict=True))}


def bench_json(reports: Sequence[SetReport], data: Path, config: PickerConfig) -> str:
    """All figures as JSON text, for tracking."""
    return json.dumps({"data": str(data), "match_radius_diameters": MATCH_RADIUS_DIAMETERS,
                       "interior_margin_diameters": INTERIOR_MARGIN_DIAMETERS,
                       "config": {key: value for key, value in config.to_dict().items()
                                  if key not in PER_SET_KEYS},
                       "sets": {report.bench_set.name: report.to_dict() for report in reports}},
                      indent=2)
