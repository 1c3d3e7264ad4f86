from pathlib import Path

import numpy as np
import pytest

from cryostream.bench.simulate import Conditions, simulate_micrograph
from cryostream.bench.simulated_sets import simulated_set
from cryostream.bench.synthetic import synthetic_micrograph
from cryostream.config import PickerConfig, preset
from cryostream.diameter import (
    DEAD_BAND,
    SizeEvidence,
    diameter_check,
    estimate_diameter,
    micrograph_evidence,
    trial_diameters,
)
from cryostream.io import Micrograph

PIXEL_SIZE = 1.5
TRUE_ANGSTROM = 40 * PIXEL_SIZE


def checked_diameter_px(data: np.ndarray, config: PickerConfig, diameter_px: float,
                        bounds_px: tuple[float, float] = (0.0, np.inf)) -> float:
    """The diameter the picker works at: the measured one when the curve rose to it."""
    found_px, risen = diameter_check(data, config, diameter_px, bounds_px)
    return found_px if risen else diameter_px


@pytest.fixture(scope="module")
def crowded() -> list[Micrograph]:
    """Two micrographs with 150 particles of 40 px (60 Å) each."""
    return [Micrograph(synthetic_micrograph((768, 768), n_particles=150, diameter_px=40,
                                            seed=seed).image, PIXEL_SIZE, Path(f"m{seed}.mrc"))
            for seed in (1, 2)]


def test_trial_diameters_of_any_range_lie_on_one_grid() -> None:
    wide, narrow = trial_diameters(20, 600), trial_diameters(50, 200)
    assert np.all(np.isclose(narrow[:, None], wide[None, :]).any(axis=1))
    assert narrow[0] >= 50 and narrow[-1] <= 200
    assert np.allclose(wide[1:] / wide[:-1], wide[1] / wide[0])


def test_estimate_is_near_the_true_diameter(crowded: list[Micrograph]) -> None:
    estimate = estimate_diameter(crowded)
    assert TRUE_ANGSTROM / 1.15 <= estimate.diameter_angstrom <= TRUE_ANGSTROM * 1.15
    assert estimate.low_angstrom <= estimate.diameter_angstrom <= estimate.high_angstrom
    assert estimate.micrographs == 2
    within = estimate_diameter(crowded, range_angstrom=(40, 120))
    assert within.diameter_angstrom == pytest.approx(estimate.diameter_angstrom, rel=0.05)


def test_a_hollow_shell_is_measured_whole_not_by_its_walls() -> None:
    """On this simulated 125 Å shell the first pass's bands favour the walls' plateau (0.69 D);
    re-measured in one band, the whole shell wins."""
    recipe = simulated_set("sim-shell-2k")
    conditions = recipe.conditions(2, 8)
    image = simulate_micrograph(conditions, seed=2).image
    shell = Micrograph(image, conditions.pixel_size_angstrom, Path("shell.mrc"))
    middle = micrograph_evidence(shell, (20, 600)).plateau_angstrom[1]
    true_angstrom = conditions.diameter_angstrom
    assert true_angstrom / 1.15 <= middle <= true_angstrom * 1.15


@pytest.mark.parametrize(("index", "defocus_angstrom"), [(1, 12674.6), (4, 18131.4)])
def test_a_crowded_micrograph_is_not_measured_at_a_few_larger_objects(
        index: int, defocus_angstrom: float) -> None:
    """Crowded tetramers (161 Å) with a contamination blob: at 1.7-2.1 x a dozen responses, the
    blob and clumps of particles, score above the particles' 130-155, and the plateau went
    there (1.8 and 2.0 x)."""
    conditions = Conditions((3072, 3072), 0.9, "tetramer", 161.0, area_fraction=0.45,
                            dose_per_angstrom2=30.0, ice_angstrom=(500.0, 1100.0),
                            defocus_angstrom=defocus_angstrom, contaminations=1)
    sample = simulate_micrograph(conditions, seed=171708 * 1000 + index)
    middle = micrograph_evidence(Micrograph(sample.image, 0.9, Path("crowded.mrc")),
                                 (20, 600)).plateau_angstrom[1]
    assert 0.85 * 161.0 <= middle <= 1.15 * 161.0


def test_a_sparse_micrograph_on_carbon_is_not_measured_at_the_end_of_the_range() -> None:
    """Sparse tetramers (169 Å) on carbon: the curve is flat at 6.2-6.5 from 0.8 to 2.6 D, then
    climbs to 8.8 at 3.2 D, the last trial diameter that fits, where the plateau went (3.0 x)."""
    conditions = Conditions((3072, 3072), 1.5, "tetramer", 168.6, area_fraction=0.143,
                            min_distance_diameters=0.9198644680395728,
                            dose_per_angstrom2=42.67906624880344,
                            ice_angstrom=(490.37299901603376, 939.1416743012858),
                            defocus_angstrom=12686.581248268603, carbon=True, contaminations=0)
    sample = simulate_micrograph(conditions, seed=232307 * 1000 + 1)
    middle = micrograph_evidence(Micrograph(sample.image, 1.5, Path("carbon.mrc")),
                                 (20, 600)).plateau_angstrom[1]
    assert 0.85 * 168.6 <= middle <= 1.15 * 168.6


def test_evidence_from_earlier_micrographs_joins_the_estimate(crowded: list[Micrograph]) -> None:
    first = estimate_diameter(crowded[:1])
    both = estimate_diameter(crowded[1:], evidence=first.evidence)
    assert both.micrographs == 2
    assert both.diameter_angstrom == pytest.approx(estimate_diameter(crowded).diameter_angstrom,
                                                   rel=0.1)


def _measured(*middles: float) -> list[SizeEvidence]:
    curve = np.array([50.0, 60.0, 70.0]), np.array([5.0, 6.0, 5.5])
    return [SizeEvidence(*curve, (0.9 * middle, middle, 1.1 * middle)) for middle in middles]


@pytest.mark.parametrize(("middles", "expected"), [
    ((100.0,), 100.0), ((62.0, 100.0, 104.0), 100.0), ((62.0, 100.0), 100.0),
    ((62.0, 64.0, 105.0), 64.0), ((98.0, 100.0, 350.0), 100.0), ((np.nan, 62.0, 100.0), 100.0)])
def test_the_estimate_is_the_median_micrograph_the_larger_for_an_even_count(
        middles: tuple[float, ...], expected: float) -> None:
    """A hollow shell's walls win on some micrographs (62 against 100), an outlier on one (350)."""
    estimate = estimate_diameter([], evidence=_measured(*middles))
    assert estimate.diameter_angstrom == expected
    assert (estimate.low_angstrom, estimate.high_angstrom) == (0.9 * expected, 1.1 * expected)
    assert estimate.micrographs == len(middles)


@pytest.mark.parametrize("unit_norm_seeds", [True, False])
def test_the_estimate_learns_from_plain_seeds_whatever_the_pipeline_says(
        crowded: list[Micrograph], unit_norm_seeds: bool) -> None:
    default = preset("default")
    pipeline = [{**step, "unit_norm_seeds": unit_norm_seeds}
                if step.get("filter") == "radial_template" else step for step in default.pipeline]
    measured = micrograph_evidence(crowded[0], (40, 90), preset("default", pipeline=pipeline))
    expected = micrograph_evidence(crowded[0], (40, 90), default)
    np.testing.assert_array_equal(measured.snr, expected.snr)
    assert expected.snr.max() > 0


def test_pure_noise_has_no_diameter() -> None:
    noise = np.random.default_rng(0).normal(size=(768, 768)).astype(np.float32)
    with pytest.raises(ValueError, match="no particle-like signal"):
        estimate_diameter([Micrograph(noise, PIXEL_SIZE, Path("noise.mrc"))])


def test_bad_range_and_missing_pixel_size_are_errors(crowded: list[Micrograph]) -> None:
    with pytest.raises(ValueError, match="0 < min < max"):
        estimate_diameter(crowded, range_angstrom=(100, 50))
    unsized = Micrograph(crowded[0].data, None, Path("unsized.png"))
    with pytest.raises(ValueError, match="no pixel size"):
        estimate_diameter([unsized])


def test_the_check_keeps_a_diameter_close_to_the_measured_one(crowded: list[Micrograph]) -> None:
    config = preset("default")
    assert checked_diameter_px(crowded[0].data, config, 40.0) == 40.0
    corrected = checked_diameter_px(crowded[0].data, config, 28.0)
    assert corrected > 28.0 * DEAD_BAND
    # bounded (a session's estimate), it moves no further than the bound, or not at all within
    # the dead band of it
    assert checked_diameter_px(crowded[0].data, config, 28.0, (0.0, 34.0)) == 34.0
    assert checked_diameter_px(crowded[0].data, config, 28.0, (0.0, 30.0)) == 28.0


@pytest.mark.parametrize(("particle_shape", "diameter_angstrom", "pixel_size", "dose", "given",
                          "lowest", "highest"), [
    # faint (30 e/Å²): the curve is flat at 4.5-5.0 and used to enlarge 1.33 x to 1.77 x
    ("two-domain", 150.0, 1.05, 30.0, 1.33, 0.8, 1.33),
    # clear: a hollow shell given 0.75 x still grows to the whole shell
    ("shell", 130.0, 1.0, 40.0, 0.75, 0.85, 1.15),
])
def test_the_check_enlarges_only_on_a_curve_that_rises(particle_shape: str,
                                                       diameter_angstrom: float,
                                                       pixel_size: float, dose: float,
                                                       given: float, lowest: float,
                                                       highest: float) -> None:
    conditions = Conditions((2048, 2048), pixel_size, particle_shape, diameter_angstrom,
                            area_fraction=0.3, dose_per_angstrom2=dose,
                            ice_angstrom=(200.0, 900.0), defocus_angstrom=11400.0,
                            contaminations=1)
    image = simulate_micrograph(conditions, seed=23001).image
    true_px = diameter_angstrom / pixel_size
    checked = checked_diameter_px(image, preset("default"), given * true_px) / true_px
    assert lowest <= checked <= highest


def test_the_check_moves_nothing_on_a_curve_measured_at_one_trial_diameter() -> None:
    """Nine two-domain particles 231 px across on 2048 x 2048: only the smallest trial diameter
    (0.62 x) finds ten strong responses, which made a plateau of its own (checked to 0.62 x)."""
    conditions = Conditions((2048, 2048), 0.9, "two-domain", 208.0, area_fraction=0.1,
                            dose_per_angstrom2=30.0, ice_angstrom=(300.0, 700.0),
                            defocus_angstrom=12000.0, contaminations=0)
    image = simulate_micrograph(conditions, seed=0).image
    given_px = 208.0 / 0.9
    assert checked_diameter_px(image, preset("default"), given_px) == given_px
