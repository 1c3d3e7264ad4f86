"""The filter-and-cluster picker: one pure function from a micrograph and a configuration to picks.

bin to the working pixel size -> 8-bit -> filter pipeline -> coordinates of surviving pixels ->
cluster -> centres -> drop edge picks, merge close picks, threshold the figure of merit -> Picks
in the original micrograph's pixel frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from .cluster import Clusters, cluster_points, points_from_image
from .config import PickerConfig
from .convert import bin_factor_for, bin_image, to_uint8
from .filters import apply_pipeline
from .io import BadInputError, Micrograph

BIC_MARGIN = 10.0  # "very strong" evidence for two populations on Kass & Raftery's scale
MAX_BACKGROUND_RATIO = 0.75  # a background population scores well below the particles, not 10 % less


@dataclass(frozen=True)
class Picks:
    """Particle centres in the original micrograph's pixels (x = column, y = row)."""

    x: np.ndarray
    y: np.ndarray
    figure_of_merit: np.ndarray
    diameter_px: float
    pixel_size_angstrom: float
    micrograph_shape: tuple[int, int]
    micrograph: Path

    def __len__(self) -> int:
        return len(self.x)


def resolve_pixel_size(micrograph: Micrograph, config: PickerConfig) -> float:
    """The pixel size in Å: the configuration's override, else the header's."""
    pixel_size = config.pixel_size_angstrom or micrograph.pixel_size_angstrom
    if not pixel_size:
        raise BadInputError(micrograph.path, "no pixel size in the header (or it is 0); pass "
                            "--pixel-size in Å/px, since the diameter is given in Å")
    return float(pixel_size)


def working_image(micrograph: Micrograph, config: PickerConfig) -> tuple[np.ndarray, float]:
    """The binned 8-bit image the filters run on, and the binning factor used."""
    diameter_px = config.diameter_angstrom / resolve_pixel_size(micrograph, config)
    factor = (bin_factor_for(diameter_px, config.working_diameter_px)
              if config.working_diameter_px > 0 else 1.0)
    binned = bin_image(micrograph.data, factor)
    return to_uint8(binned, config.low_percentile, config.high_percentile), factor


def pick_micrograph(micrograph: Micrograph, config: PickerConfig) -> Picks:
    """Pick particles in one micrograph (pure: no files, no global state)."""
    pixel_size = resolve_pixel_size(micrograph, config)
    diameter_px = config.diameter_angstrom / pixel_size
    image, _ = working_image(micrograph, config)
    scale = np.array(micrograph.shape, float) / np.array(image.shape, float)
    working_diameter = diameter_px / float(scale.mean())
    filtered = apply_pipeline(image, config.pipeline, working_diameter)
    points = points_from_image(filtered)
    clusters = cluster_points(points, config.cluster_method, config.n_clusters,
                              diameter_px=working_diameter, shape=image.shape)
    merit = figure_of_merit(filtered, points, clusters, working_diameter)
    keep = _clean(clusters.centres, merit, image.shape, working_diameter, config)
    centres = (clusters.centres[keep] + 0.5) * scale - 0.5
    return Picks(x=centres[:, 1], y=centres[:, 0], figure_of_merit=merit[keep],
                 diameter_px=diameter_px, pixel_size_angstrom=pixel_size,
                 micrograph_shape=micrograph.shape, micrograph=micrograph.path)


def figure_of_merit(filtered: np.ndarray, points: np.ndarray, clusters: Clusters,
                    diameter_px: float) -> np.ndarray:
    """Per cluster: the strongest filter response among its pixels (in the units of the last
    filter, e.g. noise sigmas after a normalise step), weighted by how much of a particle's area
    the cluster fills (capped at 1), so a full, strongly responding particle scores high and a few
    stray pixels score low."""
    if len(clusters) == 0:
        return np.empty(0)
    values = np.abs(filtered[points[:, 0].astype(int), points[:, 1].astype(int)])
    member = clusters.labels >= 0
    peaks = np.zeros(len(clusters))
    np.maximum.at(peaks, clusters.labels[member], values[member])
    fill = np.minimum(clusters.sizes / (np.pi * (diameter_px / 4.0) ** 2), 1.0)
    return peaks * fill


def _clean(centres: np.ndarray, merit: np.ndarray, shape: tuple[int, int], diameter_px: float,
           config: PickerConfig) -> np.ndarray:
    """Indices of the picks that survive the edge, threshold and minimum-distance rules,
    best figure of merit first."""
    margin = config.edge_diameters * diameter_px
    inside = ((centres[:, 0] >= margin) & (centres[:, 0] <= shape[0] - 1 - margin)
              & (centres[:, 1] >= margin) & (centres[:, 1] <= shape[1] - 1 - margin))
    threshold = adaptive_merit_threshold(merit[inside]) if config.adaptive_threshold else 0.0
    if config.min_figure_of_merit is not None:
        threshold = max(threshold, config.min_figure_of_merit)
    inside &= merit >= threshold
    candidates = np.flatnonzero(inside)
    candidates = candidates[np.argsort(-merit[candidates], kind="stable")]
    return candidates[suppress_close(centres[candidates],
                                     config.min_distance_diameters * diameter_px)]


def adaptive_merit_threshold(merit: np.ndarray, min_candidates: int = 12) -> float:
    """The figure of merit separating particles from background candidates in one micrograph.

    A two-component Gaussian mixture (EM) is fitted to log figures of merit; the threshold is where
    the upper (particle) component becomes the more probable one. Figures of merit are ratios, so
    their logarithm makes the two populations close to Gaussian. Nothing is dropped when the
    candidates are too few or form one population (the mixture does not beat a single Gaussian by
    the Bayesian information criterion), or when the lower component's typical figure of merit is
    above ``MAX_BACKGROUND_RATIO`` of the upper one's (a skewed spread of one population, as on a
    clean high-contrast micrograph): then they are all particles, or all background, and the
    absolute floor decides.
    """
    from sklearn.mixture import GaussianMixture  # slow to import; see cluster.cluster_points

    positive = merit[merit > 0]
    if len(positive) < min_candidates:
        return 0.0
    logs = np.log(positive)[:, None]
    single = GaussianMixture(1).fit(logs)
    mixture = GaussianMixture(2, random_state=0).fit(logs)
    means = mixture.means_[:, 0]
    if (mixture.bic(logs) > single.bic(logs) - BIC_MARGIN
            or np.exp(means.min() - means.max()) > MAX_BACKGROUND_RATIO):
        return 0.0
    upper = int(np.argmax(means))
    grid = np.linspace(logs.min(), logs.max(), 256)[:, None]
    above = mixture.predict_proba(grid)[:, upper] > 0.5
    return float(np.exp(grid[np.argmax(above), 0])) if above.any() else 0.0


def suppress_close(points: np.ndarray, min_distance: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of ``points`` (sorted best first) kept so that no
    two kept points are closer than ``min_distance``."""
    if len(points) == 0 or min_distance <= 0:
        return np.arange(len(points))
    neighbours = cKDTree(points).query_ball_point(points, r=min_distance)
    suppressed = np.zeros(len(points), bool)
    kept = []
    for index, close in enumerate(neighbours):
        if suppressed[index]:
            continue
        kept.append(index)
        suppressed[close] = True
    return np.asarray(kept, dtype=int)
