"""The per-micrograph figure-of-merit thresholds: where the picks' figures of merit split into a
background population and the particles (a two-component Gaussian mixture on their logarithms,
fitted by EM in NumPy), how far below the absolute floor a faint micrograph's picks are kept
(:func:`faint_floor`, :func:`decoy_floor`), and which picks score far above the particles
(:func:`above_the_particles`: contamination, carbon edges)."""

from __future__ import annotations

import numpy as np

from .convert import median_value
from .crowding import MIN_NEW_MERIT_RATIO

BIC_MARGIN = 10.0  # "very strong" evidence for two populations on Kass & Raftery's scale
MAX_BACKGROUND_RATIO = 0.75  # a background population scores well below the particles, not 10 % less
MIN_PARTICLE_WEIGHT = 0.5  # and is the minority: a small upper component is a tail of outliers
#                            (contamination, carbon edges: 3-7 % of candidates at 5-8 x the
#                            particles' merit), not the particles
# When the given size's picks are kept below the floor (see faint_floor):
MIN_FAINT_PICKS = 10  # at least this many above it
FAINT_FLOOR_FRACTION = 0.875  # kept down to 7/8 of the floor (3.5 sigma at 4),
MAX_BELOW_RATIO = 2.0  # when the candidates just below it are at most 2 x those just above, and
#                        those further down at most 2 x them (faint particles: 0.8-1.5, their mode
#                        below it on a low-dose micrograph; noise: 3-12, 6 pooled, at a floor of 4;
#                        at a template too small: 1.6, then 2.5), or when they reach 1 / 1.25
MAX_DEEPER_RATIO = 1.25  # of those as far below them (the particles' mode just below the floor)
DECOY_RATIO = 1.5  # or when those down to 7/8 of it outnumber 1.5 x the decoys there by
#                    MIN_FAINT_PICKS (see decoy_floor; faint crowded particles: 1.9-3.0 x the
#                    decoys, noise 0.7-0.9 x; 11 non-particles against 5 decoys are too few)
# Picks that score far above the micrograph's particles (see above_the_particles):
OUTLIER_GAP = 2.0  # the strongest picks, when they score at least 2 x the next one,
MAX_OUTLIER_FRACTION = 0.1  # and are at most 10 % of the picks,
MAX_OUTLIER_SHARE = 0.6  # or up to 60 % of them when at least MIN_FAINT_PICKS picks below the gap
PARTICLE_FLOOR_RATIO = 1.5  # score a median of 1.5 x the floor: particles, not noise (sparse
#                             micrographs with contamination and carbon edges: 11-50 % of the picks)
OUTLIER_MEDIAN_RATIO = 3.0  # and the picks left scoring at least 3 x their median, when the others
#                             do that too (a blob's picks fall off with no 2 x gap between them)


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


def outnumbers_decoys(merit: np.ndarray, decoy_merit: np.ndarray, level: float,
                      ratio: float = DECOY_RATIO) -> bool:
    """Whether the picks reaching ``level`` (``merit``) number at least ``ratio`` x the decoys
    (``decoy_merit``, picked on the negated template response) that reach it."""
    return bool(np.count_nonzero(merit >= level)
                >= ratio * np.count_nonzero(decoy_merit >= level))


def decoy_floor(merit: np.ndarray, decoy_merit: np.ndarray, floor: float) -> float:
    """The figure of merit the given size's picks need: ``FAINT_FLOOR_FRACTION`` x ``floor`` when at
    least ``MIN_FAINT_PICKS`` of the candidates (``merit``) reach the floor and those between the
    two outnumber ``DECOY_RATIO`` x the decoys there by ``MIN_FAINT_PICKS``, else ``floor``.
    Decoys (``decoy_merit``) are picked on the negated template response: noise responds both ways
    alike, particles only one way, so the decoys count the candidates noise alone would give.
    Faint crowded particles whose mode lies under the floor look like a noise tail in the
    candidates' counts alone (:func:`faint_floor` keeps the floor): a simulated crowded micrograph
    of tetramers in thick ice, 68 candidates between 3.5 and 4 (67 of them particles) against 23
    decoys, recall 0.15 -> 0.38 (precision 1.0 -> 0.97); a template too small on a sparse one, 52
    candidates (7 particles) against 75 decoys. Crowded particles' surrounds make decoys too
    (particles 1.9-3.0 x the decoys there), so this only lowers the floor where
    :func:`faint_floor` does not."""
    if np.count_nonzero(merit >= floor) < MIN_FAINT_PICKS:
        return floor
    lowered = FAINT_FLOOR_FRACTION * floor
    return lowered if _particles_between(merit, decoy_merit, lowered, floor) else floor


def _particles_between(merit: np.ndarray, decoy_merit: np.ndarray, low: float, high: float) -> bool:
    """Whether the candidates (``merit``) from ``low`` up to ``high`` outnumber ``DECOY_RATIO`` x
    the decoys there (``decoy_merit``) by ``MIN_FAINT_PICKS``: particles, not noise."""
    candidates = np.count_nonzero((merit >= low) & (merit < high))
    decoys = np.count_nonzero((decoy_merit >= low) & (decoy_merit < high))
    return bool(candidates >= DECOY_RATIO * decoys + MIN_FAINT_PICKS)


def faint_floor(merit: np.ndarray, floor: float) -> float:
    """The figure of merit the given size's picks need (``merit``: every candidate's): ``floor``,
    or less on a faint micrograph whose particles straddle it, down to ``MIN_NEW_MERIT_RATIO`` x
    the median of the picks above it (as :func:`~cryostream.crowding.crowded_floor` does) but not under
    ``FAINT_FLOOR_FRACTION`` x ``floor``. Only when there are at least ``MIN_FAINT_PICKS`` picks
    above it, and the candidates it would add are at most ``MAX_BELOW_RATIO`` x as many as those
    as far above it and those as far below them at most that many x them: a noise tail grows
    about 7 x per half sigma going down (at 4 sigma), while faint particles thin out, so noise
    alone leaves the floor where it is (a template too small for faint particles makes a noise
    tail that grows slowly across the floor and fast below it: 32, 52, then 129 candidates per
    half sigma on a simulated sparse micrograph given 0.75 x). Or when the candidates
    it would add (at least ``MIN_FAINT_PICKS``) outnumber those as far below them (by
    ``MAX_DEEPER_RATIO``): the particles' own mode lies just below the floor, where a noise tail
    would go on growing."""
    above = merit[merit >= floor]
    if len(above) < MIN_FAINT_PICKS:
        return floor
    lowered = float(np.clip(MIN_NEW_MERIT_RATIO * median_value(above), FAINT_FLOOR_FRACTION * floor,
                            floor))
    added = np.count_nonzero((merit >= lowered) & (merit < floor))
    deeper = np.count_nonzero((merit >= 2 * lowered - floor) & (merit < lowered))
    thinning = (added <= MAX_BELOW_RATIO * np.count_nonzero(above < 2 * floor - lowered)
                and deeper <= MAX_BELOW_RATIO * added)
    mode_near_floor = added >= MIN_FAINT_PICKS and deeper <= MAX_DEEPER_RATIO * added
    return lowered if thinning or mode_near_floor else floor


def deeper_floor(merit: np.ndarray, decoy_merit: np.ndarray, floor: float, kept_floor: float) -> float:
    """The figure of merit the given size's picks need once :func:`faint_floor` or
    :func:`decoy_floor` lowered the ``floor`` to ``kept_floor``: one more such step down, when
    the candidates (``merit``) between the two outnumber ``DECOY_RATIO`` x the decoys there
    (``decoy_merit``) by ``MIN_FAINT_PICKS`` (:func:`decoy_floor`'s test), so that the first step
    added particles, not noise. Faint crowded particles spread over more than one step below
    the floor: simulated tetramers at low defocus, 118 candidates between 3.5 and 4 (all
    particles) against 32 decoys, then 163 (162 particles) down to 3.06 (recall 0.44 -> 0.71);
    where the first step added noise, 12-54 candidates against 16-75 decoys (0-16 of them
    particles), the floor stays. Not a third step: taken whenever the faint floor allowed, it
    lowered the mean interior F1 of 136 sets at 1 x (0.9551 with two steps, 0.9544 with
    three)."""
    if kept_floor >= floor or not _particles_between(merit, decoy_merit, kept_floor, floor):
        return kept_floor
    lowered = faint_floor(merit, kept_floor)
    return lowered if lowered < kept_floor else decoy_floor(merit, decoy_merit, kept_floor)


def above_the_particles(merit: np.ndarray, floor: float | None = None) -> np.ndarray:
    """Which picks (``merit``: their figures of merit) score far above the micrograph's
    particles: the strongest ones, when the weakest of them scores at least ``OUTLIER_GAP`` x the
    next pick (at the widest such gap), and they are at most ``MAX_OUTLIER_FRACTION`` of the
    picks, or at most ``MAX_OUTLIER_SHARE`` when at least ``MIN_FAINT_PICKS`` picks below the gap
    score a median of ``PARTICLE_FLOOR_RATIO`` x the ``floor`` (so they are particles: strong
    particles above a noise tail are not dropped). Contamination and carbon edges are darker than
    any particle and match its template better; particles' figures of merit run on without such
    a gap (the first 8 micrographs of 44 sets: 204 picks dropped, 195 of them not particles; none
    on the 4 real sets). On a sparse micrograph they can be more than a tenth of the picks: the
    larger share drops 150 more non-particles and one particle on 60 sets at 3 scales. Then the
    picks left that score ``OUTLIER_MEDIAN_RATIO`` x their median or more, when the others score a
    median of ``PARTICLE_FLOOR_RATIO`` x the ``floor``: on a sparse micrograph a contamination
    blob's picks can be too many for a share and leave too few below their gap (6 of 15 picks at
    33-47, then the particles' 4-12), or fall off without one (36.6, 35.8, 17.5, then 12.7 and
    down)."""
    dropped = np.zeros(len(merit), bool)
    order = np.argsort(-merit, kind="stable")
    ranked = merit[order]
    for share, below_the_gap in ((MAX_OUTLIER_FRACTION, False), (MAX_OUTLIER_SHARE, True)):
        most = int(share * len(merit))
        if most == 0 or (below_the_gap and floor is None):
            continue
        gaps = np.divide(ranked[:most], ranked[1:most + 1], out=np.zeros(most),
                         where=ranked[1:most + 1] > 0)
        count = int(np.argmax(gaps)) + 1
        rest = ranked[count:]
        if gaps[count - 1] >= OUTLIER_GAP and (not below_the_gap or (
                len(rest) >= MIN_FAINT_PICKS
                and median_value(rest) >= PARTICLE_FLOOR_RATIO * (floor or 0.0))):
            dropped[order[:count]] = True
            break
    kept = ~dropped
    if floor is None or not kept.any():
        return dropped
    far = kept & (merit >= OUTLIER_MEDIAN_RATIO * median_value(merit[kept]))
    if far.any() and median_value(merit[kept & ~far]) >= PARTICLE_FLOOR_RATIO * floor:
        dropped |= far
    return dropped
