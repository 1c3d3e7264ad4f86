"""Synthetic micrographs with known particle positions, for tests and the demo.

Particles are dark soft-edged discs (projected density lowers the electron count) on a noisy
background, optionally with an ice-thickness gradient and a dark carbon edge. Micrographs like real
ones (CTF, real pixel sizes, projected 3-D particles, contamination) are in
:mod:`cryostream.bench.simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
from scipy import ndimage

from ..picker import Picks
from ..star import write_star


@dataclass(frozen=True)
class SyntheticMicrograph:
    """A synthetic image and its particle centres (x = column, y = row, in pixels)."""

    image: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pixel_size_angstrom: float
    diameter_angstrom: float


def synthetic_micrograph(shape: tuple[int, int] = (1024, 1024), n_particles: int = 60,
                         diameter_px: float = 40.0, pixel_size_angstrom: float = 1.5,
                         snr: float = 0.5, ice_gradient: float = 0.0, carbon_edge: bool = False,
                         seed: int = 0) -> SyntheticMicrograph:
    """Draw ``n_particles`` non-overlapping particles of ``diameter_px`` at random positions.

    ``snr`` is the particle contrast over the per-pixel (white) noise sigma;
    ``ice_gradient`` adds a linear background ramp of that many noise sigmas across the image;
    ``carbon_edge`` darkens a band along one side, which a good picker must not pick.
    """
    rng = np.random.default_rng(seed)
    rows, cols = shape
    margin = diameter_px
    carbon_cols = int(cols * 0.15) if carbon_edge else 0
    centres: list[tuple[float, float]] = []
    for _ in range(n_particles * 200):
        if len(centres) == n_particles:
            break
        candidate = (rng.uniform(margin + carbon_cols, cols - margin),
                     rng.uniform(margin, rows - margin))
        if all((candidate[0] - x) ** 2 + (candidate[1] - y) ** 2 > (1.15 * diameter_px) ** 2
               for x, y in centres):
            centres.append(candidate)
    x = np.array([c[0] for c in centres])
    y = np.array([c[1] for c in centres])
    density = np.zeros(shape, np.float32)
    density[np.clip(y.astype(int), 0, rows - 1), np.clip(x.astype(int), 0, cols - 1)] = 1.0
    radius = diameter_px / 2.0
    grid = np.arange(-int(radius) - 2, int(radius) + 3)
    disc = (np.hypot(*np.meshgrid(grid, grid)) <= radius).astype(np.float32)
    density = ndimage.convolve(density, disc, mode="constant")
    density = ndimage.gaussian_filter(density, 1.0)
    image = 10.0 + rng.normal(size=shape).astype(np.float32) - snr * density
    if ice_gradient:
        image += ice_gradient * np.linspace(-0.5, 0.5, cols, dtype=np.float32)[None, :]
    if carbon_edge:
        image[:, :carbon_cols] -= 3.0 * snr
    return SyntheticMicrograph(image=image.astype(np.float32), x=x, y=y,
                               pixel_size_angstrom=pixel_size_angstrom,
                               diameter_angstrom=diameter_px * pixel_size_angstrom)


def write_mrc(image: np.ndarray, path: str | Path, pixel_size_angstrom: float) -> Path:
    """Write a float32 MRC with the pixel size in its header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.asarray(image, dtype=np.float32))
        mrc.voxel_size = pixel_size_angstrom
    return path


def write_acquisition(folder: str | Path, n_micrographs: int = 4,
                      shape: tuple[int, int] = (1024, 1024), diameter_px: float = 40.0,
                      pixel_size_angstrom: float = 1.5, seed: int = 0) -> list[SyntheticMicrograph]:
    """Write an EPU-like tree of synthetic MRCs under ``folder`` and their true coordinates as
    ``folder/truth/<micrograph stem>.star``."""
    folder = Path(folder)
    made = []
    for index in range(n_micrographs):
        micrograph = synthetic_micrograph(shape, n_particles=int(shape[0] * shape[1] / 12000),
                                          diameter_px=diameter_px,
                                          pixel_size_angstrom=pixel_size_angstrom,
                                          ice_gradient=2.0 * (index % 2), seed=seed + index)
        square = folder / f"GridSquare_{index // 2 + 1}" / "Data"
        name = f"FoilHole_{1000 + index}_Data.mrc"
        path = write_mrc(micrograph.image, square / name, pixel_size_angstrom)
        truth = Picks(x=micrograph.x, y=micrograph.y, figure_of_merit=np.ones(len(micrograph.x)),
                      diameter_px=diameter_px, pixel_size_angstrom=pixel_size_angstrom,
                      micrograph_shape=shape, micrograph=path)
        write_star(truth, folder / "truth" / f"{path.stem}.star")
        made.append(micrograph)
    return made
