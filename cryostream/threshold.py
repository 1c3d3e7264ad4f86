"""The per-micrograph figure-of-merit threshold: where the picks' figures of merit split into a
background population and the particles (a two-component Gaussian mixture on their logarithms,
fitted by EM in NumPy)."""

from __future__ import annotations

import numpy as np

BIC_MARGIN = 10.0  # "very strong" evidence for two populations on Kass & Raftery's scale
MAX_BACKGROUND_RATIO = 0.75  # a background population scores well below the particles, not 10 % less
MIN_PARTICLE_WEIGHT = 0.5  # and is the minority: a small upper component is a tail of outliers
#                            (contamination, carbon edges: 3-7 % of candidates at 5-8 x the
#                            particles' merit), not the particles


def adaptive_merit_threshold(merit: np.ndarray, min_candidates: int = 12) -> float:
    """The figure of merit separating particles from background candidates in one micrograph.

    A two-component Gaussian mixture (EM) is fitted to log figures of merit; the threshold is where
    the upper (particle) component becomes the more probable one. Figures of merit are ratios, so
    their logarithm makes the two populations close to Gaussian. Nothing is dropped when the
    candidates are too few or form one population (the mixture does not beat a single Gaussian by
    the Bayesian information criterion), or when the lower component's typical figure of merit is
    above ``MAX_BACKGROUND_RATIO`` of the upper one's (a skewed spread of one population, as on a
    clean high-contrast micrograph), or when the upper component holds less than
    ``MIN_PARTICLE_WEIGHT`` of the candidates (a few strong outliers such as contamination above
    the particles, or the brighter half of one population spread by defocus or ice thickness):
    then they are all particles, or all background, and the absolute floor decides."""
    positive = merit[merit > 0]
    if len(positive) < min_candidates:
        return 0.0
    logs = np.log(positive)
    single = _fit_gaussians(logs, np.zeros(len(logs), int), 1)
    weights, means, variances = _fit_gaussians(logs, _two_means_labels(logs), 2)
    upper = int(np.argmax(means))
    if (_bic(logs, weights, means, variances) > _bic(logs, *single) - BIC_MARGIN
            or np.exp(means.min() - means.max()) > MAX_BACKGROUND_RATIO
            or weights[upper] < MIN_PARTICLE_WEIGHT):
        return 0.0
    grid = np.linspace(logs.min(), logs.max(), 256)
    _, responsibilities = _log_likelihoods(grid, weights, means, variances)
    above = responsibilities[:, upper] > 0.5
    return float(np.exp(grid[np.argmax(above)])) if above.any() else 0.0


def _two_means_labels(values: np.ndarray, tolerance: float = 1e-4,
                      max_iterations: int = 300) -> np.ndarray:
    """Labels (0 or 1) of K-means with two clusters on 1-D ``values``, as scikit-learn's
    KMeans(2, n_init=1) seeded like GaussianMixture(random_state=0) initialises its components:
    k-means++ seeding (two local trials) from the same random stream, then Lloyd's iterations
    until the labels stop changing or the centres move less than ``tolerance`` x the variance."""
    random = np.random.RandomState(0)
    centred = values - values.mean()
    first = random.choice(len(centred), p=np.ones(len(centred)) / len(centred))
    closest = (centred - centred[first]) ** 2
    trials = np.minimum(np.searchsorted(np.cumsum(closest), random.uniform(size=2) * closest.sum()),
                        len(centred) - 1)
    spread = np.minimum(closest, (centred[trials, None] - centred) ** 2).sum(axis=1)
    centres = centred[[first, trials[np.argmin(spread)]]]
    labels = np.full(len(centred), -1)
    small_shift = tolerance * float(np.var(centred))
    for _ in range(max_iterations):
        previous, labels = labels, np.argmin((centred[:, None] - centres) ** 2, axis=1)
        members = [labels == k for k in range(2)]
        moved = np.array([centred[member].mean() if member.any() else centres[k]
                          for k, member in enumerate(members)])
        shift, centres = float(((moved - centres) ** 2).sum()), moved
        if np.array_equal(labels, previous):
            return labels
        if shift <= small_shift:
            break
    return np.argmin((centred[:, None] - centres) ** 2, axis=1)


def _fit_gaussians(values: np.ndarray, labels: np.ndarray, count: int, tolerance: float = 1e-3,
                   max_iterations: int = 100,
                   regularisation: float = 1e-6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1-D Gaussian mixture of ``count`` components fitted by EM from ``labels`` until the mean
    log-likelihood gains less than ``tolerance``: weights, means and variances (scikit-learn's
    GaussianMixture with its defaults, without its import cost)."""
    responsibilities = np.eye(count)[labels]
    parameters = _mixture_parameters(values, responsibilities, regularisation)
    bound = -np.inf
    for _ in range(max_iterations):
        log_likelihood, responsibilities = _log_likelihoods(values, *parameters)
        parameters = _mixture_parameters(values, responsibilities, regularisation)
        previous, bound = bound, float(np.mean(log_likelihood))
        if abs(bound - previous) < tolerance:
            break
    return parameters


def _mixture_parameters(values: np.ndarray, responsibilities: np.ndarray,
                        regularisation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The M step: component weights, means and (regularised) variances."""
    totals = responsibilities.sum(axis=0) + 10 * np.finfo(float).eps
    means = values @ responsibilities / totals
    variances = ((values[:, None] - means) ** 2 * responsibilities).sum(axis=0) / totals
    return totals / totals.sum(), means, variances + regularisation


def _log_likelihoods(values: np.ndarray, weights: np.ndarray, means: np.ndarray,
                     variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The E step: each value's log-likelihood under the mixture and its responsibilities."""
    weighted = (np.log(weights) - 0.5 * np.log(2 * np.pi * variances)
                - 0.5 * (values[:, None] - means) ** 2 / variances)
    top = weighted.max(axis=1, keepdims=True)
    log_likelihood = top[:, 0] + np.log(np.exp(weighted - top).sum(axis=1))
    return log_likelihood, np.exp(weighted - log_likelihood[:, None])


def _bic(values: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> float:
    """The Bayesian information criterion of a 1-D mixture (3 parameters per component, less one
    for the weights summing to 1)."""
    log_likelihood, _ = _log_likelihoods(values, weights, means, variances)
    return float(-2 * log_likelihood.sum() + (3 * len(means) - 1) * np.log(len(values)))
