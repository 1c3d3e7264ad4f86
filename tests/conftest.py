"""Shared test helpers: synthetic micrographs written as real files, the command line run as a user
runs it, coordinate STAR files, a small file system that fills up, and the shared benchmark path."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cryostream.bench.synthetic import SyntheticMicrograph, synthetic_micrograph, write_mrc
from cryostream.config import preset
from cryostream.picker import Picks
from cryostream.session.journal import Journal, journal_path
from cryostream.session.outputs import provenance
from cryostream.star import write_star

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
PIXEL_SIZE_ANGSTROM = 1.5
DIAMETER_PX = 40.0
DIAMETER_ANGSTROM = DIAMETER_PX * PIXEL_SIZE_ANGSTROM


@pytest.fixture(scope="session")
def synthetic() -> SyntheticMicrograph:
    return synthetic_micrograph((768, 768), n_particles=40, diameter_px=DIAMETER_PX, seed=1)


@pytest.fixture
def synthetic_mrc(tmp_path: Path, synthetic: SyntheticMicrograph) -> Path:
    return write_mrc(synthetic.image, tmp_path / "mic.mrc", synthetic.pixel_size_angstrom)


def small_image(seed: int = 0, shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    """A small synthetic micrograph with 40 px particles."""
    return synthetic_micrograph(shape, n_particles=max(2, shape[0] * shape[1] // 12000),
                                diameter_px=DIAMETER_PX, seed=seed).image


def small_mrc(path: Path, seed: int = 0, shape: tuple[int, int] = (256, 256)) -> Path:
    """A :func:`small_image` written as a float32 MRC at 1.5 Å/px."""
    return write_mrc(small_image(seed, shape), path, PIXEL_SIZE_ANGSTROM)


@pytest.fixture(scope="module")
def relion_micrographs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three micrographs for the RELION tests (see tests/relion_project.py)."""
    from relion_project import write_micrograph_files

    return write_micrograph_files(tmp_path_factory.mktemp("micrographs"))


def bench_set(name: str) -> Path:
    """A shared benchmark set, or skip the test with a clear reason when it is absent."""
    folder = BENCH / name
    if not (folder / "images").is_dir():
        pytest.skip(f"shared benchmark set {folder} is absent (it lives next to the project)")
    return folder


def run_cryostream(*args: str, cwd: Path | None = None, timeout: float = 300,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m cryostream ARGS`` in a subprocess, as a user runs it (text output), with this
    checkout's package first on the path whatever ``cwd`` is (not an installed copy)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "cryostream", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": path, **(env or {})})


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


WATCH_FAST = ["--quiet-seconds", "1", "--retries", "2", "--retry-seconds", "0.2",
              "--incomplete-seconds", "2", "--log-json"]


# -- the watcher as a process, and files written the way acquisition software writes them ----
def mrc_bytes(folder: Path, seed: int, shape: tuple[int, ...] = (256, 256)) -> bytes:
    """The bytes of a synthetic MRC (a 3-D shape gives a stack of that many frames)."""
    image = synthetic_micrograph(shape[-2:], n_particles=max(2, shape[-1] * shape[-2] // 12000),
                                 diameter_px=40.0, seed=seed).image
    data = np.stack([image] * shape[0]) if len(shape) == 3 else image
    return write_mrc(data, folder / f"source_{seed}_{len(shape)}.mrc",
                     PIXEL_SIZE_ANGSTROM).read_bytes()


def write_slowly(data: bytes, path: Path, chunks: int = 4, pause_seconds: float = 0.15) -> Path:
    """Write ``data`` through one open file in ``chunks`` with pauses, as a detector writer does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    step = max(1, -(-len(data) // chunks))
    with open(path, "wb") as stream:
        for start in range(0, len(data), step):
            stream.write(data[start:start + step])
            stream.flush()
            time.sleep(pause_seconds)
    return path


def write_via_rename(data: bytes, path: Path) -> Path:
    """Write slowly to ``<name>.tmp`` and rename it into place when complete."""
    os.replace(write_slowly(data, path.with_name(path.name + ".tmp")), path)
    return path


class Daemon:
    """A `cryostream watch` process in its own session; its JSON log goes to a file."""

    def __init__(self, acquisition: Path, out: Path, log: Path, *options: str) -> None:
        self.log = log
        self.stderr = log.with_suffix(".stderr")
        with open(log, "a") as stdout, open(self.stderr, "a") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cryostream", "watch", str(acquisition), "-o", str(out),
                 "--diameter", str(DIAMETER_ANGSTROM), *options],
                stdout=stdout, stderr=stderr, start_new_session=True)

    def events(self, kind: str) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [event for event in map(json.loads, lines) if event["event"] == kind]

    def wait_started(self) -> None:
        wait_for(lambda: bool(self.events("start")), 60, "the daemon to start", self)

    def stop(self, number: int = signal.SIGTERM, timeout_seconds: float = 90) -> int:
        self.process.send_signal(number)
        return self.process.wait(timeout=timeout_seconds)

    def kill_group(self) -> None:
        """Remove anything the daemon left behind (workers of a SIGKILLed daemon)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill_group()


def wait_for(condition: Callable[[], bool], timeout_seconds: float, what: str,
             daemon: Daemon | None = None) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_seconds``, or at once when
    ``daemon`` has exited, with its last words."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        exited = daemon is not None and daemon.process.poll() is not None
        if exited or time.monotonic() > deadline:
            detail = daemon.stderr.read_text()[-2000:] if daemon and daemon.stderr.exists() else ""
            reason = "the daemon exited" if exited else f"timed out after {timeout_seconds} s"
            raise AssertionError(f"{reason} waiting for {what}\n{detail}")
        time.sleep(0.2)


def journal_entries(out: Path) -> dict:
    if not journal_path(out).exists():
        return {}
    try:
        with Journal(out, readonly=True) as journal:
            return {entry.path: entry for entry in journal.entries()}
    except sqlite3.OperationalError:  # created but its tables not yet committed
        return {}


def statuses(out: Path) -> dict[str, str]:
    return {path: entry.status for path, entry in journal_entries(out).items()}


def nearby_data(relative: str) -> Path:
    """A data folder next to the project (``shared/bench/...`` or ``data/bench-extra/...``),
    looked for beside every folder above the tests, so it is found from a git worktree too; skip
    the test with a clear reason when it is absent."""
    for parent in Path(__file__).resolve().parents:
        if (parent / relative).is_dir():
            return parent / relative
    pytest.skip(f"data folder {relative} is absent next to the project (data/bench-extra is "
                "built by the bench-* commands: see its READY.md)")
