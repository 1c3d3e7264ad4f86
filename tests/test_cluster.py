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


def _capsule_points() -> np.ndarray:
    """The pixels of two touching particles 24 px across, merged into one capsule-shaped region
    (rows 31-49, columns 40-80)."""
    rows, cols = np.mgrid[:80, :120]
    return np.column_stack(np.nonzero((np.abs(rows - 40) <= 9) & (cols >= 40) & (cols <= 80))
                           ).astype(float)


def _peaks_at(points: np.ndarray, centres: list[tuple[int, int]]) -> np.ndarray:
    """A response peaking at each of ``centres`` (a Gaussian of a fifth of 24 px)."""
    return sum(np.exp(-np.sum((points - centre) ** 2, axis=1) / (2 * 4.8 ** 2))
               for centre in centres)


@pytest.mark.parametrize(("weighted", "expected"), [(False, [(40, 60)]),
                                                    (True, [(40, 48), (40, 72)])])
def test_seeds_weighted_by_the_response_split_touching_particles(
        weighted: bool, expected: list[tuple[int, int]]) -> None:
    """The pixel count of a merged region peaks between the particles; their response peaks at
    their centres, so weighted seeds find both."""
    points = _capsule_points()
    weights = _peaks_at(points, [(40, 48), (40, 72)]) if weighted else None
    clusters = cluster_points(points, "kmeans", "auto", diameter_px=24, shape=(80, 120),
                              weights=weights)
    assert len(clusters) == len(expected)
    for centre in expected:
        assert np.min(np.hypot(*(clusters.centres - centre).T)) < 3


def test_a_few_very_strong_pixels_do_not_hide_a_faint_particle() -> None:
    image, centres = _blobs()
    points = points_from_image(image)
    weights = np.ones(len(points))
    weights[np.hypot(*(points - centres[0]).T) <= 1] = 1e4  # contamination-like spike
    clusters = cluster_points(points, "kmeans", "auto", diameter_px=12, shape=image.shape,
                              weights=weights)
    assert len(clusters) == len(centres)


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
