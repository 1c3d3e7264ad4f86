"""Crowded 4096 x 4096 float32 MRC micrographs made from real crowded ones, for the speed target.

The published crowded micrographs are 8-bit and 1024 px wide. Each new micrograph is ``tiles`` x
``tiles`` of them (different ones, each turned by the same quarter turns), upsampled bicubically
to ``size`` px and written with a nominal pixel size (the sources carry none). Truth centres are
carried through the same turn, placement and scaling.

A real 4096 px micrograph is noisy pixel by pixel, an upsampled one smooth. The source's noise is
what is left of the original noise after averaging blocks of pixels, so white noise of the
source's noise sigma x the upsampling factor is added, minus its own block means: it restores the
pixel-level noise and leaves the source's scale (and so its signal-to-noise ratio) as it was.

The same sources and arguments give the same files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from ..evaluation import coordinates_xy
from ..io import BadInputError, read_micrograph
from .sets import BenchSet, load_set, write_meta
from .synthetic import write_mrc
from .truth import write_coordinates


def turned(image: np.ndarray, xy: np.ndarray, quarter_turns: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``quarter_turns`` x 90° counter-clockwise (as ``np.rot90``) and its
    (N, 2) x, y points carried along."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    for _ in range(quarter_turns % 4):
        xy = np.column_stack([xy[:, 1], image.shape[1] - 1 - xy[:, 0]])
        image = np.rot90(image)
    return np.ascontiguousarray(image), xy


def upsampled(image: np.ndarray, xy: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` resized bicubically by ``factor`` and its points mapped to the new pixel
    centres."""
    shape = (round(image.shape[1] * factor), round(image.shape[0] * factor))
    bigger = cv2.resize(image.astype(np.float32), shape, interpolation=cv2.INTER_CUBIC)
    return bigger, (np.asarray(xy, dtype=float).reshape(-1, 2) + 0.5) * factor - 0.5


def fine_noise(shape: tuple[int, int], block_px: int, sigma: float, seed: int = 0) -> np.ndarray:
    """White noise of ``sigma`` whose mean over every ``block_px`` x ``block_px`` block is zero:
    noise below the scale of the pixels it is added to, invisible after binning by the block."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, shape).astype(np.float32)
    if block_px <= 1:
        return noise
    rows, cols = shape[0] // block_px, shape[1] // block_px
    means = cv2.resize(noise[:rows * block_px, :cols * block_px], (cols, rows),
                       interpolation=cv2.INTER_AREA)
    noise[:rows * block_px, :cols * block_px] -= np.kron(means, np.ones((block_px, block_px),
                                                                        np.float32))
    return noise


def pixel_noise_sigma(image: np.ndarray) -> float:
    """Noise sigma of an image from the differences of neighbouring pixels (robust, MAD)."""
    differences = np.diff(np.asarray(image, dtype=np.float32), axis=1).ravel()
    spread = np.median(np.abs(differences - np.median(differences)))
    return float(1.4826 * spread / np.sqrt(2.0))


def crowded_micrograph(sources: list[tuple[np.ndarray, np.ndarray]], size: int,
                       quarter_turns: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` px wide float32 micrograph of k x k ``sources`` (image, truth x, y) with
    k^2 = len(sources), pixel-level noise matched to the sources', and its truth."""
    tiles = int(round(np.sqrt(len(sources))))
    if tiles * tiles != len(sources):
        raise ValueError(f"needs a square number of sources, got {len(sources)}")
    rows: list[np.ndarray] = []
    points = []
    for row in range(tiles):
        row_images: list[np.ndarray] = []
        for col in range(tiles):
            source, xy = turned(*sources[row * tiles + col], quarter_turns)
            factor = size / (tiles * source.shape[1])
            image, xy = upsampled(source, xy, factor)
            image += fine_noise(image.shape, round(factor), pixel_noise_sigma(source) * factor,
                                seed=seed * 100 + row * tiles + col)
            offset = np.array([sum(part.shape[1] for part in row_images),
                               sum(part.shape[0] for part in rows)])
            row_images.append(image)
            points.append(xy + offset)
        rows.append(np.hstack(row_images))
    return np.vstack(rows), np.vstack(points)


def make_crowded_set(source: str | Path, out: str | Path, size: int = 4096, tiles: int = 1,
                     quarter_turns: tuple[int, ...] = (0, 2), pixel_size_angstrom: float = 1.1,
                     seed: int = 0) -> BenchSet:
    """Write a crowded set in ``out`` from the bench set ``source``: for every turn in
    ``quarter_turns`` and every source micrograph m, one micrograph of the sources m, m + 1, ...
    (k x k of them, k = ``tiles``, in order around the set). Odd turns of micrographs that are
    not square make a second size."""
    origin = load_set(source)
    loaded = []
    for image_path, truth_path in zip(origin.images, origin.truth, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = read_micrograph(image_path, 1.0).data
        loaded.append((data, coordinates_xy(truth_path)))
    if len({data.shape for data, _ in loaded}) != 1:
        raise BadInputError(origin.folder, "micrographs differ in size; tiles need one size")
    out = Path(out)
    factor = size / (tiles * loaded[0][0].shape[1])
    made = {}
    count = len(loaded)
    for turns in quarter_turns:
        for first in range(count):
            picked = [loaded[(first + step) % count] for step in range(tiles * tiles)]
            name = f"{out.name}_{turns}_{first:03d}"
            image, xy = crowded_micrograph(picked, size, turns,
                                           seed=seed * 10_000 + turns * 1000 + first)
            write_mrc(image, out / "images" / f"{name}.mrc", pixel_size_angstrom)
            write_coordinates(xy, out / "truth" / f"{name}.star")
            made[name] = {"particles": len(xy), "quarter_turns": turns,
                          "sources": [origin.images[(first + step) % count].name
                                      for step in range(tiles * tiles)]}
    write_meta(out, particle_diameter_angstrom=round(origin.diameter_px * factor
                                                     * pixel_size_angstrom, 2),
               pixel_size_angstrom=pixel_size_angstrom,
               description=f"crowded {size} px float32 MRCs: {tiles} x {tiles} micrographs of "
               f"{origin.name} upsampled x{factor:g} (bicubic), pixel-level noise matched to the "
               f"sources', nominal pixel size {pixel_size_angstrom:g} Å/px (the sources have "
               "none)",
               source=f"made by `python -m cryostream bench-make-crowded {origin.folder} {out} "
               f"--size {size} --tiles {tiles} --quarter-turns "
               f"{','.join(map(str, quarter_turns))} --pixel-size {pixel_size_angstrom:g} "
               f"--seed {seed}`", truth=f"{origin.name} truth, carried "
               "through the same turns, tiling and upsampling", micrographs=made)
    return load_set(out)
