"""Clustering the coordinates of the pixels that survived filtering into particles.

Following the seed report, the features are the (row, column) coordinates of non-zero pixels, never
their intensities. Every method returns one centre per cluster; DBSCAN-style noise is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .convert import percentiles
from .peaks import disc_maxima, nonzero_pixels

METHODS = ("kmeans", "gmm", "dbscan", "meanshift", "hdbscan")
AUTO = "auto"
SEEDED_ITERATIONS = 1  # density-peak seeds start next to the answer; one Lloyd step suffices
SEED_BLUR_DIAMETERS = 1 / 4.5  # the density is blurred by this sigma before its peaks are found
#                                (1/4 merges more touching hollow shells: sim-shell F1 0.890 at
#                                1/4, 0.899 at 1/4.5, weights without the square root; 1/5.5
#                                splits apoferritin's shells: precision 0.96 -> 0.92)
WEIGHT_CLIP_PERCENTILE = 90.0  # weights above this percentile count as this percentile, and
#                                each counts its square root, so a few very strong pixels
#                                (contamination, carbon edges) neither outweigh whole particles
#                                nor raise the peaks' floor above faint ones (weights as they are:
#                                a sparse simulated set F1 0.757 -> 0.720; square roots: 0.756)


@dataclass(frozen=True)
class Clusters:
    """Cluster centres (row, col) in working-image pixels, their member counts and point labels."""

    centres: np.ndarray
    sizes: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.centres)


def points_from_image(image: np.ndarray) -> np.ndarray:
    """(row, col) coordinates of every non-zero pixel, as float64 points of shape (N, 2)."""
    return np.column_stack(nonzero_pixels(np.asarray(image) != 0)).astype(np.float64)


def estimate_cluster_count(points: np.ndarray, shape: tuple[int, int], diameter_px: float,
                           weights: np.ndarray | None = None) -> np.ndarray:
    """Seeds for an automatic cluster count: peaks of the point density, one diameter apart at most.

    The points are rasterised (each counting the square root of its weight clipped at
    ``WEIGHT_CLIP_PERCENTILE``, or 1), blurred with a Gaussian of ``SEED_BLUR_DIAMETERS`` and the
    local maxima within half a diameter are kept; their number is the cluster count and their
    positions seed the clustering (better behaved than the seed report's BIC knee, and it costs
    one blur). Weighted by the filter response, the peaks are where a matched filter peaks, at
    the particles' centres, also where two touching particles' pixels merge into one region whose
    mere count peaks between them.
    """
    if len(points) == 0:
        return np.empty((0, 2))
    flat_index = points[:, 0].astype(int) * shape[1] + points[:, 1].astype(int)
    if weights is not None:
        weights = np.sqrt(np.minimum(weights, percentiles(weights, [WEIGHT_CLIP_PERCENTILE])[0]))
    density: np.ndarray = np.bincount(flat_index, weights,
                                      minlength=shape[0] * shape[1]).reshape(shape)
    density = density.astype(np.float32)
    density = cv2.GaussianBlur(density, (0, 0),
                               sigmaX=max(0.5, SEED_BLUR_DIAMETERS * diameter_px))
    peaks = disc_maxima(density, max(1, int(round(diameter_px / 2.0))), 0.05 * float(density.max()))
    return np.column_stack(nonzero_pixels(peaks)).astype(np.float64)


def cluster_points(points: np.ndarray, method: str = "kmeans", n_clusters: int | str = AUTO,
                   diameter_px: float = 20.0, shape: tuple[int, int] | None = None,
                   random_state: int = 0, weights: np.ndarray | None = None) -> Clusters:
    """Cluster ``points`` (N, 2) with ``method``; ``n_clusters`` is a number or ``"auto"``.

    ``diameter_px`` (particle diameter in working-image pixels) sets the scale of the density-based
    methods (DBSCAN neighbourhood, MeanShift bandwidth, HDBSCAN minimum cluster size) and of the
    automatic cluster count. ``shape`` (image rows, cols) is needed for ``"auto"``, whose seeds
    weigh each point by ``weights`` (e.g. the filter response there) when given.
    """
    # scikit-learn takes seconds to import; only the methods that need it load it, so the
    # default (seeded k-means on the pixel grid) and the commands that never cluster start quickly.
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")
    if len(points) == 0:
        return _empty(0)
    if method in ("kmeans", "gmm"):
        count, init = _cluster_count(points, n_clusters, diameter_px, shape, weights)
        if count == 0:
            return _empty(len(points))
        if method == "kmeans" and init is not None and shape is not None:  # seeds need the shape
            labels, centres = seeded_kmeans_on_grid(points, init, shape, SEEDED_ITERATIONS)
        elif method == "kmeans":
            from sklearn.cluster import KMeans

            model = KMeans(n_clusters=count, n_init=1, random_state=random_state).fit(points)
            labels, centres = model.labels_, model.cluster_centers_
        else:
            from sklearn.mixture import GaussianMixture

            model = GaussianMixture(n_components=count, means_init=init, max_iter=50,
                                    covariance_type="spherical", random_state=random_state)
            labels = model.fit_predict(points)
            centres = model.means_
        return _summarise(labels, centres)
    if method == "dbscan":
        from sklearn.cluster import DBSCAN

        model = DBSCAN(eps=max(1.5, diameter_px / 8.0), min_samples=4).fit(points)
        labels = model.labels_
        core = np.zeros(len(points), bool)
        core[model.core_sample_indices_] = True
        return _summarise(labels, _label_means(points[core], labels[core], labels.max() + 1))
    if method == "meanshift":
        from sklearn.cluster import MeanShift

        model = MeanShift(bandwidth=diameter_px / 2.0, bin_seeding=True, cluster_all=False)
        labels = model.fit_predict(points)
        return _summarise(labels, model.cluster_centers_)
    from sklearn.cluster import HDBSCAN

    model = HDBSCAN(min_cluster_size=max(5, int(diameter_px ** 2 / 16)), store_centers="centroid",
                    copy=True)
    labels = model.fit_predict(points)
    return _summarise(labels, model.centroids_)


def seeded_kmeans_on_grid(points: np.ndarray, seeds: np.ndarray, shape: tuple[int, int],
                          iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means (Lloyd's algorithm) from ``seeds`` for points on the pixel grid of an image of
    ``shape``: labels and centres.

    The assignment step labels every pixel with its nearest centre in one labelled distance
    transform (OpenCV), so its cost is the image's size whatever the number of clusters, where
    scikit-learn's K-means costs points x clusters (5x slower on a 4k micrograph).
    Each of the ``iterations`` (at least one) assigns the points to their nearest centre, then
    moves every centre to its points' mean; the labels returned are the last assignment's, whose
    means the centres are (one transform per iteration, none more for a final re-assignment,
    which would move few pixels). Centres are rounded to the nearest pixel for the assignment
    only; a cluster that loses every point keeps its centre and ends up empty."""
    rows, columns = points[:, 0].astype(int), points[:, 1].astype(int)
    centres = np.array(seeds, dtype=np.float64)
    labels = np.empty(0, int)
    for _ in range(iterations):
        labels = _nearest_centre_labels(centres, shape, rows, columns)
        counts = np.bincount(labels, minlength=len(centres))
        filled = counts > 0
        for axis in range(2):
            sums = np.bincount(labels, points[:, axis], minlength=len(centres))
            centres[filled, axis] = sums[filled] / counts[filled]
    return labels, centres


def _nearest_centre_labels(centres: np.ndarray, shape: tuple[int, int], rows: np.ndarray,
                           columns: np.ndarray) -> np.ndarray:
    """The index of the nearest centre to each pixel (``rows``, ``columns``) of an image of
    ``shape``, from one labelled distance transform of the image (DIST_L2 with a 5x5 mask)."""
    centre_rows = np.clip(np.rint(centres[:, 0]).astype(int), 0, shape[0] - 1)
    centre_columns = np.clip(np.rint(centres[:, 1]).astype(int), 0, shape[1] - 1)
    marker = np.ones(shape, np.uint8)
    marker[centre_rows, centre_columns] = 0
    _, zero_pixel_label = cv2.distanceTransformWithLabels(marker, cv2.DIST_L2, cv2.DIST_MASK_5,
                                                          labelType=cv2.DIST_LABEL_PIXEL)
    # OpenCV numbers the zero pixels 1, 2, ... in raster order, the order np.unique sorts them in
    _, first_centre = np.unique(centre_rows * shape[1] + centre_columns, return_index=True)
    return first_centre[zero_pixel_label[rows, columns] - 1]


def _cluster_count(points: np.ndarray, n_clusters: int | str, diameter_px: float,
                   shape: tuple[int, int] | None,
                   weights: np.ndarray | None) -> tuple[int, np.ndarray | None]:
    """The number of clusters and, for an automatic count, the seed centres."""
    if n_clusters == AUTO:
        if shape is None:
            raise ValueError("an automatic cluster count needs the image shape")
        seeds = estimate_cluster_count(points, shape, diameter_px, weights)
        return len(seeds), seeds
    count = int(n_clusters)
    if count < 1:
        raise ValueError(f"n_clusters must be a positive number or 'auto', got {n_clusters!r}")
    return min(count, len(np.unique(points, axis=0))), None


def _label_means(points: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    keep = labels >= 0
    sums = np.zeros((count, 2))
    np.add.at(sums, labels[keep], points[keep])
    totals = np.maximum(np.bincount(labels[keep], minlength=count), 1)[:, None]
    return sums / totals


def _summarise(labels: np.ndarray, centres: np.ndarray) -> Clusters:
    labels = np.asarray(labels)
    count = len(centres)
    sizes = np.bincount(labels[labels >= 0], minlength=count)[:count]
    occupied = sizes > 0
    remap = np.full(count, -1)
    remap[occupied] = np.arange(int(occupied.sum()))
    new_labels = np.where(labels >= 0, remap[np.clip(labels, 0, None)], -1)
    return Clusters(centres=np.asarray(centres)[occupied], sizes=sizes[occupied], labels=new_labels)


def _empty(n_points: int) -> Clusters:
    return Clusters(centres=np.empty((0, 2)), sizes=np.empty(0, int),
                    labels=np.full(n_points, -1))


def figure_of_merit(values: np.ndarray, clusters: Clusters, diameter_px: float) -> np.ndarray:
    """Per cluster: the strongest filter response ``values`` (one per clustered pixel, in the
    units of the last filter, e.g. noise sigmas after a normalise step) among its pixels, weighted
    by how much of a particle's area the cluster fills (capped at 1), so a full, strongly
    responding particle scores high and a few stray pixels score low."""
    if len(clusters) == 0:
        return np.empty(0)
    member = clusters.labels >= 0
    peaks = np.zeros(len(clusters), values.dtype)  # the values' type: ufunc.at's fast path
    np.maximum.at(peaks, clusters.labels[member], values[member])
    fill = np.minimum(clusters.sizes / (np.pi * (diameter_px / 4.0) ** 2), 1.0)
    return peaks * fill
