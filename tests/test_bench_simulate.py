"""Simulated micrographs like the held-out ones: optics, particles, ice, carbon, contamination."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import fft
from scipy.spatial import cKDTree

from cryostream.bench.particles import SHAPES, particle_model, place_particles
from cryostream.bench.simulate import (
    AMPLITUDE_CONTRAST,
    Conditions,
    carbon_mask,
    contamination,
    ctf,
    electron_wavelength_angstrom,
    simulate_micrograph,
)
from cryostream.bench.simulated_sets import SIMULATED_SETS, SimulatedSet, write_simulated_set
from cryostream.evaluation import coordinates_xy
from cryostream.io import read_micrograph

SMALL = Conditions((768, 768), 1.2, "globular", 120.0, area_fraction=0.3,
                   defocus_angstrom=15000.0, contaminations=0)


def test_wavelength_and_ctf_zero_at_300_kv() -> None:
    assert electron_wavelength_angstrom(300.0) == pytest.approx(0.019687, rel=1e-4)
    transfer = ctf((512, 512), 1.0, 20000.0)
    assert transfer[0, 0] == pytest.approx(-AMPLITUDE_CONTRAST)
    profile = transfer[0, :]
    first_zero = np.argmax(np.sign(profile) != np.sign(profile[0])) / 512
    # -sin(chi + arcsin A) = 0 at chi = pi - arcsin A; Cs is negligible this close to the origin
    expected = np.sqrt((1 - np.arcsin(AMPLITUDE_CONTRAST) / np.pi)
                       / (electron_wavelength_angstrom() * 20000.0))
    assert first_zero == pytest.approx(expected, abs=2 / 512)


def test_particles_are_dark_and_placed_only_in_open_ice() -> None:
    conditions = replace(SMALL, shape=(1024, 1024), carbon=True, contaminations=1)
    micrograph = simulate_micrograph(conditions, seed=3)
    assert micrograph.image.dtype == np.float32 and micrograph.image.shape == (1024, 1024)
    assert 15 < len(micrograph.x) < 80
    rows, cols = micrograph.y.astype(int), micrograph.x.astype(int)
    assert micrograph.open_ice[rows, cols].all() and not micrograph.open_ice.all()
    centres = np.column_stack([micrograph.x, micrograph.y])
    diameter_px = conditions.diameter_angstrom / conditions.pixel_size_angstrom
    empty = micrograph.open_ice & (_distance_to(centres, (1024, 1024)) > diameter_px)
    low_pass = cv2.GaussianBlur(micrograph.image, (0, 0), 4.0)
    assert np.median(low_pass[rows, cols]) < np.median(low_pass[empty])
    distances, _ = cKDTree(centres).query(centres, k=2)
    assert distances[:, 1].min() >= conditions.min_distance_diameters * diameter_px
    again = simulate_micrograph(conditions, seed=3)
    assert np.array_equal(again.image, micrograph.image)


def _distance_to(centres: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    grid = np.column_stack([axis.ravel() for axis in np.mgrid[0:shape[0], 0:shape[1]][::-1]])
    return cKDTree(centres).query(grid)[0].reshape(shape)


def test_counting_noise_makes_a_low_snr_image() -> None:
    micrograph = simulate_micrograph(SMALL, seed=1)
    electrons = SMALL.dose_per_angstrom2 * SMALL.pixel_size_angstrom**2 * SMALL.dqe
    assert 0.6 * electrons < micrograph.image.mean() < electrons
    assert micrograph.image.std() > np.sqrt(0.6 * electrons)  # at least the counting noise
    spectrum = np.abs(fft.rfft2(micrograph.image - micrograph.image.mean())) ** 2
    assert spectrum[1:20, 1:20].mean() > spectrum[300:380, 300:380].mean()


def test_contamination_is_much_larger_than_a_particle_and_carbon_covers_one_side() -> None:
    blobs = contamination((1024, 1024), 1, 60.0, seed=2) > 750.0
    count, _, stats, _ = cv2.connectedComponentsWithStats(blobs.astype(np.uint8))
    assert count >= 2 and np.sqrt(stats[1:, cv2.CC_STAT_AREA].max() / np.pi) * 2 > 3 * 60.0
    carbon = carbon_mask((1024, 1024), seed=5)
    assert 0.05 < carbon.mean() < 0.45


@pytest.mark.parametrize("shape", SHAPES)
def test_particle_models_span_about_their_diameter(shape: str) -> None:
    model = particle_model(shape, 200.0, seed=1)
    reach = np.linalg.norm(model.blobs_angstrom, axis=1).max() + model.blob_sigma_angstrom
    assert 60.0 < reach < 130.0
    assert np.allclose(model.blobs_angstrom.mean(axis=0), 0.0, atol=1e-6)


def test_placement_keeps_the_minimum_distance_and_the_allowed_area() -> None:
    allowed = np.zeros((400, 400), bool)
    allowed[:, :200] = True
    centres = place_particles(allowed, 500, 20.0, seed=4)
    distances, _ = cKDTree(centres).query(centres, k=2)
    assert distances[:, 1].min() >= 20.0
    assert centres[:, 0].max() < 200.5 and 60 < len(centres) < 500


def test_a_simulated_set_is_a_bench_set_in_angstrom(tmp_path: Path) -> None:
    recipe = SimulatedSet("tiny", "test", replace(SMALL, shape=(512, 512)), carbon_every=2)
    bench_set = write_simulated_set(tmp_path / "tiny", recipe, n_micrographs=2, seed=1)
    assert bench_set.pixel_size_angstrom == pytest.approx(1.2)
    assert bench_set.diameter_angstrom == 120.0 and not bench_set.needs_conversion
    image = read_micrograph(bench_set.images[1])
    assert image.pixel_size_angstrom == pytest.approx(1.2) and image.data.dtype == np.float32
    assert len(coordinates_xy(bench_set.truth[0])) > 5
    assert {recipe.name for recipe in SIMULATED_SETS} >= {"sim-globular-4k", "sim-shell-2k"}
    assert [recipe.conditions(index, 2).carbon for index in range(2)] == [False, True]
