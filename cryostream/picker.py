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
    """Per cluster: the summed filter response of its pixels over the area of one particle.

    A full, strongly responding particle scores high; a few stray pixels score low.
    """
    if len(clusters) == 0:
        return np.empty(0)
    values = np.abs(filtered[points[:, 0].astype(int), points[:, 1].astype(int)])
    member = clusters.labels >= 0
    totals = np.bincount(clusters.labels[member], weights=values[member],
                         minlength=len(clusters))
    return totals / (np.pi * (diameter_px / 2.0) ** 2)


def _clean(centres: np.ndarray, merit: np.ndarray, shape: tuple[int, int], diameter_px: float,
           config: PickerConfig) -> np.ndarray:
    """Indices of the picks that survive the edge, threshold and minimum-distance rules,
    best figure of merit first."""
    margin = config.edge_diameters * diameter_px
    inside = ((centres[:, 0] >= margin) & (centres[:, 0] <= shape[0] - 1 - margin)
              & (centres[:, 1] >= margin) & (centres[:, 1] <= shape[1] - 1 - margin))
    if config.min_figure_of_merit is not None:
        inside &= merit >= config.min_figure_of_merit
    candidates = np.flatnonzero(inside)
    candidates = candidates[np.argsort(-merit[candidates], kind="stable")]
    return candidates[suppress_close(centres[candidates],
                                     config.min_distance_diameters * diameter_px)]


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
