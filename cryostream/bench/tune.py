"""Automatic tuning: a seeded random search around a configuration's numeric parameters, maximising
the pooled distance-paradigm F1 (one-to-one matches within 0.5 x diameter) on labelled micrographs.

The search space is derived from the configuration itself, so it follows whatever pipeline the
preset has:

- every numeric parameter of every pipeline step (nested pipelines included; lists such as a
  Laplacian kernel and true/false switches are left alone);
- the top-level parameters in :data:`TOP_LEVEL_PARAMETERS`, including ``diameter_angstrom``: the
  size the picker works at. Labels are often drawn at the particle's longest dimension or its box,
  larger than what the picker sees in crowded or low-contrast micrographs; matches are always
  counted within 0.5 x the starting (the user's) diameter, so the score keeps its meaning.

Each range is fixed around the starting value v: uniform in [(1 - SPAN) v, (1 + SPAN) v]; a zero
in [-SPAN, SPAN]; ``high_percentile`` by its distance to 100 (so 98 -> 97..99);
``min_figure_of_merit``, when unset, in [0, median figure of merit of the starting configuration's
picks]. Whole numbers stay whole.

Trial 0 is the starting configuration. Later trials run in rounds; each trial takes the best
configuration so far and redraws a random subset of its parameters (each with probability
CHANGE_PROBABILITY, at least one), so helpful changes are kept and combined, and ties keep the
earlier trial, so the result never scores below the start on the tuning micrographs. This plain
seeded random search needs no new dependency (Optuna's samplers would add one for a search of
~10 loosely coupled parameters and a few dozen trials) and is repeatable.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import PickerConfig
from ..evaluation import coordinates_xy
from ..io import BadInputError, read_micrograph
from ..metrics import Counts, score_distance
from ..picker import pick_micrograph
from ..session.executor import Executor
from .scoring import MATCH_RADIUS_DIAMETERS
from .sets import labelled_files

SPAN = 0.5
CHANGE_PROBABILITY = 0.3
ROUND_TRIALS = 4
TOP_LEVEL_PARAMETERS = ("diameter_angstrom", "working_diameter_px", "low_percentile",
                        "high_percentile", "min_distance_diameters", "min_figure_of_merit")
PERCENTILE_BOUNDS = (0.0, 100.0)

ParameterPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Parameter:
    """One searchable number: where it lives in the configuration, its start and sampling range."""

    path: ParameterPath
    start: float | None
    low: float
    high: float
    integer: bool = False

    @property
    def name(self) -> str:
        """A readable location, e.g. ``pipeline[3].radius_diameters``."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
        return text

    def sample(self, rng: np.random.Generator) -> float | int:
        value = float(rng.uniform(self.low, self.high))
        return int(round(value)) if self.integer else float(f"{value:.4g}")


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration: pooled counts, or the reason it could not be scored."""

    index: int
    config: PickerConfig
    counts: Counts | None
    error: str | None = None
    merit_median: float | None = None

    @property
    def f1(self) -> float:
        return self.counts.f1 if self.counts is not None else -1.0


@dataclass(frozen=True)
class TuneResult:
    """Every trial, the starting one first."""

    trials: list[Trial]
    parameters: list[Parameter]
    seconds: float

    @property
    def start(self) -> Trial:
        return self.trials[0]

    @property
    def best(self) -> Trial:
        return best_trial(self.trials)


def best_trial(trials: Sequence[Trial]) -> Trial:
    """The highest F1; ties go to the earlier trial (the start wins a tie)."""
    return max(trials, key=lambda trial: (trial.f1, -trial.index))


def _span(value: float) -> tuple[float, float]:
    if value == 0:
        return -SPAN, SPAN
    ends = (value * (1 - SPAN), value * (1 + SPAN))
    return min(ends), max(ends)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pipeline_parameters(steps: Sequence[dict[str, Any]], prefix: ParameterPath) -> Iterator[Parameter]:
    for index, step in enumerate(steps):
        if "pipeline" in step:
            yield from _pipeline_parameters(step["pipeline"], (*prefix, index, "pipeline"))
            continue
        for key, value in step.items():
            if _is_number(value):
                low, high = _span(float(value))
                yield Parameter((*prefix, index, key), float(value), low, high,
                                isinstance(value, int))


def search_space(config: PickerConfig, merit_scale: float | None = None) -> list[Parameter]:
    """The parameters the search varies, derived from ``config`` (see the module docstring).

    ``merit_scale`` bounds ``min_figure_of_merit`` when the configuration leaves it unset; without
    it that parameter is not searched."""
    parameters = list(_pipeline_parameters(config.pipeline, ("pipeline",)))
    for name in TOP_LEVEL_PARAMETERS:
        value = getattr(config, name)
        if name == "min_figure_of_merit" and value is None:
            if merit_scale:
                parameters.append(Parameter((name,), None, 0.0, float(merit_scale)))
            continue
        if name == "working_diameter_px" and value <= 0:
            continue  # 0 means "no binning", a switch rather than a size
        if name == "high_percentile":
            low, high = (100.0 - end for end in reversed(_span(100.0 - value)))
        else:
            low, high = _span(float(value))
        if name.endswith("_percentile"):
            low, high = max(low, PERCENTILE_BOUNDS[0]), min(high, PERCENTILE_BOUNDS[1])
        if high > low:
            parameters.append(Parameter((name,), float(value), low, high))
    return parameters


def with_values(config: PickerConfig, values: dict[ParameterPath, float | int]) -> PickerConfig:
    """A copy of ``config`` with the values at the given parameter paths replaced (validated)."""
    top: dict[str, Any] = {}
    pipeline = copy.deepcopy(config.pipeline)
    for path, value in values.items():
        if path[0] == "pipeline":
            target: Any = pipeline
            for part in path[1:-1]:
                target = target[part]
            target[path[-1]] = value
        else:
            top[str(path[0])] = value
    return replace(config, pipeline=pipeline, **top)


def sample_configs(base: PickerConfig, parameters: Sequence[Parameter], count: int,
                   rng: np.random.Generator) -> list[PickerConfig]:
    """``count`` valid variations of ``base``: each redraws a random subset of the parameters
    (each with probability CHANGE_PROBABILITY, at least one) in its range; invalid draws are
    drawn again."""
    configs: list[PickerConfig] = []
    for _ in range(100 * max(count, 1)):
        if len(configs) == count or not parameters:
            break
        chosen = rng.random(len(parameters)) < CHANGE_PROBABILITY
        chosen[rng.integers(len(parameters))] = True
        try:
            configs.append(with_values(base, {p.path: p.sample(rng) for p, pick in
                                              zip(parameters, chosen, strict=True) if pick}))
        except ValueError:
            continue
    return configs


def load_labelled(folder: str | Path) -> tuple[tuple[Path, ...], list[np.ndarray]]:
    """The micrographs of a labelled folder (images/, truth/) and their true (x, y) centres."""
    images, truth = labelled_files(folder)
    return images, [coordinates_xy(path) for path in truth]


def evaluate_config(config: PickerConfig, images: Sequence[Path], truth: Sequence[np.ndarray],
                    index: int = 0, match_diameter_angstrom: float | None = None,
                    pixel_size_angstrom: float | None = None) -> Trial:
    """Pick every micrograph with ``config`` and pool the distance-paradigm counts, matching within
    0.5 x ``match_diameter_angstrom`` (default: the configuration's diameter). Tuning keeps the
    user's diameter as the match radius while it varies the diameter the picker works at.
    ``pixel_size_angstrom`` (Å/px) replaces the micrographs' headers.

    Bad input raises :class:`BadInputError`; a configuration the picker cannot run becomes a
    trial with an error (it loses to every scored one)."""
    total, merits = Counts(0, 0, 0), []
    try:
        for path, xy in zip(images, truth, strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                micrograph = read_micrograph(path, pixel_size_angstrom)
            picks = pick_micrograph(micrograph, config)
            merits.append(picks.figure_of_merit)
            match_diameter_px = (picks.diameter_px if match_diameter_angstrom is None
                                 else match_diameter_angstrom / picks.pixel_size_angstrom)
            total = total + score_distance(np.column_stack([picks.x, picks.y]), xy,
                                           MATCH_RADIUS_DIAMETERS * match_diameter_px)
    except BadInputError:
        raise
    except (ValueError, cv2.error) as error:
        return Trial(index, config, None, f"{type(error).__name__}: {error}")
    merit = np.concatenate(merits) if merits else np.empty(0)
    return Trial(index, config, total, None, float(np.median(merit)) if len(merit) else None)


def tune(config: PickerConfig, folder: str | Path, trials: int = 30, seed: int = 0,
         workers: int | None = None, pixel_size_angstrom: float | None = None) -> TuneResult:
    """Score ``config``, then ``trials`` random variations, on the labelled ``folder``
    (``pixel_size_angstrom``, in Å/px, replaces the micrographs' headers).

    Trials run in rounds of at least ROUND_TRIALS (or one per worker); each round varies the best
    configuration found so far, so changes that help are kept and combined."""
    started = time.perf_counter()
    images, truth = load_labelled(folder)
    start = evaluate_config(config, images, truth, pixel_size_angstrom=pixel_size_angstrom)
    if start.counts is None:
        raise BadInputError(folder, f"the starting configuration cannot pick these micrographs "
                            f"({start.error})")
    parameters = search_space(config, start.merit_median)
    rng = np.random.default_rng(seed)
    done = [start]
    with Executor("local", workers) as pool:
        while len(done) <= trials:
            count = min(max(ROUND_TRIALS, pool.workers), trials + 1 - len(done))
            batch = sample_configs(best_trial(done).config, parameters, count, rng)
            if not batch:
                break
            futures = [pool.submit(evaluate_config, candidate, images, truth, len(done) + offset,
                                   config.diameter_angstrom, pixel_size_angstrom)
                       for offset, candidate in enumerate(batch)]
            done += [future.result() for future in futures]
    return TuneResult(done, parameters, time.perf_counter() - started)


def changed_values(result: TuneResult) -> list[tuple[str, Any, Any]]:
    """(parameter, start value, best value) for every searched parameter the best trial changed."""
    start, best = result.start.config.to_dict(), result.best.config.to_dict()
    changes = []
    for parameter in result.parameters:
        before, after = _lookup(start, parameter.path), _lookup(best, parameter.path)
        if before != after:
            changes.append((parameter.name, before, after))
    return changes


def _lookup(data: Any, path: ParameterPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError):
            return None
    return data
