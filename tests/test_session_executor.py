"""The executor on real processes: the local pool, and a real dask.distributed LocalCluster."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import cv2
import numpy as np
import pytest
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_info

from cryostream.bench.synthetic import synthetic_micrograph, write_mrc
from cryostream.bench.throughput import DIAMETER_ANGSTROM, write_bench_micrographs
from cryostream.config import PickerConfig, preset
from cryostream.session.errors import UsageError
from cryostream.session.executor import Executor, task_key
from cryostream.session.journal import Journal
from cryostream.session.work import PickOutcome, lost_task, pick_file
from cryostream.star import read_coordinates

CONFIG = preset("default", diameter_angstrom=60.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic 1024 x 1024 micrographs (1.5 Å/px, 60 Å particles), each different."""
    root = tmp_path_factory.mktemp("micrographs")
    for seed in range(4):
        micrograph = synthetic_micrograph((1024, 1024), n_particles=70, diameter_px=40,
                                          ice_gradient=2.0 * (seed % 2), seed=seed)
        write_mrc(micrograph.image, root / f"mic_{seed}.mrc", 1.5)
    return root


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-threaded worker processes with a small memory limit, like a small facility."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                      dashboard_address=None) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster, set_as_default=False) as dask_client:
        yield dask_client


def by_name(outcomes: list[PickOutcome]) -> dict[str, PickOutcome]:
    names = [outcome.path.name for outcome in outcomes]
    assert len(names) == len(set(names)), "an item came back twice"
    return dict(zip(names, outcomes, strict=True))


def test_pick_file_turns_bad_input_into_an_outcome_naming_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    outcome = pick_file(empty, CONFIG)
    assert outcome.picks is None
    assert outcome.error is not None and str(empty) in outcome.error and "\n" not in outcome.error


def test_unknown_executor_and_missing_scheduler_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--executor must be one of local, dask, inline, got 'slurm'"):
        Executor("slurm")
    with pytest.raises(UsageError, match="needs --executor dask"):
        Executor("local", scheduler="tcp://127.0.0.1:8786")
    missing = tmp_path / "scheduler.json"
    with pytest.raises(UsageError, match=f"{missing}: Dask scheduler file not found"):
        Executor("dask", scheduler=str(missing))


def test_task_key_is_stable_for_an_unchanged_file_and_new_for_a_rewritten_one(
        folder: Path) -> None:
    path = folder / "mic_0.mrc"
    key = task_key(pick_file, (path, CONFIG))
    assert key == task_key(pick_file, (path, PickerConfig(**CONFIG.__dict__)))
    assert key != task_key(pick_file, (path, preset("default", diameter_angstrom=61.0)))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        assert key != task_key(pick_file, (path, CONFIG))
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_local_pool_times_out_without_results_and_recovers_from_a_killed_worker() -> None:
    with Executor("local", workers=1) as pool:
        sleeper = pool.submit(time.sleep, 30)
        done, pending = pool.wait_any({sleeper}, timeout=0.2)
        assert (done, pending) == (set(), {sleeper})
        os.kill(pool.worker_pids()[0], signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            sleeper.result(timeout=60)
        lost = list(pool.map_unordered(os._exit, [3], on_error=lambda item, error: (item, error)))
        assert lost[0][0] == 3 and isinstance(lost[0][1], BrokenProcessPool)
        assert pool.submit(pow, 2, 10).result(timeout=60) == 1024


def test_an_inline_executor_picks_on_one_thread_and_gives_the_caller_its_threads_back() -> None:
    def threads() -> tuple[int, set[int]]:
        return cv2.getNumThreads(), {pool["num_threads"] for pool in threadpool_info()}

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with Executor("inline") as inline:
            assert inline.submit(threads).result() == (1, {1} if threadpool_info() else set())
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_lost_task_outcome_names_the_file() -> None:
    outcome = lost_task("/data/a.mrc", BrokenProcessPool("worker died"))
    assert outcome.picks is None
    assert outcome.error == "/data/a.mrc: task lost (BrokenProcessPool: worker died)"


def test_dask_cluster_gives_the_local_pool_coordinates(folder: Path, client: Client,
                                                       tmp_path: Path) -> None:
    paths = sorted(folder.glob("*.mrc"))
    with Executor("local", workers=2) as pool:
        local = by_name(list(pool.map_unordered(pick_file, paths, CONFIG)))
    scheduler_file = tmp_path / "scheduler.json"
    client.write_scheduler_file(str(scheduler_file))
    with Executor("dask", scheduler=str(scheduler_file)) as pool:
        assert pool.workers == 2
        remote = by_name(list(pool.map_unordered(pick_file, paths, CONFIG, max_in_flight=3)))
        sleeper = pool.submit(time.sleep, 30)
        assert pool.wait_any({sleeper}, timeout=0.2) == (set(), {sleeper})
        sleeper.cancel()
    assert sorted(remote) == sorted(local) == [path.name for path in paths]
    for name, outcome in local.items():
        assert outcome.picks is not None and len(outcome.picks) > 20, name
        # the same picks; the last bit of a float sum may depend on how memory is aligned in
        # each process (SIMD), so compare far below the 0.01 px that the STAR files keep
        for field in ("x", "y", "figure_of_merit"):
            np.testing.assert_allclose(getattr(remote[name].picks, field),
                                       getattr(outcome.picks, field), rtol=1e-12, atol=1e-9)


def test_killing_a_dask_worker_mid_run_loses_and_duplicates_nothing(
        cluster: LocalCluster, client: Client, tmp_path: Path) -> None:
    """``cryostream pick --executor dask`` on 16 copies of a 4096 x 4096 micrograph, given as a
    relative folder while the workers run elsewhere; one worker process is killed while it holds a
    picking task. Dask reruns the task elsewhere and the client writes every output exactly once."""
    source = write_bench_micrographs(tmp_path / "source", 1)[0]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    count = 16
    for index in range(count):
        shutil.copyfile(source, inputs / f"copy_{index:02d}.mrc")
    out = tmp_path / "picks"
    client.run(os.chdir, "/")  # relative input paths must still reach workers elsewhere
    run = subprocess.Popen(
        [sys.executable, "-c", "from cryostream.cli import app; app()", "pick", "inputs",
         "-o", "picks", "--diameter", str(DIAMETER_ANGSTROM), "--executor", "dask",
         "--scheduler", cluster.scheduler_address],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids_before = client.run(os.getpid)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and run.poll() is None and time.monotonic() < deadline:
        busy = [address for address, keys in client.processing().items()
                if any(str(key).startswith("pick_file-") for key in keys)]
        if busy:
            victim = busy[0]
            os.kill(pids_before[victim], signal.SIGKILL)
        else:
            time.sleep(0.02)
    written_at_kill = len(list(out.glob("*_autopick.star")))
    stdout, stderr = run.communicate(timeout=180)
    assert victim is not None, f"no picking task was seen in flight: {stderr}"
    assert written_at_kill < count
    assert run.returncode == 0, stderr
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
    assert pids_before[victim] not in client.run(os.getpid).values()

    stars = sorted(out.glob("*_autopick.star"))
    assert [star.name for star in stars] == [f"copy_{i:02d}_autopick.star" for i in range(count)]
    first = read_coordinates(stars[0])
    assert len(first) > 20
    for star in stars[1:]:
        np.testing.assert_array_equal(read_coordinates(star)[["rlnCoordinateX", "rlnCoordinateY"]],
                                      first[["rlnCoordinateX", "rlnCoordinateY"]])
    particles = read_coordinates(out / "particles.star")
    assert len(particles) == count * len(first)
    assert set(particles["rlnMicrographName"].value_counts()) == {len(first)}
    with Journal(out, readonly=True) as journal:
        entries = journal.entries()
    assert len(entries) == count
    assert {(entry.status, entry.attempts) for entry in entries} == {("done", 1)}
