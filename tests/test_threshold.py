import numpy as np
import pytest

from cryostream.threshold import adaptive_merit_threshold


def test_adaptive_threshold_separates_two_populations() -> None:
    rng = np.random.default_rng(0)
    merit = np.concatenate([rng.lognormal(0.0, 0.2, 100), rng.lognormal(1.5, 0.2, 200)])
    threshold = adaptive_merit_threshold(merit)
    assert np.exp(0.4) < threshold < np.exp(1.1)
    assert adaptive_merit_threshold(merit[:5]) == 0.0


def _lognormals(seed: int, *populations: tuple[float, float, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.lognormal(np.log(median), spread, count)
                           for median, spread, count in populations])


@pytest.mark.parametrize("merit", [
    # contamination and carbon edges can outscore every particle: a small upper component is
    # that tail, and cutting below it would drop the whole micrograph
    _lognormals(4, (7.0, 0.2, 300), (50.0, 0.2, 10)),
    # a crowded micrograph's single population
    _lognormals(1, (np.exp(3.0), 0.06, 350)),
    # two close components of one skewed population
    _lognormals(2, (40.0, 0.05, 120), (48.0, 0.04, 230)),
], ids=["strong outliers", "one population", "two close components"])
def test_adaptive_threshold_keeps_one_population_whole(merit: np.ndarray) -> None:
    assert adaptive_merit_threshold(merit) == 0.0
