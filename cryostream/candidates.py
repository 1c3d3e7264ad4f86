"""One size's candidates: bin the micrograph by a whole factor, convert it to 8 bits, run the
filter pipeline, cluster the surviving pixels' coordinates, and keep the centres that pass the
edge, floor and distance rules; then, for the picks kept, move each onto its particle's centre.
Every length is in the original micrograph's pixels unless it says otherwise."""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .centring import centred_on_response
from .cluster import cluster_points, figure_of_merit, points_from_image
from .config import PickerConfig
from .convert import bin_blocks, bin_factor_for, to_uint8
from .diameter import has_template_step, template_step
from .filters import apply_pipeline
from .io import Micrograph
from .neighbours import suppress_close
from .threshold import adaptive_merit_threshold


class Candidates(NamedTuple):
    """One size's picks: centres (row, col, original pixels) and figures of merit, best first,
    with the filter response they were found on and the image the pipeline's learned template
    ran on (the micrograph in noise units, particles bright; the 8-bit one without a template),
    both binned by ``factor``, and the size (``diameter_px``, original pixels), which the last
    step centres them on."""

    centres: np.ndarray
    merit: np.ndarray
    response: np.ndarray
    factor: int
    diameter_px: float
    image: np.ndarray

    def subset(self, keep: np.ndarray) -> Candidates:
        """These candidates where ``keep`` (a mask or indices) says."""
        return self._replace(centres=self.centres[keep], merit=self.merit[keep])


def bin_factor(diameter_px: float, working_diameter_px: float, at_least: bool = False) -> int:
    """See :func:`bin_factor_for`; 1 when ``working_diameter_px`` is 0 (binning off)."""
    return (bin_factor_for(diameter_px, working_diameter_px, at_least)
            if working_diameter_px > 0 else 1)


def binned(points: np.ndarray, factor: int) -> np.ndarray:
    """(row, col) ``points`` in original pixels, in the pixels of the image binned by ``factor``
    (pixel centres kept aligned)."""
    return (points + 0.5) / factor - 0.5


def unbinned(points: np.ndarray, factor: int) -> np.ndarray:
    """(row, col) ``points`` in the pixels of an image binned by ``factor``, in original pixels."""
    return (points + 0.5) * factor - 0.5


def converted(micrograph: Micrograph, config: PickerConfig, factor: int) -> np.ndarray:
    """The micrograph binned by ``factor`` and stretched to 8 bits: the image the filters run on."""
    return to_uint8(bin_blocks(micrograph.data, factor), config.low_percentile,
                    config.high_percentile)


def pick_at_size(micrograph: Micrograph, config: PickerConfig, diameter_px: float,
                 edge_px: float, factor: int) -> Candidates:
    """Bin by ``factor``, convert, filter, cluster and clean for particles ``diameter_px``
    across, dropping picks within ``edge_px`` of the edge (both in original pixels)."""
    working_diameter = diameter_px / factor
    before = template_step(config.pipeline)[0] if has_template_step(config) else []
    image = apply_pipeline(converted(micrograph, config, factor), before, working_diameter)
    filtered = apply_pipeline(image, config.pipeline[len(before):], working_diameter)
    points = points_from_image(filtered)
    responses = np.abs(filtered[points[:, 0].astype(int), points[:, 1].astype(int)])
    clusters = cluster_points(points, config.cluster_method, config.n_clusters,
                              diameter_px=working_diameter, shape=image.shape, weights=responses)
    merit = figure_of_merit(responses, clusters, working_diameter)
    centres = unbinned(clusters.centres.reshape(-1, 2), factor)
    keep = clean(centres, merit, micrograph.shape, diameter_px, edge_px, config)
    return Candidates(centres[keep], merit[keep], filtered, factor, diameter_px, image)


def centred(shape: tuple[int, int], config: PickerConfig, edge_px: float,
            picks: Candidates) -> Candidates:
    """The ``picks`` moved onto their particles' centres on the filter response they were found on
    (:func:`~cryostream.centring.centred_on_response`), then dropped when that moved them within
    ``edge_px`` of the edge of a micrograph of ``shape`` (the particle lies there) or next to a
    better pick."""
    factor = picks.factor
    moved = centred_on_response(picks.response, binned(picks.centres, factor),
                                config.centring_radius_diameters * picks.diameter_px / factor)
    centres = unbinned(moved, factor)
    keep = clean(centres, picks.merit, shape, picks.diameter_px, edge_px,
                 replace(config, adaptive_threshold=False))
    return picks._replace(centres=centres).subset(keep)


def clean(centres: np.ndarray, merit: np.ndarray, shape: tuple[int, int], diameter_px: float,
          margin: float, config: PickerConfig) -> np.ndarray:
    """Indices of the picks that survive the edge (``margin``), threshold and minimum-distance
    rules, best figure of merit first (all lengths in the pixels of ``centres``)."""
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
