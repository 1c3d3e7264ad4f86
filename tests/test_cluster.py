import numpy as np
import pytest

from cryostream.cluster import METHODS, cluster_points, points_from_image


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
