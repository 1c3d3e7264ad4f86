"""Shims that run cryostream inside other software (RELION External job, CryoSPARC External job).

They are thin layers over the core: build a :class:`~cryostream.config.PickerConfig`, pick each
micrograph with :func:`~cryostream.executor.pick_file` on an :class:`~cryostream.executor.Executor`,
and write the host program's files. The core never imports this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from cryostream.config import PickerConfig, load_config, preset
from cryostream.executor import Executor, PickOutcome, lost_task, pick_file


class UsageError(ValueError):
    """A wrong or missing command-line parameter, with the reason."""


class StopRequested(Exception):
    """The host program asked the job to stop (e.g. RELION's abort button)."""


def picker_config(diameter_angstrom: float | None, preset_name: str = "default",
                  config_file: Path | None = None, threshold: float | None = None,
                  pixel_size_angstrom: float | None = None) -> PickerConfig:
    """The configuration a shim picks with: a TOML file or a preset, then the given overrides.

    The diameter (Å) is required unless the TOML file sets ``diameter_angstrom``."""
    overrides = {"diameter_angstrom": diameter_angstrom, "min_figure_of_merit": threshold,
                 "pixel_size_angstrom": pixel_size_angstrom}
    if config_file is not None:
        return load_config(config_file, **overrides)
    if diameter_angstrom is None:
        raise UsageError("give the particle diameter in Å (--diameter) or a --config file that "
                         "sets diameter_angstrom")
    return preset(preset_name, **overrides)


def with_pixel_size(config: PickerConfig, pixel_size_angstrom: float | None) -> PickerConfig:
    """``config`` using the host's pixel size (Å/px) for one micrograph, unless the configuration
    already fixes one (an explicit user choice wins over the host's metadata)."""
    if config.pixel_size_angstrom is not None or pixel_size_angstrom is None:
        return config
    return replace(config, pixel_size_angstrom=float(pixel_size_angstrom))


def pick_task(task: tuple[Path, PickerConfig]) -> PickOutcome:
    """Pick one (micrograph, configuration) pair on a worker."""
    return pick_file(*task)


def pick_each(tasks: Iterable[tuple[Path, PickerConfig]], workers: int,
              stop_requested: Callable[[], bool] = lambda: False) -> Iterator[PickOutcome]:
    """Pick every (micrograph, configuration) pair on a local process pool, yielding outcomes as
    they finish (a lost task becomes a failed outcome). ``stop_requested`` is checked before each
    micrograph is started, as RELION's own programs check between micrographs; when it returns
    True the unstarted work is cancelled and :class:`StopRequested` is raised."""

    def until_stopped() -> Iterator[tuple[Path, PickerConfig]]:
        for task in tasks:
            if stop_requested():
                raise StopRequested
            yield task

    with Executor("local", workers) as pool:
        yield from pool.map_unordered(pick_task, until_stopped(),
                                      on_error=lambda task, error: lost_task(task[0], error))
