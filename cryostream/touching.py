"""Particles touching a picked one. The clustering seeds its clusters on peaks of the surviving
pixels' density; where two particles touch, their pixels merge into one region whose density
peaks once, and one of the pair goes unpicked, while the learned template's response still peaks
on each (crowded simulated shells, centres down to 0.8 diameters apart, 6 micrographs: all 40
response peaks over 0.6 diameters from every pick lay on unpicked particles). A peak of the
response that no pick explains is picked when it lies next to a pick and the micrograph there
looks like the picked particles: not like the gap between crowded neighbours, where the
template, holding a ring of them, also responds (apoferritin, 3 micrographs: 124 of the 134
peaks next to a pick match the particles' mean image negatively), nor denser than them
(contamination).

Measured on 136 labelled sets (2 real, 134 simulated): on simulated crowded shells interior F1
0.913 -> 0.936 at the given diameter, 0.862 -> 0.899 at 1.33 x; faint crowded tetramers 0.857
-> 0.882; means +0.0013 at 1 x and +0.0034 at 1.33 x; apoferritin 0.953 -> 0.952 (11 picks
added, 3 of them particles: contamination and gaps), ribosome 0.859 -> 0.862. On sparse
micrographs (``MIN_PACKING``) a peak next to a pick is more often a domain of a two-domain
particle or noise: picking them there too cost up to 0.046 on faint sets given 0.75 x."""

from __future__ import annotations

import numpy as np

from .neighbours import nearest_distances, suppress_close
from .peaks import disc_maxima, nonzero_pixels

PEAK_RADIUS_DIAMETERS = 0.4  # a response peak is the highest within 0.4 diameters
MIN_SEPARATION_DIAMETERS = 0.6  # more than this from every pick (a hollow shell's wall, a domain: closer)
INNER_DIAMETERS = 0.5  # the disc compared with the picked particles' mean image
MIN_INNER_RATIO, MAX_INNER_RATIO = 0.5, 1.5  # its match within these x the picks' median match
#                                             (0.35 or 0.65: mean F1 within 0.0005 of 0.5's)
MIN_PACKING = 0.3  # only on micrographs whose picks number this many per diameter squared
MAX_FOUND_FRACTION = 0.2  # and none when more than a fifth of the picks have one: the picks are not
#                           whole particles (crowded 4k apoferritin given 0.75 x, its shells picked
#                           as walls: 22-37 %, interior F1 0.08-0.10 lower with them). Merged pairs
#                           reach that too (crowded shells given 1.33 x, 36-43 picks: up to 28 %)


def touching_peaks(response: np.ndarray, image: np.ndarray, picks: np.ndarray, floor: float,
                   diameter_px: float, margin_px: float,
                   reach_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) and response value of the peaks of ``response`` (working pixels, as ``image``,
    the micrograph in noise units with particles bright, and ``picks``) reaching ``floor`` that
    belong to unpicked particles touching picked ones: within ``reach_px`` of a pick (a peak far
    from every pick is noise or contamination, which the picks' floor already judged) and
    ``margin_px`` from the edge at least."""
    empty = (np.empty((0, 2)), np.empty(0))
    if len(picks) < 2 or len(picks) * diameter_px ** 2 < MIN_PACKING * response.size:
        return empty
    rows, columns = nonzero_pixels(disc_maxima(response, PEAK_RADIUS_DIAMETERS * diameter_px, floor))
    peaks = np.column_stack([rows, columns]).astype(float)
    inside = np.all((peaks >= margin_px) & (peaks <= np.array(response.shape) - 1 - margin_px), axis=1)
    peaks = peaks[inside]
    if len(peaks) == 0:
        return empty
    nearest = nearest_distances(peaks, picks)
    peaks = peaks[(nearest > MIN_SEPARATION_DIAMETERS * diameter_px)
                  & (nearest <= reach_px)]
    if len(peaks) == 0:
        return empty
    pick_patches = _patches(image, np.round(picks).astype(int), INNER_DIAMETERS * diameter_px)
    mean = pick_patches.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0:
        return empty
    kernel = mean / norm
    median_match = float(np.median(pick_patches @ kernel))
    match = _patches(image, peaks.astype(int), INNER_DIAMETERS * diameter_px) @ kernel
    peaks = peaks[(match >= MIN_INNER_RATIO * median_match) & (match <= MAX_INNER_RATIO * median_match)]
    values = response[peaks[:, 0].astype(int), peaks[:, 1].astype(int)]
    order = np.argsort(-values, kind="stable")
    keep = order[suppress_close(peaks[order], MIN_SEPARATION_DIAMETERS * diameter_px)]
    if len(keep) > MAX_FOUND_FRACTION * len(picks):
        return empty
    return peaks[keep], values[keep]


def _patches(image: np.ndarray, centres: np.ndarray, radius_px: float) -> np.ndarray:
    """The pixels of ``image`` within ``radius_px`` of each of ``centres`` (row, col), one row
    each (reflected at the edges)."""
    half = int(np.ceil(radius_px))
    grid = np.arange(-half, half + 1)
    rows, columns = np.meshgrid(grid, grid, indexing="ij")
    disc = np.hypot(rows, columns) <= radius_px
    padded = np.pad(image, half, mode="reflect")
    offsets_r, offsets_c = rows[disc], columns[disc]
    centres = np.clip(centres, 0, np.array(image.shape) - 1)
    return padded[centres[:, :1] + half + offsets_r, centres[:, 1:] + half + offsets_c]
