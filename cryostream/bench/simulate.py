"""Simulated cryo-EM micrographs like the held-out ones: float32 MRCs with a real pixel size, the
phase contrast of a defocused 300 kV microscope, crowded particles, ice of varying thickness,
contamination and carbon, and counting noise.

Image formation (weak phase object, energy-filtered):

- phase (rad) = sigma_e x potential x thickness of protein (over the ice it displaces), of the
  amorphous ice (a random field whose variance grows with the ice thickness), of the carbon film
  and of the contamination;
- the image is 1 + 2 x (phase convolved with the CTF), the CTF being
  -(sqrt(1 - A^2) sin chi + A cos chi) with chi = pi lambda dF k^2 - pi/2 Cs lambda^3 k^4 and a
  B-factor envelope, so particles are dark with bright fringes around them;
- amplitude: ice attenuates by exp(-t / mean free path); carbon and thick contamination darken;
- counting noise: Poisson with the dose per pixel times the detector's DQE.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft

from .particles import particle_model, place_particles, project_particles

VOLTAGE_KV = 300.0
CS_MM = 2.7
AMPLITUDE_CONTRAST = 0.07
SIGMA_E_RAD_PER_VOLT_ANGSTROM = 6.526e-4  # interaction constant at 300 kV
PROTEIN_POTENTIAL_VOLT = 2.3  # mean inner potential of protein minus that of the ice around it
CARBON_POTENTIAL_VOLT = 9.0
ICE_MEAN_FREE_PATH_ANGSTROM = 3000.0  # inelastic, removed by the energy filter
ICE_PHASE_SIGMA_RAD = 0.12  # per 1 Å pixel through 300 Å of amorphous ice (~10 waters)
FRINGE_PAD_ANGSTROM = 300.0  # mirrored margin, so the CTF's fringes do not wrap around


@dataclass(frozen=True)
class Conditions:
    """What one simulated micrograph looks like; lengths in Å unless named ``_px``."""

    shape: tuple[int, int] = (2048, 2048)
    pixel_size_angstrom: float = 1.0
    particle_shape: str = "globular"
    diameter_angstrom: float = 150.0
    area_fraction: float = 0.3  # of the ice covered by particles (crowding)
    min_distance_diameters: float = 0.9
    defocus_angstrom: float = 15000.0
    astigmatism_angstrom: float = 300.0
    b_factor_angstrom2: float = 100.0
    dose_per_angstrom2: float = 40.0
    dqe: float = 0.6
    ice_angstrom: tuple[float, float] = (300.0, 600.0)  # thickness at two opposite corners
    contaminations: int = 1
    carbon: bool = False


@dataclass(frozen=True)
class SimulatedMicrograph:
    """A simulated image (electron counts, float32), its particle centres (x = column, y = row,
    pixels) and where centres could lie (open ice: not on carbon or under contamination)."""

    image: np.ndarray
    x: np.ndarray
    y: np.ndarray
    conditions: Conditions
    open_ice: np.ndarray


def electron_wavelength_angstrom(voltage_kv: float = VOLTAGE_KV) -> float:
    """Relativistic electron wavelength (Å) at an accelerating voltage (kV)."""
    volts = voltage_kv * 1e3
    return 12.2643 / np.sqrt(volts * (1.0 + 0.978476e-6 * volts))


def ctf(shape: tuple[int, int], pixel_size_angstrom: float, defocus_angstrom: float,
        astigmatism_angstrom: float = 0.0, astigmatism_angle_rad: float = 0.0,
        b_factor_angstrom2: float = 0.0) -> np.ndarray:
    """The contrast transfer function on the ``rfft2`` grid of ``shape`` (underfocus positive,
    300 kV, Cs 2.7 mm, 7 % amplitude contrast), times a B-factor envelope."""
    ky = fft.fftfreq(shape[0], d=pixel_size_angstrom)[:, None]
    kx = fft.rfftfreq(shape[1], d=pixel_size_angstrom)[None, :]
    k2 = kx**2 + ky**2
    angle = np.arctan2(ky, kx) - astigmatism_angle_rad
    defocus = defocus_angstrom + 0.5 * astigmatism_angstrom * np.cos(2.0 * angle)
    wavelength = electron_wavelength_angstrom()
    chi = np.pi * wavelength * defocus * k2 - 0.5 * np.pi * CS_MM * 1e7 * wavelength**3 * k2**2
    transfer = -(np.sqrt(1 - AMPLITUDE_CONTRAST**2) * np.sin(chi)
                 + AMPLITUDE_CONTRAST * np.cos(chi))
    return (transfer * np.exp(-0.25 * b_factor_angstrom2 * k2)).astype(np.float32)


def ice_thickness(shape: tuple[int, int], corners_angstrom: tuple[float, float],
                  seed: int = 0) -> np.ndarray:
    """Ice thickness (Å): a ramp between two opposite corners, in a random direction, with gentle
    large-scale undulation."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * cols / shape[1] + np.sin(angle) * rows / shape[0]
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    wave = rng.uniform(0, 2 * np.pi, 2)
    undulation = 0.08 * np.sin(2 * np.pi * cols / shape[1] + wave[0]) * np.sin(
        2 * np.pi * rows / shape[0] + wave[1])
    low, high = corners_angstrom
    return (low + (high - low) * ramp) * (1.0 + undulation)


def carbon_mask(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Carbon film (float32, 1 on carbon) outside a hole whose edge crosses the micrograph: a
    circle 1.5-3 fields wide whose edge passes 0.2-0.35 fields from the centre, softened over a
    few pixels."""
    rng = np.random.default_rng(seed)
    side = max(shape)
    radius = rng.uniform(0.75, 1.5) * side
    angle = rng.uniform(0, 2 * np.pi)
    reach = radius - rng.uniform(0.2, 0.35) * side  # the edge cuts off 15-30 % of the field
    centre = np.array([shape[1], shape[0]]) / 2 - reach * np.array([np.cos(angle), np.sin(angle)])
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    outside = np.hypot(cols - centre[0], rows - centre[1]) - radius
    return np.clip(0.5 + outside / 4.0, 0.0, 1.0).astype(np.float32)


def contamination(shape: tuple[int, int], count: int, size_px: float,
                  seed: int = 0) -> np.ndarray:
    """Thickness (Å) of ``count`` contaminating blobs (ice crystals, ethane), each a few
    overlapping ellipses 1.5-4 particle diameters (``size_px``) across, up to 1500 Å thick."""
    rng = np.random.default_rng(seed)
    blobs = np.zeros(shape, np.float32)
    for _ in range(count):
        centre = rng.uniform(0, 1, 2) * [shape[1], shape[0]]
        for _ in range(rng.integers(2, 5)):
            offset = centre + rng.normal(0, 0.8 * size_px, 2)
            axes = (rng.uniform(0.75, 2.0, 2) * size_px).astype(int)
            cv2.ellipse(blobs, (int(offset[0]), int(offset[1])), (int(axes[0]), int(axes[1])),
                        float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    soft = cv2.GaussianBlur(np.minimum(blobs, 1.0), (0, 0), max(2.0, 0.1 * size_px))
    return (1500.0 * soft).astype(np.float32)


def simulate_micrograph(conditions: Conditions, seed: int = 0) -> SimulatedMicrograph:
    """One micrograph under ``conditions`` (see the module docstring for the physics); particles
    lie in the ice, not on carbon or under contamination."""
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31, 8)
    shape, pixel = conditions.shape, conditions.pixel_size_angstrom
    diameter_px = conditions.diameter_angstrom / pixel
    ice = ice_thickness(shape, conditions.ice_angstrom, seeds[0])
    carbon = carbon_mask(shape, seeds[1]) if conditions.carbon else np.zeros(shape, np.float32)
    contaminant = contamination(shape, conditions.contaminations, diameter_px, seeds[2])
    allowed = (carbon < 0.5) & (contaminant < 1.0)
    allowed = cv2.erode(allowed.astype(np.uint8), np.ones((3, 3), np.uint8),
                        iterations=max(1, int(diameter_px / 2))).astype(bool)
    count = int(conditions.area_fraction * allowed.sum() / (np.pi * diameter_px**2 / 4))
    centres = place_particles(allowed, count, conditions.min_distance_diameters * diameter_px,
                              seeds[3])
    model = particle_model(conditions.particle_shape, conditions.diameter_angstrom, seeds[4])
    protein = project_particles(shape, centres, model, pixel, seeds[5])
    ice_noise = np.random.default_rng(seeds[6]).normal(size=shape).astype(np.float32)
    phase = (SIGMA_E_RAD_PER_VOLT_ANGSTROM * (PROTEIN_POTENTIAL_VOLT * protein
                                              + CARBON_POTENTIAL_VOLT * 150.0 * carbon)
             + ICE_PHASE_SIGMA_RAD * np.sqrt(ice / 300.0) / pixel * ice_noise
             + SIGMA_E_RAD_PER_VOLT_ANGSTROM * PROTEIN_POTENTIAL_VOLT * contaminant)
    pad_px = int(FRINGE_PAD_ANGSTROM / pixel)
    padded = (shape[0] + 2 * pad_px, shape[1] + 2 * pad_px)
    transfer = ctf(padded, pixel, conditions.defocus_angstrom, conditions.astigmatism_angstrom,
                   float(rng.uniform(0, np.pi)), conditions.b_factor_angstrom2)
    contrast = _filtered(phase, transfer, pad_px)
    amplitude = (np.exp(-(ice + contaminant) / ICE_MEAN_FREE_PATH_ANGSTROM)
                 * (1.0 - 0.15 * carbon))
    intensity = np.clip((1.0 + 2.0 * contrast) * amplitude, 0.0, None)
    electrons = conditions.dose_per_angstrom2 * pixel**2 * conditions.dqe
    counts = np.random.default_rng(seeds[7]).poisson(intensity * electrons).astype(np.float32)
    return SimulatedMicrograph(counts, centres[:, 0], centres[:, 1], conditions, allowed)


def _filtered(phase: np.ndarray, transfer: np.ndarray, pad_px: int) -> np.ndarray:
    """``phase`` convolved with ``transfer`` (given on the rfft2 grid of the padded image), on a
    mirror-padded copy so nothing wraps around the borders."""
    padded = cv2.copyMakeBorder(phase.astype(np.float32), pad_px, pad_px, pad_px, pad_px,
                                cv2.BORDER_REFLECT)
    filtered = fft.irfft2(fft.rfft2(padded) * transfer, s=padded.shape)
    return filtered[pad_px:pad_px + phase.shape[0], pad_px:pad_px + phase.shape[1]].astype(
        np.float32)
