"""RELION 3.1's Laplacian-of-Gaussian picker (``relion_autopick --LoG``) run on a bench set's MRCs,
as the comparison every figure stands beside.

Timing: RELION is run once per set on all micrographs (once per size: it refuses micrographs of
different sizes in one run) and its wall-clock and CPU time (process start to exit, including
reading, picking, writing and its log file) are divided by the number of micrographs, which
spreads its start-up cost over the set.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluation import coordinates_xy
from ..io import BadInputError
from ..session.naming import DEFAULT_SUFFIX
from ..star import star_text, write_atomically
from .sets import BenchSet, micrograph_shape
from .timing import TimedRun, run_timed

RELION_AUTOPICK = "relion_autopick"
RELION_WORKING_DIAMETER_PX = 16.0
RELION_DIAMETER_RANGE = (0.8, 1.2)


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


def relion_command(star: str, odir: str, diameter_angstrom: float,
                   pixel_size_angstrom: float = 1.0) -> list[str]:
    """The relion_autopick LoG call: diameters 0.8-1.2 x D, --shrink 0, lowpass for ~16 px."""
    low, high = (factor * diameter_angstrom for factor in RELION_DIAMETER_RANGE)
    return [RELION_AUTOPICK, "--i", star, "--odir", odir, "--pickname", DEFAULT_SUFFIX, "--LoG",
            "--LoG_diam_min", f"{low:.2f}", "--LoG_diam_max", f"{high:.2f}", "--shrink", "0",
            "--lowpass", f"{relion_lowpass_angstrom(diameter_angstrom):.3f}",
            "--angpix", f"{pixel_size_angstrom:g}"]


def relion_output_path(odir: Path, micrograph_name: str) -> Path:
    """Where RELION 3.1 writes a micrograph's coordinates: ``<odir>/<name without extension>_
    <pickname>.star``, keeping the micrograph's relative folders."""
    return odir / f"{Path(micrograph_name).with_suffix('')}_{DEFAULT_SUFFIX}.star"


def run_relion_log(mrcs: Sequence[Path], bench_set: BenchSet,
                   work: Path) -> tuple[list[np.ndarray], TimedRun, dict]:
    """Run ``relion_autopick --LoG`` on all MRCs (linked under ``work``, where it runs) and return
    its picks per micrograph, its timing and the details of the run.

    RELION refuses micrographs of different sizes in one run, so it runs once per size (the
    command in the details lists each run; times are summed, the other details are the first
    run's: its working image holds the particle at the same ~16 px whatever the size)."""
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(mrcs):
        by_shape.setdefault(micrograph_shape(path), []).append(index)
    picked: list[np.ndarray] = [np.empty((0, 2))] * len(mrcs)
    runs: list[tuple[TimedRun, dict]] = []
    for number, indices in enumerate(by_shape.values()):
        tag = f"_size{number + 1}" if len(by_shape) > 1 else ""
        size_picks, timed, details = _run_one_size([mrcs[index] for index in indices], bench_set,
                                                   work, tag)
        for index, xy in zip(indices, size_picks, strict=True):
            picked[index] = xy
        runs.append((timed, details))
    first_run, details = runs[0]
    total = TimedRun(first_run.run, sum(timed.wall_seconds for timed, _ in runs),
                     sum(timed.cpu_seconds for timed, _ in runs))
    return picked, total, details | {"command": "; ".join(each["command"] for _, each in runs)}


def _run_one_size(mrcs: Sequence[Path], bench_set: BenchSet, work: Path,
                  tag: str) -> tuple[list[np.ndarray], TimedRun, dict]:
    """One relion_autopick run on MRCs of one size (its STAR and output folder named with ``tag``).

    Success is judged by the coordinate files, not the exit code: RELION 3.1 aborts while writing
    its PDF log when a run picked nothing at all, after every coordinate file is written."""
    names = [str(_linked(path, work / bench_set.name)) for path in mrcs]
    star = write_micrographs_star(names, work / f"{bench_set.name}{tag}_micrographs.star",
                                  bench_set.pixel_size_angstrom)
    odir = Path(f"{bench_set.name}{tag}_relion_log")
    command = relion_command(star.name, f"{odir}/", bench_set.diameter_angstrom,
                             bench_set.pixel_size_angstrom)
    timed = run_timed(command, work)
    run = timed.run
    outputs = [relion_output_path(work / odir, name) for name in names]
    missing = [path for path in outputs if not path.is_file()]
    if missing:
        last = (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise BadInputError(star, f"relion_autopick failed (exit {run.returncode}, "
                            f"{len(missing)} coordinate files missing): {last[0]}")
    working_size = _relion_working_size(run.stdout)
    longest_side = max(micrograph_shape(mrcs[0]))
    details = {"command": " ".join(command), "exit_code": run.returncode,
               "lowpass_angstrom": relion_lowpass_angstrom(bench_set.diameter_angstrom),
               "working_size_px": working_size,
               "working_diameter_px": (bench_set.diameter_px * working_size / longest_side
                                       if working_size else None)}
    return [_relion_xy(path) for path in outputs], timed, details


def _linked(path: Path, folder: Path) -> Path:
    """``path`` as seen from ``folder``'s parent (RELION's working folder): the file itself when it
    is there already, else a symbolic link to it in ``folder``, so RELION reads the set's own
    MRCs without a copy."""
    if path.parent.resolve() == folder.resolve():
        return Path(folder.name) / path.name
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / path.name
    if not link.exists():
        link.symlink_to(path.resolve())
    return Path(folder.name) / path.name


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
