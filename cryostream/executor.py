"""Where picking runs: a local process pool (default) or a Dask cluster, behind one interface.

Workers receive a file path and the configuration, read the micrograph themselves and return only
the picks (or the error), so large arrays never travel; writing stays with the caller.
"""

from __future__ import annotations

import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import PickerConfig
from .io import BadInputError, read_micrograph
from .picker import Picks, pick_micrograph, working_image


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
        return PickOutcome(path, None, str(error), time.perf_counter() - started)
    except Exception as error:  # a picker bug must not stop a batch; keep the reason
        summary = traceback.format_exception_only(type(error), error)[-1].strip()
        return PickOutcome(path, None, f"{path}: picking failed ({summary})",
                           time.perf_counter() - started)


def default_workers() -> int:
    """Cores minus one, at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


class Executor:
    """Runs ``fn(item, *args)`` for many items with at most ``max_in_flight`` pending at once."""

    def __init__(self, kind: str = "local", workers: int | None = None,
                 scheduler: str | None = None) -> None:
        self.kind = kind
        self.workers = workers or default_workers()
        if kind == "local":
            self._pool: Any = ProcessPoolExecutor(max_workers=self.workers)
        elif kind == "dask":
            from distributed import Client

            if scheduler is None:
                raise ValueError("--executor dask needs --scheduler (address or scheduler file)")
            self._pool = (Client(scheduler_file=scheduler) if Path(scheduler).is_file()
                          else Client(scheduler))
        else:
            raise ValueError(f"unknown executor {kind!r}; choose 'local' or 'dask'")

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start one task; returns a future with ``.result()`` and ``.done()``."""
        if self.kind == "dask":
            return self._pool.submit(fn, *args, pure=False)
        return self._pool.submit(fn, *args)

    def map_unordered(self, fn: Callable[..., Any], items: Iterable[Any], *args: Any,
                      max_in_flight: int | None = None) -> Iterator[Any]:
        """Yield ``fn(item, *args)`` results as they finish, keeping the queue bounded."""
        limit = max_in_flight or 2 * self.workers
        pending: set[Any] = set()
        for item in items:
            pending.add(self.submit(fn, item, *args))
            if len(pending) >= limit:
                done, pending = self.wait_any(pending)
                yield from (future.result() for future in done)
        while pending:
            done, pending = self.wait_any(pending)
            yield from (future.result() for future in done)

    def wait_any(self, futures: set[Any], timeout: float | None = None) -> tuple[set, set]:
        """Block until at least one future is done (or ``timeout``); return (done, pending)."""
        if self.kind == "dask":
            from distributed import wait as dask_wait

            result = dask_wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
            return set(result.done), set(result.not_done)
        done, pending = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    def close(self) -> None:
        if self.kind == "dask":
            self._pool.close()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
