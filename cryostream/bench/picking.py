"""The picking benchmark: every labelled set is converted to float32 MRC, picked by cryostream (and
optionally by RELION 3.1's Laplacian-of-Gaussian picker on the same files in the same run), and
scored under the distance paradigm, pooled over each set.

A set is a folder with ``images/<name>.png`` (any micrograph format cryostream reads),
``truth/<name>.star`` (rlnCoordinateX/Y in pixels of that image) and ``meta.json`` with
``particle_diameter_px``. The MRCs get a 1.0 Å/px header, so diameters in Å equal diameters in px.

Timing: cryostream is timed per micrograph end to end (read the MRC + pick) on one thread, and the
median is reported. RELION is run once per set on all micrographs and its wall time (process start
to exit, including reading, picking, writing and its log file) is divided by the number of
micrographs, which spreads its start-up cost over the set.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import mrcfile
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..config import PickerConfig
from ..convert import to_uint8
from ..evaluation import coordinates_xy
from ..io import MICROGRAPH_SUFFIXES, BadInputError, read_micrograph
from ..metrics import Counts, score_distance
from ..picker import Picks
from ..session.naming import DEFAULT_SUFFIX
from ..session.work import pick_file
from ..star import star_text, write_atomically, write_star
from .synthetic import synthetic_micrograph, write_mrc

BENCH_PIXEL_SIZE_ANGSTROM = 1.0
MATCH_RADIUS_DIAMETERS = 0.5
RELION_AUTOPICK = "relion_autopick"
RELION_WORKING_DIAMETER_PX = 16.0
RELION_DIAMETER_RANGE = (0.8, 1.2)
CRYOSTREAM = "cryostream"
RELION_LOG = "relion-log"
COMPARISONS = (RELION_LOG,)
PER_SET_KEYS = ("diameter_angstrom", "pixel_size_angstrom")


@dataclass(frozen=True)
class BenchSet:
    """One labelled set: micrograph files, their truth files (same order) and the diameter."""

    name: str
    folder: Path
    diameter_px: float
    images: tuple[Path, ...]
    truth: tuple[Path, ...]


@dataclass(frozen=True)
class PickerResult:
    """One picker's figures on one set: pooled counts, per-micrograph counts and timing."""

    picker: str
    counts: Counts
    per_micrograph: dict[str, Counts]
    seconds_per_micrograph: float
    timing: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def picks(self) -> int:
        return self.counts.true_positives + self.counts.false_positives

    def to_dict(self) -> dict[str, Any]:
        return {"picks": self.picks, **self.counts.summary(),
                "seconds_per_micrograph": self.seconds_per_micrograph, "timing": self.timing,
                **self.details,
                "micrographs": {name: counts.summary()
                                for name, counts in self.per_micrograph.items()}}


@dataclass(frozen=True)
class SetReport:
    """Every picker's result on one set, plus what was skipped and why."""

    bench_set: BenchSet
    truth_count: int
    results: dict[str, PickerResult]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def time_ratio(self) -> float | None:
        """RELION LoG seconds per micrograph divided by cryostream's (how many times faster)."""
        if RELION_LOG not in self.results or CRYOSTREAM not in self.results:
            return None
        ours = self.results[CRYOSTREAM].seconds_per_micrograph
        return self.results[RELION_LOG].seconds_per_micrograph / ours if ours > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"micrographs": len(self.bench_set.images), "truth": self.truth_count,
                "diameter_px": self.bench_set.diameter_px,
                "pickers": {name: result.to_dict() for name, result in self.results.items()},
                "time_ratio_relion_over_cryostream": self.time_ratio, "skipped": self.skipped}


def labelled_files(folder: str | Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """The micrographs in ``folder/images`` and their truth files ``folder/truth/<stem>.star``."""
    folder = Path(folder)
    images_dir, truth_dir = folder / "images", folder / "truth"
    if not images_dir.is_dir() or not truth_dir.is_dir():
        raise BadInputError(folder, "is not a labelled set (needs images/ and truth/ folders)")
    images = tuple(sorted(path for path in images_dir.iterdir()
                          if path.suffix.lower() in MICROGRAPH_SUFFIXES))
    if not images:
        raise BadInputError(images_dir, f"holds no micrographs ({', '.join(MICROGRAPH_SUFFIXES)})")
    truth = tuple(truth_dir / f"{image.stem}.star" for image in images)
    for path in truth:
        if not path.is_file():
            raise BadInputError(path, "truth file is missing for this micrograph")
    return images, truth


def load_set(folder: str | Path) -> BenchSet:
    """Read a set folder: its labelled micrographs and ``meta.json``'s particle diameter."""
    folder = Path(folder)
    images, truth = labelled_files(folder)
    return BenchSet(folder.name, folder, _meta_diameter_px(folder / "meta.json"), images, truth)


def find_sets(data: str | Path, names: Sequence[str] | None = None) -> list[BenchSet]:
    """Every set folder under ``data`` (or only ``names``), sorted by name."""
    data = Path(data)
    if not data.is_dir():
        raise BadInputError(data, "benchmark folder does not exist")
    folders = sorted(path for path in data.iterdir() if (path / "images").is_dir())
    if names:
        known = {path.name: path for path in folders}
        missing = sorted(set(names) - set(known))
        if missing:
            raise BadInputError(data, f"has no set named {', '.join(missing)} (sets: "
                                f"{', '.join(known) or 'none'})")
        folders = [known[name] for name in names]
    if not folders:
        raise BadInputError(data, "holds no benchmark sets (folders with images/ and truth/)")
    return [load_set(folder) for folder in folders]


def _meta_diameter_px(path: Path) -> float:
    try:
        value = json.loads(path.read_text())["particle_diameter_px"]
        diameter = float(value)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadInputError(path, f"needs a readable particle_diameter_px ({error})") from error
    if diameter <= 0:
        raise BadInputError(path, f"particle_diameter_px must be positive, got {diameter}")
    return diameter


def convert_to_mrc(bench_set: BenchSet, out_dir: Path) -> list[Path]:
    """Write every image of the set as a float32 MRC (1.0 Å/px header) under ``out_dir``."""
    written = []
    for image in bench_set.images:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_micrograph(image, BENCH_PIXEL_SIZE_ANGSTROM).data
        written.append(write_mrc(data, out_dir / f"{image.stem}.mrc", BENCH_PIXEL_SIZE_ANGSTROM))
    return written


def score_files(picked: Sequence[np.ndarray], bench_set: BenchSet) -> dict[str, Counts]:
    """Distance-paradigm counts per micrograph (radius 0.5 x diameter) for (N, 2) x, y picks."""
    radius = MATCH_RADIUS_DIAMETERS * bench_set.diameter_px
    return {truth.stem: score_distance(xy, coordinates_xy(truth), radius)
            for xy, truth in zip(picked, bench_set.truth, strict=True)}


def pooled(per_micrograph: dict[str, Counts]) -> Counts:
    """The sum of per-micrograph counts."""
    total = Counts(0, 0, 0)
    for counts in per_micrograph.values():
        total = total + counts
    return total


def run_cryostream(mrcs: Sequence[Path], bench_set: BenchSet,
                   config: PickerConfig) -> PickerResult:
    """Pick every MRC on one thread; time each end to end (read + pick)."""
    config = replace(config, diameter_angstrom=bench_set.diameter_px * BENCH_PIXEL_SIZE_ANGSTROM)
    picked, seconds = [], []
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(1):
            for path in mrcs:
                outcome = pick_file(path, config, BENCH_PIXEL_SIZE_ANGSTROM)
                if outcome.error is not None:
                    raise BadInputError(path, outcome.error.removeprefix(f"{path}: "))
                picked.append(np.column_stack([outcome.picks.x, outcome.picks.y]))
                seconds.append(outcome.seconds)
    finally:
        cv2.setNumThreads(threads)
    per_micrograph = score_files(picked, bench_set)
    return PickerResult(CRYOSTREAM, pooled(per_micrograph), per_micrograph,
                        statistics.median(seconds),
                        "median per micrograph, read + pick, one thread",
                        {"config_digest": config.digest(),
                         "seconds": {p.stem: s for p, s in zip(mrcs, seconds, strict=True)}})


def relion_lowpass_angstrom(diameter_angstrom: float,
                            working_diameter_px: float = RELION_WORKING_DIAMETER_PX) -> float:
    """The ``--lowpass`` (Å) that makes the particle ``working_diameter_px`` across in RELION's
    LoG working image when ``--shrink 0``.

    RELION 3.1 (src/autopicker.cpp) sets ``downsize_mic = 2 * round(L * angpix / lowpass)`` with L
    the longer micrograph side in px, and with ``--shrink 0`` the working image is
    ``workSize = getGoodFourierDims(downsize_mic, L)`` px across (nudged to a size with small prime
    factors). Its pixel is therefore about ``lowpass / 2`` Å, so the particle spans
    ``2 * D / lowpass`` px, and ``lowpass = 2 * D / working_diameter_px``.
    """
    return 2.0 * diameter_angstrom / working_diameter_px


def write_micrographs_star(mrcs: Sequence[str], path: Path, pixel_size_angstrom: float) -> Path:
    """The micrographs STAR RELION 3.1 reads with ``--i``: an optics table (pixel size, and the
    voltage, Cs and amplitude contrast it insists on, unused by LoG) and the micrograph names.
    With a STAR input RELION takes the pixel size from this table, not from ``--angpix``."""
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [pixel_size_angstrom], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    micrographs = pd.DataFrame({"rlnMicrographName": list(mrcs), "rlnOpticsGroup": 1})
    return write_atomically(path, star_text({"optics": optics, "micrographs": micrographs}))


def relion_command(star: str, odir: str, diameter_angstrom: float) -> list[str]:
    """The relion_autopick LoG call: diameters 0.8-1.2 x D, --shrink 0, lowpass for ~16 px."""
    low, high = (factor * diameter_angstrom for factor in RELION_DIAMETER_RANGE)
    return [RELION_AUTOPICK, "--i", star, "--odir", odir, "--pickname", DEFAULT_SUFFIX, "--LoG",
            "--LoG_diam_min", f"{low:.2f}", "--LoG_diam_max", f"{high:.2f}", "--shrink", "0",
            "--lowpass", f"{relion_lowpass_angstrom(diameter_angstrom):.3f}",
            "--angpix", f"{BENCH_PIXEL_SIZE_ANGSTROM:g}"]


def relion_output_path(odir: Path, micrograph_name: str) -> Path:
    """Where RELION 3.1 writes a micrograph's coordinates: ``<odir>/<name without extension>_
    <pickname>.star``, keeping the micrograph's relative folders."""
    return odir / f"{Path(micrograph_name).with_suffix('')}_{DEFAULT_SUFFIX}.star"


def run_relion_log(mrcs: Sequence[Path], bench_set: BenchSet, work: Path) -> PickerResult:
    """Run ``relion_autopick --LoG`` once on all MRCs (from ``work``) and score its STARs.

    Success is judged by the coordinate files, not the exit code: RELION 3.1 aborts while writing
    its PDF log when a run picked nothing at all, after every coordinate file is written."""
    names = [str(path.relative_to(work)) for path in mrcs]
    star = write_micrographs_star(names, work / f"{bench_set.name}_micrographs.star",
                                  BENCH_PIXEL_SIZE_ANGSTROM)
    odir = Path(f"{bench_set.name}_relion_log")
    diameter_angstrom = bench_set.diameter_px * BENCH_PIXEL_SIZE_ANGSTROM
    command = relion_command(star.name, f"{odir}/", diameter_angstrom)
    started = time.perf_counter()
    run = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    outputs = [relion_output_path(work / odir, name) for name in names]
    missing = [path for path in outputs if not path.is_file()]
    if missing:
        last = (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise BadInputError(star, f"relion_autopick failed (exit {run.returncode}, "
                            f"{len(missing)} coordinate files missing): {last[0]}")
    per_micrograph = score_files([_relion_xy(path) for path in outputs], bench_set)
    working_size = _relion_working_size(run.stdout)
    longest_side = longest_side_px(mrcs[0])
    details = {"command": " ".join(command), "exit_code": run.returncode, "wall_seconds": elapsed,
               "lowpass_angstrom": relion_lowpass_angstrom(diameter_angstrom),
               "working_size_px": working_size,
               "working_diameter_px": (bench_set.diameter_px * working_size / longest_side
                                       if working_size else None)}
    return PickerResult(RELION_LOG, pooled(per_micrograph), per_micrograph,
                        elapsed / len(mrcs), "whole relion_autopick call / micrographs", details)


def longest_side_px(path: Path) -> int:
    """The longer side of an MRC in px (RELION's ``micrograph_size``), from its header."""
    with mrcfile.open(path, header_only=True) as mrc:
        return int(max(mrc.header.nx, mrc.header.ny))


def _relion_xy(path: Path) -> np.ndarray:
    """RELION's picks; RELION 3.1 leaves the file empty (0 bytes) when it picked nothing."""
    return coordinates_xy(path) if path.stat().st_size else np.empty((0, 2))


def _relion_working_size(stdout: str) -> int | None:
    """The working image size RELION reports ("scaled to N pixels" or "rescaling ... to N")."""
    sizes = re.findall(r"(?:scaled to|rescaling of micrographs to) (\d+) pixels", stdout)
    return int(sizes[-1]) if sizes else None


def relion_available() -> str | None:
    """The path of relion_autopick, or None when it is not installed."""
    return shutil.which(RELION_AUTOPICK)


def bench_set_report(bench_set: BenchSet, config: PickerConfig, work: Path,
                     compare: Sequence[str] = ()) -> SetReport:
    """Convert one set to MRC under ``work``, pick it with cryostream (and the comparisons) and
    score everything."""
    mrcs = convert_to_mrc(bench_set, work / bench_set.name)
    truth_count = sum(len(coordinates_xy(path)) for path in bench_set.truth)
    results = {CRYOSTREAM: run_cryostream(mrcs, bench_set, config)}
    skipped = {}
    if RELION_LOG in compare:
        if relion_available() is None:
            skipped[RELION_LOG] = f"{RELION_AUTOPICK} is not installed (not on PATH)"
        else:
            results[RELION_LOG] = run_relion_log(mrcs, bench_set, work)
    return SetReport(bench_set, truth_count, results, skipped)


def bench_json(reports: Sequence[SetReport], data: Path, config: PickerConfig) -> str:
    """All figures as JSON text, for tracking."""
    return json.dumps({"data": str(data), "pixel_size_angstrom": BENCH_PIXEL_SIZE_ANGSTROM,
                       "match_radius_diameters": MATCH_RADIUS_DIAMETERS,
                       "config": {key: value for key, value in config.to_dict().items()
                                  if key not in PER_SET_KEYS},
                       "sets": {report.bench_set.name: report.to_dict() for report in reports}},
                      indent=2)


def write_synthetic_set(folder: str | Path, n_micrographs: int = 2,
                        shape: tuple[int, int] = (512, 512), diameter_px: float = 32.0,
                        seed: int = 0) -> BenchSet:
    """A small labelled set in the bench layout, from :mod:`cryostream.bench.synthetic` (for tests and
    trying the commands): 8-bit PNGs with dark particles, truth STARs and ``meta.json``."""
    folder = Path(folder)
    for index in range(n_micrographs):
        micrograph = synthetic_micrograph(shape, int(shape[0] * shape[1] / 8000), diameter_px,
                                          BENCH_PIXEL_SIZE_ANGSTROM, seed=seed + index)
        image = folder / "images" / f"synthetic_{index:03d}.png"
        write_atomically(image, cv2.imencode(".png", to_uint8(micrograph.image, 0.5, 99.5))[1]
                         .tobytes())
        truth = Picks(micrograph.x, micrograph.y, np.ones(len(micrograph.x)), diameter_px,
                      BENCH_PIXEL_SIZE_ANGSTROM, shape, image)
        write_star(truth, folder / "truth" / f"{image.stem}.star")
    write_atomically(folder / "meta.json", json.dumps({"particle_diameter_px": diameter_px,
                                                       "source": "cryostream.bench.synthetic"}))
    return load_set(folder)
