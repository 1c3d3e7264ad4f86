import numpy as np
import pytest
from sklearn.cluster import KMeans

from cryostream.cluster import METHODS, cluster_points, points_from_image, seeded_kmeans_on_grid


def _blobs() -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((120, 120), np.uint8)
    centres = np.array([[20, 20], [20, 90], [80, 50], [100, 100]])
    yy, xx = np.mgrid[:120, :120]
    for row, col in centres:
        image[np.hypot(yy - row, xx - col) <= 6] = 255
    return image, centres


def test_points_are_coordinates_of_non_zero_pixels() -> None:
    image = np.zeros((4, 5))
    image[1, 3] = 7
    image[2, 0] = -1
    assert points_from_image(image).tolist() == [[1.0, 3.0], [2.0, 0.0]]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_the_blob_centres(method: str) -> None:
    image, centres = _blobs()
    points = points_from_image(image)
    clusters = cluster_points(points, method, "auto", diameter_px=12, shape=image.shape)
    assert len(clusters) == len(centres)
    for centre in centres:
        assert np.min(np.hypot(*(clusters.centres - centre).T)) < 1.5
    assert clusters.sizes.sum() <= len(points)


def test_fixed_cluster_count_is_honoured() -> None:
    image, _ = _blobs()
    clusters = cluster_points(points_from_image(image), "kmeans", 7, diameter_px=12)
    assert len(clusters) == 7


def test_no_points_gives_no_clusters() -> None:
    assert len(cluster_points(np.empty((0, 2)), "dbscan")) == 0


def test_seeded_kmeans_on_the_grid_matches_scikit_learn() -> None:
    """Touching particle-sized blobs seeded a few pixels off: the same clusters as scikit-learn's
    Lloyd iterations, up to pixels on a boundary."""
    rng = np.random.default_rng(0)
    image = np.zeros((300, 300), np.uint8)
    centres = np.array([(row, col) for row in range(20, 290, 22) for col in range(20, 290, 22)],
                       float) + rng.normal(scale=2.0, size=(169, 2))
    yy, xx = np.mgrid[:300, :300]
    for row, col in centres:
        image[np.hypot(yy - row, xx - col) <= 11] = 1
    points = points_from_image(image)
    seeds = centres + rng.normal(scale=3.0, size=centres.shape)
    labels, found = seeded_kmeans_on_grid(points, seeds, image.shape, iterations=2)
    reference = KMeans(len(seeds), init=seeds, n_init=1, max_iter=2, tol=0).fit(points)
    assert np.mean(labels == reference.predict(points)) > 0.97
    assert np.abs(found - reference.cluster_centers_).max() < 0.5
