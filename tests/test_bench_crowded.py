"""Crowded large micrographs made from small real ones: truth follows every turn, tile and scale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cryostream.bench.crowded import (
    crowded_micrograph,
    fine_noise,
    make_crowded_set,
    pixel_noise_sigma,
    turned,
    upsampled,
)
from cryostream.bench.sets import write_synthetic_set
from cryostream.evaluation import coordinates_xy
from cryostream.io import read_micrograph


def marked(shape: tuple[int, int], xy: np.ndarray) -> np.ndarray:
    image = np.zeros(shape, np.float32)
    image[xy[:, 1].astype(int), xy[:, 0].astype(int)] = 1.0
    return image


@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3])
def test_points_turn_with_the_image(quarter_turns: int) -> None:
    xy = np.array([[3.0, 1.0], [7.0, 4.0]])
    image, moved = turned(marked((5, 9), xy), xy, quarter_turns)
    assert np.all(image[moved[:, 1].astype(int), moved[:, 0].astype(int)] == 1.0)
    assert image.sum() == 2.0


def test_points_follow_upsampling_to_the_new_pixel_centres() -> None:
    image = np.zeros((32, 32), np.float32)
    image[10:13, 20:23] = 1.0  # a blob centred at x = 21, y = 11
    bigger, xy = upsampled(image, np.array([[21.0, 11.0]]), 4.0)
    row, col = np.unravel_index(np.argmax(cv2.GaussianBlur(bigger, (0, 0), 2.0)), bigger.shape)
    assert bigger.shape == (128, 128)
    assert np.hypot(col - xy[0, 0], row - xy[0, 1]) <= 1.0


def test_tiles_place_each_source_in_its_quadrant() -> None:
    sources = []
    for index in range(4):
        xy = np.array([[10.0 + index, 20.0]])
        sources.append((marked((64, 64), xy) * 100 + 50, xy))
    image, xy = crowded_micrograph(sources, 256, 0, seed=1)
    assert image.shape == (256, 256) and image.dtype == np.float32
    assert len(xy) == 4
    assert np.allclose(xy[1], (np.array([11.0, 20.0]) + 0.5) * 2 - 0.5 + [128, 0])
    assert np.allclose(xy[2], (np.array([12.0, 20.0]) + 0.5) * 2 - 0.5 + [0, 128])
    with pytest.raises(ValueError, match="square number"):
        crowded_micrograph(sources[:3], 256, 0)


def test_pixel_noise_matches_the_source_and_vanishes_at_its_scale() -> None:
    source = np.random.default_rng(0).normal(100.0, 5.0, (128, 128)).astype(np.float32)
    assert pixel_noise_sigma(source) == pytest.approx(5.0, rel=0.05)
    image, _ = crowded_micrograph([(source, np.empty((0, 2)))], 512, 0, seed=2)
    smooth, _ = upsampled(source, np.empty((0, 2)), 4.0)
    added = image - smooth
    assert added.std() == pytest.approx(4 * 5.0, rel=0.05)
    block_means = cv2.resize(added, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(block_means).max() < 1e-3
    assert np.abs(fine_noise((64, 64), 4, 1.0).reshape(16, 4, 16, 4).mean(axis=(1, 3))).max() < 1e-6


def test_a_crowded_set_keeps_truth_on_the_particles(tmp_path: Path) -> None:
    source = write_synthetic_set(tmp_path / "small", n_micrographs=2, shape=(256, 256),
                                 diameter_px=20.0, seed=2)
    made = make_crowded_set(source.folder, tmp_path / "big", size=1024, tiles=2,
                            quarter_turns=(0, 1), pixel_size_angstrom=1.25)
    assert len(made.images) == 4 and made.pixel_size_angstrom == pytest.approx(1.25)
    assert made.diameter_px == pytest.approx(40.0)
    truth_per_source = sum(len(coordinates_xy(path)) for path in source.truth)
    assert len(coordinates_xy(made.truth[0])) == 2 * truth_per_source
    image = read_micrograph(made.images[3]).data
    xy = coordinates_xy(made.truth[3])
    on = image[xy[:, 1].astype(int), xy[:, 0].astype(int)].mean()
    assert on < image.mean()  # particles are dark, and the truth lies on them after the turn


@pytest.mark.parametrize(("quarter_turns", "shapes"), [
    ((0, 2), {(256, 384)}), ((0, 1), {(256, 384), (576, 384)})])
def test_odd_turns_of_oblong_micrographs_make_a_second_size(
        tmp_path: Path, quarter_turns: tuple[int, ...], shapes: set[tuple[int, int]]) -> None:
    """Turned by 90 degrees, a micrograph 192 px wide and 128 high becomes 128 wide, and is
    upsampled to the same width as the others: a second size (the bench runs relion_autopick
    once per size)."""
    source = write_synthetic_set(tmp_path / "small", n_micrographs=1, shape=(128, 192), seed=4)
    made = make_crowded_set(source.folder, tmp_path / "big", size=384, quarter_turns=quarter_turns)
    assert {read_micrograph(path).data.shape for path in made.images} == shapes


def test_command_makes_a_set(tmp_path: Path) -> None:
    source = write_synthetic_set(tmp_path / "small", n_micrographs=1, shape=(128, 128), seed=4)
    run = subprocess.run([sys.executable, "-m", "cryostream", "bench-make-crowded",
                          str(source.folder), str(tmp_path / "made"), "--size", "256",
                          "--quarter-turns", "0"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "1 micrographs of 256 px" in run.stderr
    assert (tmp_path / "made" / "meta.json").is_file()
