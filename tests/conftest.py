"""Shared test helpers: synthetic micrographs written as real files, the command line run as a user
runs it, coordinate STAR files, a small file system that fills up, and the shared benchmark path."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cryostream.bench.synthetic import SyntheticMicrograph, synthetic_micrograph, write_mrc
from cryostream.config import preset
from cryostream.picker import Picks
from cryostream.session.outputs import provenance
from cryostream.star import write_star

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
PIXEL_SIZE_ANGSTROM = 1.5
DIAMETER_PX = 40.0
DIAMETER_ANGSTROM = DIAMETER_PX * PIXEL_SIZE_ANGSTROM


@pytest.fixture(scope="session")
def synthetic() -> SyntheticMicrograph:
    return synthetic_micrograph((768, 768), n_particles=40, diameter_px=DIAMETER_PX, seed=1)


@pytest.fixture
def synthetic_mrc(tmp_path: Path, synthetic: SyntheticMicrograph) -> Path:
    return write_mrc(synthetic.image, tmp_path / "mic.mrc", synthetic.pixel_size_angstrom)


def small_mrc(path: Path, seed: int = 0, shape: tuple[int, int] = (256, 256)) -> Path:
    """A small synthetic micrograph (40 px particles at 1.5 Å/px) written as a float32 MRC."""
    image = synthetic_micrograph(shape, n_particles=max(2, shape[0] * shape[1] // 12000),
                                 diameter_px=DIAMETER_PX, seed=seed).image
    return write_mrc(image, path, PIXEL_SIZE_ANGSTROM)


def bench_set(name: str) -> Path:
    """A shared benchmark set, or skip the test with a clear reason when it is absent."""
    folder = BENCH / name
    if not (folder / "images").is_dir():
        pytest.skip(f"shared benchmark set {folder} is absent (it lives next to the project)")
    return folder


def run_cryostream(*args: str, cwd: Path | None = None, timeout: float = 300,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m cryostream ARGS`` in a subprocess, as a user runs it (text output)."""
    return subprocess.run([sys.executable, "-m", "cryostream", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env={**os.environ, **(env or {})})


def invoke(*args: str) -> object:
    """The command line in this process (typer's runner): quick, for messages and exit codes."""
    from cryostream.cli import app

    return CliRunner().invoke(app, list(args))


def write_coordinates(path: Path, xy: np.ndarray | Sequence[Sequence[float]],
                      diameter_px: float | None = None, shape: tuple[int, int] = (400, 400)) -> Path:
    """A coordinate STAR with these (x, y) centres; with ``diameter_px`` it carries cryostream's
    header, which records the diameter (and pixel size 1.0 Å/px)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    picks = Picks(xy[:, 0], xy[:, 1], np.ones(len(xy)), diameter_px or DIAMETER_PX, 1.0, shape,
                  path.with_suffix(".mrc"))
    comments = (provenance(preset("default", diameter_angstrom=diameter_px), picks)
                if diameter_px is not None else ())
    return write_star(picks, path, comments)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted in the test folder (root only): a disk that fills up for real."""
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); run as root")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(mount_point: Path) -> Path:
    """Fill a :func:`small_disk` to the last byte; returns the filler file (delete it to free)."""
    filler = mount_point / "filler"
    with open(filler, "wb", buffering=0) as stream:
        try:
            while True:
                stream.write(b"\0" * 4096)
        except OSError:
            return filler


def remount(mount_point: Path, mode: str) -> None:
    """Remount a :func:`small_disk` read-only (``ro``) or writable (``rw``)."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount_point)], check=True)
