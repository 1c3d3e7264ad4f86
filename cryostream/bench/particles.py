"""Simulated particles: blobby 3-D density models, their projections in random orientations, and
where they lie on a micrograph.

A model is a cloud of 3-D Gaussian blobs (positions in Å around the centre of mass, one blob width).
A 3-D Gaussian projects to a 2-D Gaussian of the same width, so a projection in any orientation is
the rotated blob centres' (x, y), splatted and blurred once for the whole micrograph.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

SHAPES = ("globular", "tetramer", "shell", "two-domain")


@dataclass(frozen=True)
class ParticleModel:
    """Blob centres (N, 3) in Å about the centre of mass, the blob width (Å) and the protein
    volume (Å^3) they share equally."""

    blobs_angstrom: np.ndarray
    blob_sigma_angstrom: float
    volume_angstrom3: float


def particle_model(shape: str, diameter_angstrom: float, seed: int = 0) -> ParticleModel:
    """A blobby model of ``shape`` (one of SHAPES) that spans about ``diameter_angstrom``:

    globular: an asymmetric ellipsoidal cloud; tetramer: four lobes around an axis, longer than wide
    (an ion channel); shell: a hollow cage (apoferritin); two-domain: a large and a small subunit
    (a ribosome)."""
    rng = np.random.default_rng(seed)
    radius = diameter_angstrom / 2.0
    sigma = 0.12 * radius
    reach = radius - sigma  # blob centres stay a blob width inside the diameter
    if shape == "globular":
        blobs = _ball(rng, 500, np.array([1.0, 0.85, 0.7]) * reach)
    elif shape == "tetramer":
        blobs = np.vstack([_ball(rng, 120, np.array([0.3, 0.3, 1.0]) * reach)
                           + 0.55 * reach * np.array([np.cos(a), np.sin(a), 0.0])
                           for a in np.arange(4) * np.pi / 2])
    elif shape == "shell":
        directions = rng.normal(size=(500, 3))
        blobs = reach * directions / np.linalg.norm(directions, axis=1, keepdims=True)
        blobs *= rng.uniform(0.8, 1.0, (len(blobs), 1))
    elif shape == "two-domain":
        large = _ball(rng, 400, np.full(3, 0.6 * reach)) + [0.0, -0.4 * reach, 0.0]
        small = _ball(rng, 220, np.array([0.6, 0.4, 0.5]) * reach) + [0.0, 0.6 * reach, 0.0]
        blobs = np.vstack([large, small])
    else:
        raise ValueError(f"unknown particle shape {shape!r}; expected one of {', '.join(SHAPES)}")
    blobs = blobs - blobs.mean(axis=0)
    return ParticleModel(blobs, float(sigma), _protein_volume(blobs, sigma))


def _protein_volume(blobs: np.ndarray, sigma: float) -> float:
    """The volume (Å^3) the blobs share so that a typical point of the model (the median of the
    density at the blob centres) is as dense as protein, so projected thickness is about the path
    length through the model."""
    squared = ((blobs[:, None, :] - blobs[None, :, :]) ** 2).sum(axis=2)
    density_per_volume = np.exp(-squared / (2 * sigma**2)).sum(axis=1) / (
        (2 * np.pi) ** 1.5 * sigma**3)
    return float(len(blobs) / np.median(density_per_volume))


def _ball(rng: np.random.Generator, count: int, semi_axes: np.ndarray) -> np.ndarray:
    """``count`` points uniform in an ellipsoid with these semi-axes (Å)."""
    directions = rng.normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * rng.uniform(0.0, 1.0, (count, 1)) ** (1 / 3) * semi_axes


def project_particles(shape: tuple[int, int], centres_xy_px: np.ndarray, model: ParticleModel,
                      pixel_size_angstrom: float, seed: int = 0) -> np.ndarray:
    """Projected protein thickness (Å, float32, ``shape``) of the model at each (x, y) centre,
    each in a uniformly random 3-D orientation."""
    count, per_particle = len(centres_xy_px), len(model.blobs_angstrom)
    thickness = np.zeros(shape, np.float32)
    if count == 0:
        return thickness
    rotations = Rotation.random(count, random_state=seed).as_matrix()
    rotated = np.einsum("pij,bj->pbi", rotations, model.blobs_angstrom)
    xy = (rotated[:, :, :2] / pixel_size_angstrom + centres_xy_px[:, None, :]).reshape(-1, 2)
    blob_px2 = model.volume_angstrom3 / per_particle / pixel_size_angstrom**2
    _splat(thickness, xy, np.full(len(xy), blob_px2, np.float32))
    sigma_px = model.blob_sigma_angstrom / pixel_size_angstrom
    return cv2.GaussianBlur(thickness, (0, 0), sigma_px, borderType=cv2.BORDER_CONSTANT)


def _splat(image: np.ndarray, xy: np.ndarray, weights: np.ndarray) -> None:
    """Add point weights at sub-pixel (x, y) positions, shared bilinearly between 4 pixels."""
    base = np.floor(xy).astype(int)
    frac = (xy - base).astype(np.float32)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        share = (frac[:, 0] if dx else 1 - frac[:, 0]) * (frac[:, 1] if dy else 1 - frac[:, 1])
        cols, rows = base[:, 0] + dx, base[:, 1] + dy
        keep = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
        np.add.at(image, (rows[keep], cols[keep]), weights[keep] * share[keep])


def place_particles(allowed: np.ndarray, count: int, min_distance_px: float,
                    seed: int = 0) -> np.ndarray:
    """Up to ``count`` (x, y) centres on pixels where ``allowed`` is True, no two closer than
    ``min_distance_px`` (random sequential adsorption: random candidates, each kept when it is far
    enough from those kept before it)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(allowed)
    if len(rows) == 0:
        return np.empty((0, 2))
    pick = rng.choice(len(rows), size=min(len(rows), 30 * count), replace=False)
    candidates = np.column_stack([cols[pick], rows[pick]]).astype(float) + rng.uniform(
        -0.5, 0.5, (len(pick), 2))
    neighbours = cKDTree(candidates).query_ball_point(candidates, min_distance_px)
    taken: list[int] = []
    blocked = np.zeros(len(candidates), bool)
    for index in range(len(candidates)):
        if len(taken) == count:
            break
        if not blocked[index]:
            taken.append(index)
            blocked[neighbours[index]] = True
    return candidates[taken].reshape(-1, 2)
