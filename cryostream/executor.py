"""Where picking runs: a local process pool (default) or a Dask cluster, behind one interface.

Workers receive a file path and the configuration, read the micrograph themselves and return only
the picks (or the error), so large arrays never travel; writing stays with the caller. Picking is a
pure function of (file contents, configuration), so a task that Dask retries on another worker after
a worker died gives the same answer. Each worker process runs one task at a time with its numeric
libraries single-threaded: one core per worker, so N workers use N cores without oversubscription.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from .config import PickerConfig
from .io import BadInputError, read_micrograph
from .picker import Picks, pick_micrograph, working_image

KINDS = ("local", "dask")
DASK_RETRIES = 2
CONNECT_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PickOutcome:
    """The result of picking one file: picks, or the one-line reason it failed."""

    path: Path
    picks: Picks | None
    error: str | None
    seconds: float
    image8: np.ndarray | None = None


def pick_file(path: str | Path, config: PickerConfig, keep_image: bool = False) -> PickOutcome:
    """Read and pick one file; any failure becomes an outcome with a one-line error.

    With ``keep_image`` the outcome also carries the binned 8-bit working image (for a PNG/JPEG
    copy next to the outputs)."""
    started = time.perf_counter()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            micrograph = read_micrograph(path, config.pixel_size_angstrom)
        picks = pick_micrograph(micrograph, config)
        image8 = working_image(micrograph, config)[0] if keep_image else None
        return PickOutcome(path, picks, None, time.perf_counter() - started, image8)
    except BadInputError as error:
        message = str(error)
    except Exception as error:  # a picker bug must not stop a batch; keep the reason
        message = f"{path}: picking failed ({one_line(error)})"
    return PickOutcome(path, None, message, time.perf_counter() - started)


def lost_task(path: str | Path, error: BaseException) -> PickOutcome:
    """The outcome of a task the executor could not run to the end (its worker process kept
    dying, the pool broke, the scheduler went away): a failure naming the file."""
    return PickOutcome(Path(path), None, f"{path}: task lost ({one_line(error)})", 0.0)


def one_line(error: BaseException) -> str:
    """``Type: message`` of an exception on one line."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def default_workers() -> int:
    """One worker per core: workers are single-threaded and the client only writes small files."""
    return os.cpu_count() or 1


SINGLE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded() -> None:
    """Limit OpenCV, OpenMP and BLAS to one thread in this process (a worker owns one core).

    threadpoolctl limits the libraries already loaded; the environment variables cover those
    loaded later (scikit-learn's OpenMP is imported only when a worker first clusters)."""
    os.environ.update(dict.fromkeys(SINGLE_THREAD_VARIABLES, "1"))
    cv2.setNumThreads(1)
    threadpool_limits(1)


class Executor:
    """Runs ``fn(item, *args)`` for many items on worker processes.

    ``kind="local"``: a process pool of ``workers`` processes on this machine (started by a fork
    server, so a parent that already used OpenMP cannot deadlock them; a pool whose process was
    killed is replaced on the next submit). ``kind="dask"``: a ``dask.distributed`` cluster, given
    by ``scheduler`` (an address such as ``tcp://host:8786`` or a scheduler file written by
    ``dask scheduler --scheduler-file``); without one, a private LocalCluster of ``workers``
    single-threaded worker processes is started and closed with the executor.
    """

    def __init__(self, kind: str = "local", workers: int | None = None,
                 scheduler: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown executor {kind!r}; choose 'local' or 'dask'")
        if scheduler is not None and kind != "dask":
            raise ValueError("--scheduler needs --executor dask")
        self.kind = kind
        self._workers = workers or default_workers()
        self._cluster: Any = None
        self._pool: Any = self._local_pool() if kind == "local" else self._dask_client(scheduler)

    @property
    def workers(self) -> int:
        """How many tasks can run at once: the pool size, or the Dask cluster's worker threads now
        (clusters grow and shrink), at least one."""
        if self.kind == "dask":
            return max(1, sum(self._pool.nthreads().values()))
        return self._workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start one task; returns a future with ``.result()`` and ``.done()``. ``fn`` must be
        pure (the same arguments give the same answer), as :func:`pick_file` is.

        Dask tasks are keyed by their arguments and, when the first is a file, its size and
        modification time: the same unchanged file submitted twice is picked once, a rewritten one
        again. A failing Dask task is retried up to DASK_RETRIES times; a task whose worker dies is
        rescheduled by Dask itself (``distributed.scheduler.allowed-failures``)."""
        if self.kind == "dask":
            return self._pool.submit(fn, *args, key=task_key(fn, args), retries=DASK_RETRIES)
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._local_pool()
            return self._pool.submit(fn, *args)

    def map_unordered(self, fn: Callable[..., Any], items: Iterable[Any], *args: Any,
                      max_in_flight: int | None = None,
                      on_error: Callable[[Any, BaseException], Any] | None = None
                      ) -> Iterator[Any]:
        """Yield ``fn(item, *args)`` results as they finish, with at most ``max_in_flight``
        (default: twice the workers) submitted and unfinished, so memory stays bounded however
        many items there are. A task that raised, or was lost with its worker, yields
        ``on_error(item, error)``, or raises when ``on_error`` is None."""
        pending: dict[Any, Any] = {}

        def finished(done: set[Any]) -> Iterator[Any]:
            for future in done:
                item = pending.pop(future)
                try:
                    yield future.result()
                except Exception as error:
                    if on_error is None:
                        raise
                    yield on_error(item, error)

        for item in items:
            pending[self.submit(fn, item, *args)] = item
            while len(pending) >= (max_in_flight or 2 * self.workers):
                yield from finished(self.wait_any(set(pending))[0])
        while pending:
            yield from finished(self.wait_any(set(pending))[0])

    def wait_any(self, futures: set[Any], timeout: float | None = None) -> tuple[set, set]:
        """Block until at least one future is done or ``timeout`` seconds pass; return
        (done, pending). On timeout ``done`` is empty, for both kinds."""
        if not futures:
            return set(), set()
        if self.kind == "dask":
            from distributed import wait as dask_wait

            try:
                with self._pool.as_current():
                    result = dask_wait(list(futures), timeout=timeout,
                                       return_when="FIRST_COMPLETED")
            except TimeoutError:
                return set(), set(futures)
            return set(result.done), set(result.not_done)
        done, pending = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    def worker_pids(self) -> list[int]:
        """Process ids of the workers (for memory figures and tests); Dask asks each worker."""
        if self.kind == "dask":
            return sorted(self._pool.run(os.getpid).values())
        return sorted(self._pool._processes)

    def close(self) -> None:
        if self.kind == "dask":
            self._pool.close()
            if self._cluster is not None:
                self._cluster.close()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _local_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return ProcessPoolExecutor(self._workers, mp_context=context, initializer=single_threaded)

    def _dask_client(self, scheduler: str | None) -> Any:
        from distributed import Client, LocalCluster

        if scheduler is None:
            self._cluster = LocalCluster(n_workers=self._workers, threads_per_worker=1,
                                         processes=True, dashboard_address=None)
            client = Client(self._cluster, set_as_default=False)
        else:
            is_file = "://" not in scheduler and (Path(scheduler).suffix == ".json"
                                                  or Path(scheduler).is_file())
            if is_file and not Path(scheduler).is_file():
                raise ValueError(f"{scheduler}: Dask scheduler file not found")
            try:
                client = (Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT_SECONDS,
                                 set_as_default=False) if is_file else
                          Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False))
            except (OSError, TimeoutError) as error:
                raise ValueError(f"cannot reach the Dask scheduler {scheduler} ({one_line(error)})"
                                 ) from error
        client.register_plugin(single_threaded_plugin(), name="cryostream-single-threaded")
        return client


def task_key(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """A deterministic Dask key: the function, its arguments and, when the first argument is an
    existing file, that file's size and modification time."""
    from dask.base import tokenize

    version: tuple[int, int] | None = None
    if args and isinstance(args[0], str | Path) and Path(args[0]).is_file():
        stat = Path(args[0]).stat()
        version = (stat.st_size, stat.st_mtime_ns)
    return f"{getattr(fn, '__name__', 'task')}-{tokenize(fn, args, version)}"


def single_threaded_plugin() -> Any:
    """A Dask worker plugin running :func:`single_threaded` on every worker, including workers
    that join or restart later (the nanny already sets OMP_NUM_THREADS=1; OpenCV needs telling).
    Defined here so importing this module does not import ``distributed``."""
    from distributed import WorkerPlugin

    class SingleThreaded(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            single_threaded()

    return SingleThreaded()
