"""Where picking runs: a local process pool (default) or a Dask cluster, behind one interface.

Workers receive a file path and the configuration, read the micrograph themselves and return only
the picks (or the error), so large arrays never travel; writing stays with the caller. Picking is a
pure function of (file contents, configuration), so a task that Dask retries on another worker after
a worker died gives the same answer. Each worker process runs one task at a time with its numeric
libraries single-threaded: one core per worker, so N workers use N cores without oversubscription.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
from threadpoolctl import threadpool_limits

from .errors import UsageError, one_line

KINDS = ("local", "dask", "inline")
DASK_RETRIES = 2
CONNECT_TIMEOUT_SECONDS = 30
PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One worker per core: workers are single-threaded and the client only writes small files."""
    return os.cpu_count() or 1


def start_worker() -> None:
    """Set up a local pool worker: one core, stop signals left to the parent, death with it."""
    ignore_stop_signals()
    die_with_parent()
    single_threaded()


def ignore_stop_signals() -> None:
    """Ignore SIGINT and SIGTERM: Ctrl-C reaches the whole process group, and the parent finishes
    or abandons each micrograph itself (no KeyboardInterrupt tracebacks from workers)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (PR_SET_PDEATHSIG), so a SIGKILLed or
    OOM-killed daemon leaves no workers behind; exit at once if the parent is already gone."""
    if sys.platform != "linux":
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


SINGLE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded() -> None:
    """Limit OpenCV, OpenMP and BLAS to one thread in this process (a worker owns one core).

    threadpoolctl limits the libraries already loaded; the environment variables cover those
    loaded later (scikit-learn's OpenMP, imported only by the clustering methods that need it)."""
    os.environ.update(dict.fromkeys(SINGLE_THREAD_VARIABLES, "1"))
    cv2.setNumThreads(1)
    threadpool_limits(1)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the body with OpenCV and BLAS limited to one thread, as in a pool's worker, then
    restore them: an inline executor is one worker on one core, in the caller's process."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        cv2.setNumThreads(threads)


@dataclass(frozen=True)
class ExecutorChoice:
    """Where to pick, as the command line says it: ``local`` (a process pool), ``dask`` (a
    cluster at ``scheduler``, or a private LocalCluster) or ``inline``; ``workers`` None means
    one per core."""

    kind: str = "local"
    workers: int | None = None
    scheduler: str | None = None

    def open(self, task_count: int | None = None) -> Executor:
        """The executor; a local pool of one worker, or for one micrograph, runs inline instead
        (starting a worker process costs more than picking one micrograph)."""
        inline = self.kind == "local" and (self.workers == 1 or task_count == 1)
        return Executor("inline" if inline else self.kind, self.workers, self.scheduler)


class Executor:
    """Runs ``fn(item, *args)`` for many items on worker processes.

    ``kind="local"``: a process pool of ``workers`` processes on this machine (started by a fork
    server, so a parent that already used OpenMP cannot deadlock them; a pool whose process was
    killed is replaced on the next submit). Workers ignore SIGINT and SIGTERM (the parent decides
    when to stop) and die with their parent, however it dies. ``kind="dask"``: a
    ``dask.distributed`` cluster, given by ``scheduler`` (an address such as ``tcp://host:8786``
    or a scheduler file written by ``dask scheduler --scheduler-file``); without one, a private
    LocalCluster of ``workers`` single-threaded worker processes is started and closed with the
    executor. ``kind="inline"``: in this process, one task at a time on one thread, like a pool
    worker (no start-up cost: one worker picking a few micrographs is done before a pool has
    started).
    """

    def __init__(self, kind: str = "local", workers: int | None = None,
                 scheduler: str | None = None) -> None:
        if kind not in KINDS:
            raise UsageError(f"--executor must be one of {', '.join(KINDS)}, got {kind!r}")
        if scheduler is not None and kind != "dask":
            raise UsageError("--scheduler needs --executor dask")
        if workers is not None and workers < 1:
            raise UsageError(f"--workers must be at least 1, got {workers}")
        self.kind = kind
        self._workers = 1 if kind == "inline" else workers or default_workers()
        self._cluster: Any = None
        self._pool: Any = {"local": self._local_pool, "dask": lambda: self._dask_client(scheduler),
                           "inline": lambda: None}[kind]()

    @property
    def workers(self) -> int:
        """How many tasks can run at once: the pool size, or the Dask cluster's worker threads now
        (clusters grow and shrink), at least one."""
        if self.kind == "dask":
            return max(1, sum(self._pool.nthreads().values()))
        return self._workers

    @property
    def capacity(self) -> int:
        """How many tasks to keep submitted at once: one per local worker, so a stop request
        cancels everything not yet running; twice the threads on Dask, to hide its latency."""
        return 2 * self.workers if self.kind == "dask" else self.workers

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start one task; returns a future with ``.result()`` and ``.done()``. ``fn`` must be
        pure (the same arguments give the same answer), as :func:`pick_file` is.

        Dask tasks are keyed by their arguments and, when the first is a file, its size and
        modification time: the same unchanged file submitted twice is picked once, a rewritten one
        again. A failing Dask task is retried up to DASK_RETRIES times; a task whose worker dies is
        rescheduled by Dask itself (``distributed.scheduler.allowed-failures``)."""
        if self.kind == "dask":
            return self._pool.submit(fn, *args, key=task_key(fn, args), retries=DASK_RETRIES)
        if self.kind == "inline":
            future: Future = Future()
            with one_thread():
                future.set_result(fn(*args))
            return future
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
        return sorted(self._pool._processes) if self.kind == "local" else []

    def terminate(self) -> None:
        """Stop now: kill local workers mid-task (their micrographs stay recorded as not done)."""
        if self.kind == "local":
            processes = list(self._pool._processes.values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.kill()
        self.close()

    def close(self) -> None:
        if self._pool is None:
            return
        if self.kind == "dask":
            self._pool.close()
            if self._cluster is not None:
                self._cluster.close()
        elif self.kind == "local":
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _local_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([f"{__package__}.forkserver"])
        return ProcessPoolExecutor(self._workers, mp_context=context, initializer=start_worker)

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
                raise UsageError(f"{scheduler}: Dask scheduler file not found")
            try:
                client = (Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT_SECONDS,
                                 set_as_default=False) if is_file else
                          Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False))
            except (OSError, TimeoutError) as error:
                raise UsageError(f"cannot reach the Dask scheduler {scheduler} ({one_line(error)})"
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
