import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, bench_set

from cryostream import candidates, picker
from cryostream.bench.crowded import crowded_micrograph
from cryostream.bench.simulate import Conditions, simulate_micrograph
from cryostream.bench.simulated_sets import simulated_set
from cryostream.bench.synthetic import SyntheticMicrograph, synthetic_micrograph, write_mrc
from cryostream.config import preset
from cryostream.diameter import accounts_for, merges
from cryostream.evaluation import coordinates_xy
from cryostream.filters import apply_pipeline
from cryostream.io import BadInputError, Micrograph, read_micrograph
from cryostream.metrics import Counts, score_distance
from cryostream.picker import pick_micrograph
from cryostream.star import read_coordinates


def _micrograph(synthetic: SyntheticMicrograph, pixel_size: float | None = None) -> Micrograph:
    return Micrograph(synthetic.image, pixel_size, Path("synthetic.mrc"))


def test_default_preset_finds_synthetic_particles(synthetic: SyntheticMicrograph) -> None:
    config = preset("default", diameter_angstrom=synthetic.diameter_angstrom)
    picks = pick_micrograph(_micrograph(synthetic, synthetic.pixel_size_angstrom), config)
    counts = score_distance(np.column_stack([picks.x, picks.y]),
                            np.column_stack([synthetic.x, synthetic.y]), 20)
    assert counts.recall >= 0.9 and counts.precision >= 0.9
    assert picks.diameter_px == pytest.approx(40)
    assert len(picks.figure_of_merit) == len(picks)


def test_coordinates_are_in_the_original_pixel_frame(tmp_path: Path) -> None:
    synthetic = synthetic_micrograph((600, 900), n_particles=12, diameter_px=80, snr=1.0, seed=3)
    config = preset("default", diameter_angstrom=80 * 1.5, working_diameter_px=16)
    picks = pick_micrograph(_micrograph(synthetic, 1.5), config)
    counts = score_distance(np.column_stack([picks.x, picks.y]),
                            np.column_stack([synthetic.x, synthetic.y]), 8)
    assert counts.recall >= 0.9


def test_picks_do_not_depend_on_where_the_pixel_size_came_from(tmp_path: Path) -> None:
    """From the header (float32: 1.0599999) or given as 1.06: the same 50 px diameter, the same
    picks (they moved by up to 2.9 px)."""
    synthetic = synthetic_micrograph((1024, 1024), n_particles=60, diameter_px=50, snr=0.6, seed=2)
    path = write_mrc(synthetic.image, tmp_path / "m.mrc", 1.06)
    config = preset("default", diameter_angstrom=50 * 1.06)
    from_header = pick_micrograph(read_micrograph(path), config)
    given = pick_micrograph(read_micrograph(path, 1.06), config)
    assert np.array_equal(_xy(from_header), _xy(given))


def test_empty_micrograph_gives_few_picks() -> None:
    empty = synthetic_micrograph((1024, 1024), n_particles=0, diameter_px=40, seed=5)
    picks = pick_micrograph(_micrograph(empty, 1.5), preset("default", diameter_angstrom=60))
    assert len(picks) <= 10


@pytest.mark.parametrize("diameter_angstrom", [60.0, 90.0, 150.0, 180.0])
def test_a_diameter_nearly_as_wide_as_the_micrograph_is_picked_without_error(
        diameter_angstrom: float) -> None:
    """Up to 120 px on a 128 px micrograph (the sessions refuse only as wide or wider): the
    learned template's patch no longer fits the binned image, which raised a ValueError."""
    small = synthetic_micrograph((128, 128), n_particles=2, diameter_px=40, seed=0)
    picks = pick_micrograph(_micrograph(small, 1.5), preset("default", diameter_angstrom=diameter_angstrom))
    assert len(picks) <= 2


def _xy(picks: picker.Picks) -> np.ndarray:
    return np.column_stack([picks.x, picks.y])


def _pick_simulated(conditions: Conditions, seed: int, scale: float = 1.0,
                    **settings: object) -> tuple[picker.Picks, Counts]:
    """Pick a simulated micrograph given ``scale`` x its particles' diameter (and other
    ``settings``): the picks and their score (one-to-one matches within half the true
    diameter)."""
    sample = simulate_micrograph(conditions, seed=seed)
    micrograph = Micrograph(sample.image, conditions.pixel_size_angstrom, Path("simulated.mrc"))
    picks = pick_micrograph(micrograph, preset(
        "default", diameter_angstrom=scale * conditions.diameter_angstrom, **settings))
    true_px = conditions.diameter_angstrom / conditions.pixel_size_angstrom
    return picks, score_distance(_xy(picks), np.column_stack([sample.x, sample.y]), true_px / 2)


def _recall(picks: picker.Picks, xy: np.ndarray, radius_px: float) -> float:
    return score_distance(_xy(picks), xy, radius_px).recall


def test_a_crowded_micrograph_is_picked_even_with_an_overstated_diameter() -> None:
    """700 particles of 26 px packed into 1024 x 1024, picked as 40 px: the given size merges
    neighbours; the smaller size resolves them and is taken."""
    crowded = synthetic_micrograph((1024, 1024), n_particles=700, diameter_px=26, snr=0.5, seed=1)
    truth = np.column_stack([crowded.x, crowded.y])
    config = preset("default", diameter_angstrom=40.0, correct_diameter=False)
    micrograph = _micrograph(crowded, 1.0)
    assert _recall(pick_micrograph(micrograph, config), truth, 13) >= 0.95
    without = preset("default", diameter_angstrom=40.0, crowded_diameter_fraction=0.0,
                     touching_diameters=0.0, correct_diameter=False)
    assert _recall(pick_micrograph(micrograph, without), truth, 13) < 0.85


@pytest.mark.parametrize("given_px", [40.0, 18.0])
def test_the_diameter_check_picks_at_the_size_the_micrograph_shows(given_px: float) -> None:
    """26 px particles given as 40 px (overstated) or 18 px (understated): the learned
    template's plateau moves the picker to about 26 px, with the crowded pass off."""
    crowded = synthetic_micrograph((1024, 1024), n_particles=500, diameter_px=26, snr=0.5, seed=2)
    truth = np.column_stack([crowded.x, crowded.y])
    micrograph = _micrograph(crowded, 1.0)
    checked = pick_micrograph(micrograph, preset("default", diameter_angstrom=given_px,
                                                 crowded_diameter_fraction=0.0))
    assert checked.diameter_px == given_px
    assert 26 / 1.3 <= checked.picked_diameter_px <= 26 * 1.3
    assert _recall(checked, truth, 13) >= 0.95


@pytest.mark.parametrize(("given_px", "measured", "merged"), [
    (40.0, False, False), (26.0, False, True), (18.0, False, False), (26.0, True, False)])
def test_a_diameter_the_check_measured_is_not_taken_for_merged_neighbours(
        monkeypatch: pytest.MonkeyPatch, given_px: float, measured: bool, merged: bool) -> None:
    """Few re-found centres with many new picks a particle away mean merged neighbours only when
    the picks were made at the given diameter, not at one the check shrank or enlarged, nor at
    one measured on the micrographs (``diameter_measured``: --diameter auto)."""
    calls: list[bool] = []

    def spy(*args: object, merged: bool = True, **kwargs: object) -> bool:
        calls.append(merged)
        return False

    monkeypatch.setattr(picker, "resolves_crowding", spy)
    crowded = synthetic_micrograph((1024, 1024), n_particles=500, diameter_px=26, snr=0.5, seed=2)
    picks = pick_micrograph(_micrograph(crowded, 1.0), preset("default", diameter_angstrom=given_px,
                                                              diameter_measured=measured))
    assert (picks.picked_diameter_px == given_px) is (given_px == 26.0)
    assert calls == [merged]


_LATTICE = np.array([(row, col) for row in range(100, 1000, 100) for col in range(100, 1000, 100)],
                    float)
_RING = np.array([(np.cos(angle), np.sin(angle)) for angle in np.linspace(0, 2 * np.pi, 5,
                                                                          endpoint=False)])


@pytest.mark.parametrize(("given", "enlarged", "expected"), [
    (_LATTICE, _LATTICE + 3, True),  # the same particles, re-centred
    ((_LATTICE[:, None] + 36 * _RING).reshape(-1, 2), _LATTICE, True),  # split walls, 80 px shells
    (_LATTICE, _LATTICE[::10] + 50, False),  # a few large objects between the particles
    (_LATTICE, _LATTICE[:40], False),  # fewer than half of them
    (_LATTICE, _LATTICE[:41], True),
    (np.empty((0, 2)), _LATTICE[:3], True),
    (_LATTICE, np.empty((0, 2)), False),
])
def test_enlarged_picks_must_account_for_the_given_size_picks(given: np.ndarray,
                                                              enlarged: np.ndarray,
                                                              expected: bool) -> None:
    assert accounts_for(given, enlarged, 80.0) is expected


_SPLIT = (_LATTICE[:, None] + 20 * _RING[:2]).reshape(-1, 2)  # each particle picked twice


@pytest.mark.parametrize(("given", "enlarged", "expected"), [
    (_SPLIT, _LATTICE, True),  # one pick per particle, on its two halves
    (_LATTICE, _LATTICE + 3, False),  # as many: the curve did not rise, the given size stays
    (_SPLIT, _LATTICE[:40], False),  # half the particles lost
    (_SPLIT, _LATTICE[::10] + 50, False),  # a few large objects
    (_SPLIT, np.empty((0, 2)), False),
])
def test_an_enlargement_the_curve_did_not_rise_to_must_merge_the_given_picks(
        given: np.ndarray, enlarged: np.ndarray, expected: bool) -> None:
    assert merges(given, enlarged, 80.0) is expected


@pytest.mark.parametrize("first", [4, 7])
def test_crowded_shells_given_too_small_a_diameter_are_not_split(first: int) -> None:
    """Four shared apoferritin micrographs tiled and upsampled to 4096 px (the bench's crowded
    4k set), given 0.75 x: the diameter check measures 0.92-0.93 D, but its curve rises only
    1.11-1.15 x to it, as a faint micrograph's flat curve does; picked at 0.75 x, each shell's
    walls were two picks (1373-1377 for 644-693 shells, precision 0.43)."""
    folder = bench_set("apoferritin")
    images = sorted((folder / "images").glob("*.png"))
    sources = [(read_micrograph(image, 1.0).data, coordinates_xy(folder / "truth" / f"{image.stem}.star"))
               for image in images[first:first + 4]]
    image, truth = crowded_micrograph(sources, 4096, 0, seed=first)
    diameter_px = 60.8 * 4096 / (2 * sources[0][0].shape[1])
    picks = pick_micrograph(Micrograph(image, 1.1, Path("crowded.mrc")),
                            preset("default", diameter_angstrom=0.75 * diameter_px * 1.1))
    assert picks.picked_diameter_px >= 0.85 * diameter_px
    assert score_distance(_xy(picks), truth, 0.5 * diameter_px).precision >= 0.7


def test_a_box_sized_diameter_is_not_enlarged_to_contamination() -> None:
    """Simulated 125 Å shells with two contaminations, given 1.6 x (a box size): with the
    template learned from the plain mean of its seeds, the diameter check enlarged to 2 x, where
    the picks were the contamination and a few shells (13 picks, F1 0.06), and only
    :func:`accounts_for` kept the given size (F1 0.77); with unit-norm seeds the check measures
    the shells (1.1 x their diameter; recall 0.77)."""
    conditions = simulated_set("sim-shell-2k").conditions(2, 8)
    sample = simulate_micrograph(conditions, seed=2)
    micrograph = Micrograph(sample.image, conditions.pixel_size_angstrom, Path("shells.mrc"))
    given_angstrom = 1.6 * conditions.diameter_angstrom
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=given_angstrom))
    true_px = conditions.diameter_angstrom / conditions.pixel_size_angstrom
    assert true_px / 1.15 <= picks.picked_diameter_px <= 1.15 * true_px
    truth = np.column_stack([sample.x, sample.y])
    assert _recall(picks, truth, true_px / 2) >= 0.6


def test_faint_particles_given_too_large_a_diameter_are_picked_at_a_smaller_size() -> None:
    """Two-domain particles at low defocus (faint) given 1.33 x: the diameter check's curve
    stays at noise level, and 2 picks reach the floor at that size (recall 0.04); at 0.75 x
    that size 20 do."""
    conditions = Conditions((1024, 1024), 0.9, "two-domain", 110.0, area_fraction=0.35,
                            defocus_angstrom=8000.0)
    sample = simulate_micrograph(conditions, seed=4)
    micrograph = Micrograph(sample.image, conditions.pixel_size_angstrom, Path("faint.mrc"))
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=1.33 * 110.0))
    true_px = 110.0 / conditions.pixel_size_angstrom
    assert picks.picked_diameter_px == pytest.approx(0.75 * 1.33 * true_px)
    assert _recall(picks, np.column_stack([sample.x, sample.y]), true_px / 2) >= 0.5


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(14500.0, 1), (14500.0, 3)])
def test_faint_crowded_particles_given_too_large_a_diameter_are_picked_at_a_smaller_size(
        defocus_angstrom: float, seed: int) -> None:
    """Crowded two-domain particles at low dose in thick ice given 1.33 x: 11-14 picks reach the
    floor at that size, more than the count that starts the fallback, but 6 % of the
    candidates (recall 0.04 and 0.03); at 0.75 x it 4-5 x as many do (recall 0.36 and 0.57)."""
    conditions = Conditions((3072, 3072), 0.9, "two-domain", 111.0, area_fraction=0.45,
                            dose_per_angstrom2=18.0, ice_angstrom=(500.0, 1100.0),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    picks, score = _pick_simulated(conditions, seed, 1.33)
    assert picks.picked_diameter_px == pytest.approx(0.75 * 1.33 * 111.0 / 0.9)
    assert score.recall >= 0.3
    assert score.precision >= 0.9


@pytest.mark.parametrize("seed", [0, 3])
def test_a_smaller_size_that_finds_as_many_decoys_is_not_taken(seed: int) -> None:
    """Six large two-domain particles given 0.6 x, the diameter check off (as the bounds of
    --diameter auto hold it): at 0.75 x that size 3 x as many picks reach the floor, but as
    many decoys do, and the smaller size's picks were noise (precision 0.12-0.15)."""
    conditions = Conditions((2048, 2048), 0.9, "two-domain", 208.0, area_fraction=0.1,
                            ice_angstrom=(300.0, 700.0), defocus_angstrom=20736.0, carbon=True,
                            contaminations=0)
    sample = simulate_micrograph(conditions, seed=seed)
    micrograph = Micrograph(sample.image, conditions.pixel_size_angstrom, Path("sparse.mrc"))
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=0.6 * 208.0,
                                               correct_diameter=False))
    score = score_distance(_xy(picks), np.column_stack([sample.x, sample.y]), 208.0 / 0.9 / 2)
    assert picks.picked_diameter_px == pytest.approx(0.6 * 208.0 / 0.9)
    assert score.precision >= 0.75
    assert score.recall >= 0.8


@pytest.mark.parametrize("seed", [1, 4])
def test_faint_sparse_particles_given_too_small_a_diameter_are_picked_at_a_larger_size(
        seed: int) -> None:
    """Sparse hollow shells at low dose given 0.75 x: the diameter check's central square holds
    too few of them to measure a curve, and at that size a template too small lifts few above
    the floor (recall 0.10 and 0.17); at 4/3 x it more than twice as many reach it."""
    conditions = Conditions((2048, 2048), 1.2, "shell", 113.0, area_fraction=0.1,
                            dose_per_angstrom2=18.0, ice_angstrom=(300.0, 700.0),
                            defocus_angstrom=9000.0, contaminations=0)
    picks, score = _pick_simulated(conditions, seed, 0.75)
    assert picks.picked_diameter_px == pytest.approx(113.0 / conditions.pixel_size_angstrom)
    assert score.recall >= 0.5
    assert score.precision >= 0.8


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(9000.0, 0), (9000.0, 3), (12000.0, 4)])
def test_faint_sparse_particles_given_too_small_a_diameter_are_picked_at_a_purer_larger_size(
        defocus_angstrom: float, seed: int) -> None:
    """Sparse globular particles given 0.75 x: the diameter check cannot measure them, and at 4/3 x
    that size fewer picks reach the floor than at it, but its decoys fall from 0.32-0.54 per pick
    to 0-0.09 (precision 0.56-0.72 at 0.75 x). No crowded pass follows: at 0.7 x the larger size
    it split the last micrograph's particles (precision 0.21)."""
    conditions = Conditions((2048, 2048), 1.01, "globular", 104.0, area_fraction=0.1,
                            dose_per_angstrom2=30.0, ice_angstrom=(300.0, 700.0),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    picks, score = _pick_simulated(conditions, seed, 0.75)
    assert picks.picked_diameter_px == pytest.approx(104.0 / conditions.pixel_size_angstrom)
    assert score.precision >= 0.75
    assert score.recall >= 0.65


def test_faint_crowded_particles_below_two_floor_steps_are_kept() -> None:
    """Crowded tetramers at low defocus (a fresh simulated set, 649 particles): the first step
    below the floor added 118 candidates against 32 decoys, and a second step 163 more, nearly
    all particles (recall 0.40 with the first alone)."""
    conditions = Conditions((2048, 2048), 1.6952975813316045, "tetramer", 101.1169146542944,
                            area_fraction=0.4327828107340676,
                            min_distance_diameters=0.8951991365423049,
                            b_factor_angstrom2=118.24228770194958,
                            dose_per_angstrom2=40.096897932256375,
                            ice_angstrom=(487.3694388317433, 886.083406546122),
                            defocus_angstrom=7517.432930332559, contaminations=0)
    picks, score = _pick_simulated(conditions, 414106000)
    assert score.recall >= 0.55 and score.precision >= 0.95


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(11826.628919275561, 393905002),
                                                        (12735.957881355851, 393905003)])
def test_faint_shells_at_moderate_density_given_too_small_a_diameter_are_picked_at_a_purer_size(
        defocus_angstrom: float, seed: int) -> None:
    """Faint shells at area fraction 0.3 given 0.75 x: too dense for the sparse purity rule, but
    at 4/3 x that size 1.5-1.6 x as many picks reach the floor and its decoys fall from about one
    per pick to 0.1 (precision 0.67-0.69 at 0.75 x)."""
    conditions = Conditions((2048, 2048), 1.2198700032697831, "shell", 112.56653002069082,
                            area_fraction=0.3031565966736768,
                            min_distance_diameters=0.8095960963160171,
                            b_factor_angstrom2=102.76300335453843,
                            dose_per_angstrom2=19.32428247013221,
                            ice_angstrom=(413.33110408355327, 1001.9285161191447),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    picks, score = _pick_simulated(conditions, seed, 0.75)
    assert picks.picked_diameter_px > 0.75 * conditions.diameter_angstrom / conditions.pixel_size_angstrom
    assert score.precision >= 0.9
    assert score.recall >= 0.65


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(7780.841520152666, 272709000),
                                                      (12689.875974592613, 272709002)])
def test_sparse_shells_given_too_small_a_diameter_are_not_taken_for_crowded_by_their_noise(
        defocus_angstrom: float, seed: int) -> None:
    """Sparse hollow shells given 0.75 x: 123-217 picks reach the floor at that size for 80
    particles, with as many decoys (0.99-1.02 per pick), and counted as particles they made the
    micrograph too crowded to try the purer larger size (0.01-0.20 decoys per pick): precision
    0.19-0.25. Sparse is judged by the larger size's picks."""
    conditions = Conditions((3072, 3072), 1.01, "shell", 117.9, area_fraction=0.093,
                            min_distance_diameters=0.8525275370598739,
                            dose_per_angstrom2=43.576440552171775,
                            ice_angstrom=(516.3180007521273, 908.4502304836947),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    _, score = _pick_simulated(conditions, seed, 0.75)
    assert score.precision >= 0.8
    assert score.recall >= 0.8


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(9592.888331915088, 252506001),
                                                      (18681.565611636448, 252506005)])
def test_sparse_particles_are_not_shrunk_to_their_lobes(defocus_angstrom: float,
                                                        seed: int) -> None:
    """Sparse tetramers (169 Å) on carbon given 0.75 x: the diameter check shrank that to 0.50-0.53
    D, one lobe, and picked 32-79 lobes for 22-25 particles (precision 0.29-0.55), though the
    given size's picks lie 1.7-1.8 given diameters apart: there were no neighbours to separate."""
    conditions = Conditions((2048, 2048), 1.01, "tetramer", 169.0, area_fraction=0.189,
                            min_distance_diameters=0.9923998484116614,
                            dose_per_angstrom2=33.67096701873195,
                            ice_angstrom=(216.85907782092903, 689.0324384366716),
                            defocus_angstrom=defocus_angstrom, carbon=True, contaminations=0)
    picks, score = _pick_simulated(conditions, seed, 0.75)
    assert picks.picked_diameter_px == pytest.approx(0.75 * 169.0 / 1.01)
    assert score.precision >= 0.85
    assert score.recall >= 0.85


@pytest.mark.parametrize("seed", [2, 5])
def test_picks_on_contamination_far_above_the_particles_are_dropped(seed: int) -> None:
    """Three dark contamination blobs score 5-10 x the particles (48-106 against 10-12): none of
    them is picked, and the particles still are."""
    conditions = Conditions((1024, 1024), 2.0, diameter_angstrom=150.0, contaminations=3,
                            carbon=seed % 2 == 1)
    sample = simulate_micrograph(conditions, seed=seed)
    micrograph = Micrograph(sample.image, conditions.pixel_size_angstrom, Path("dirty.mrc"))
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=150.0))
    on_ice = sample.open_ice[np.rint(picks.y).astype(int), np.rint(picks.x).astype(int)]
    assert on_ice.all()
    assert _recall(picks, np.column_stack([sample.x, sample.y]), 75.0 / 2) >= 0.7


@pytest.mark.parametrize("seed", [2, 12])
def test_faint_particles_beside_carbon_and_contamination_are_picked(seed: int) -> None:
    """Hollow shells in thick ice beside a carbon film and two contamination blobs: the template
    responses' sigma over the whole image put the threshold above every particle (recall 0.17
    and 0.0); the sigma of its quieter parts does not."""
    conditions = Conditions((2048, 2048), 1.14, "shell", 230.0, area_fraction=0.25,
                            dose_per_angstrom2=30.0, ice_angstrom=(500.0, 1100.0), carbon=True,
                            contaminations=2, defocus_angstrom=12680.0)
    sample = simulate_micrograph(conditions, seed=seed)
    micrograph = Micrograph(sample.image, conditions.pixel_size_angstrom, Path("carbon.mrc"))
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=230.0))
    true_px = 230.0 / conditions.pixel_size_angstrom
    assert _recall(picks, np.column_stack([sample.x, sample.y]), true_px / 2) >= 0.5


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(8000.0, 1), (9000.0, 4)])
def test_faint_crowded_particles_are_separated_by_the_smaller_size(defocus_angstrom: float,
                                                                   seed: int) -> None:
    """Crowded tetramers in thick ice at low defocus: most are under the floor of 4, so the
    smaller size's picks above it were too few for a crowded micrograph (recall 0.52 and 0.48);
    counted down to the floor the given size's picks were kept to, they are enough, and the
    smaller size separates the merged neighbours."""
    conditions = Conditions((2048, 2048), 1.34, "tetramer", 123.0, area_fraction=0.45,
                            dose_per_angstrom2=30.0, ice_angstrom=(500.0, 1100.0),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    _, score = _pick_simulated(conditions, seed)
    assert score.recall >= 0.65
    assert score.precision >= 0.9


@pytest.mark.parametrize(("conditions", "seed"), [
    (Conditions((2048, 2048), 1.01, "globular", 116.4, area_fraction=0.219,
                min_distance_diameters=0.8955187957348479, dose_per_angstrom2=40.35020046430914,
                ice_angstrom=(417.98194882075916, 984.480402202992),
                defocus_angstrom=12873.842131324513, contaminations=0), 222204000),
    (Conditions((2048, 2048), 0.83, "tetramer", 123.9, area_fraction=0.314,
                min_distance_diameters=0.9340702749239329, dose_per_angstrom2=34.21844500102489,
                ice_angstrom=(477.2842701078162, 849.4035576106403),
                defocus_angstrom=15878.103634708372, contaminations=1), 222202001),
])
def test_particles_a_smaller_size_separated_are_not_split_by_a_still_smaller_one(
        conditions: Conditions, seed: int) -> None:
    """Particles given 1.33 x: the first smaller size (0.93 D) separates merged neighbours; the
    next (0.65 D) re-found 0.65-0.69 of its picks and added 0.4-0.5 per pick, parts of particles
    and noise between them (precision 0.44-0.60). Picks a smaller size made must be re-found
    nearly all (0.7), as when it adds only the neighbours that are left."""
    _, score = _pick_simulated(conditions, seed, 1.33)
    assert score.precision >= 0.9
    assert score.recall >= 0.7


@pytest.mark.parametrize(("conditions", "seed"), [
    (Conditions((2048, 2048), 1.34, "two-domain", 155.1, area_fraction=0.312,
                min_distance_diameters=0.992843660300892, dose_per_angstrom2=40.220494353201026,
                ice_angstrom=(450.75512227763187, 892.0807980610612),
                defocus_angstrom=12407.787869722757, carbon=True, contaminations=0), 232302003),
    (Conditions((2048, 2048), 0.66, "two-domain", 175.6, area_fraction=0.496,
                min_distance_diameters=0.9559844272319673, dose_per_angstrom2=30.387374182768596,
                ice_angstrom=(350.7105104649346, 819.2309201234984),
                defocus_angstrom=10872.262063277158, contaminations=0), 212106004),
])
def test_particles_the_diameter_check_shrank_to_one_domain_are_not_split_further(
        conditions: Conditions, seed: int) -> None:
    """Two-domain particles given 0.75 x, which the diameter check shrinks to 0.47-0.48 D (one
    domain): a smaller size still re-found 0.34-0.36 of those picks and added 1.6-2.2 per pick,
    which only merged neighbours may do (precision 0.10-0.18). The check measured particles of
    that size, so its picks are not merged ones."""
    _, score = _pick_simulated(conditions, seed, 0.75)
    assert score.precision >= 0.6
    assert score.recall >= 0.9


@pytest.mark.parametrize("seed", [1, 2])
def test_noise_around_particles_in_thick_ice_is_not_taken_for_crowding(seed: int) -> None:
    """Globular particles in thick ice at a high dose, given 0.75 x (the diameter check keeps it):
    the smaller size re-finds nearly every pick and adds 1-1.5 noise picks per pick around them,
    as many as its decoys (precision 0.26-0.29 before the decoy count)."""
    conditions = Conditions((2048, 2048), 0.9, "globular", 133.0, area_fraction=0.25,
                            dose_per_angstrom2=50.0, ice_angstrom=(500.0, 1100.0),
                            defocus_angstrom=12000.0, contaminations=0)
    _, score = _pick_simulated(conditions, seed, 0.75)
    assert score.precision >= 0.9
    assert score.recall >= 0.8


@pytest.mark.parametrize(("scale", "measured"), [(0.75, False), (0.768, True)])
@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(8747.33494298059, 333308000),
                                                        (9651.355574940424, 333308001)])
def test_sparse_two_domain_particles_are_not_split_into_halves(
        defocus_angstrom: float, seed: int, scale: float, measured: bool) -> None:
    """Sparse two-domain particles given 0.75 x: a smaller size splits them into their halves
    and adds noise, 1.16-1.19 x as many picks as its decoys reach the floor (precision 0.25-0.29
    when it was taken; 0.74-0.80 at the given size). At 0.768 x, where ``--diameter auto``
    measured them, it reaches 1.28-1.34 x its decoys, but picks at a measured diameter are not
    merged neighbours, so it must re-find nearly all of them (precision 0.25-0.28 when it was
    taken, 0.72-0.87 not)."""
    conditions = Conditions((2048, 2048), 0.8719360817910234, "two-domain", 121.30262927706471,
                            area_fraction=0.221462764327006,
                            min_distance_diameters=0.9375958377729431,
                            defocus_angstrom=defocus_angstrom, b_factor_angstrom2=146.2183858937696,
                            dose_per_angstrom2=56.69697747079795,
                            ice_angstrom=(202.55484169678195, 609.5389151831893),
                            contaminations=0)
    _, score = _pick_simulated(conditions, seed, scale, diameter_measured=measured)
    assert score.precision >= 0.6
    assert score.recall >= 0.75


def test_crowded_shells_given_too_large_gain_the_few_neighbours_they_merged() -> None:
    """Crowded hollow shells given 1.33 x (checked to 1.04 x): the smaller size re-finds 0.74 of
    the picks and adds 0.26 per pick, which the 0.3 asked when fewer are re-found refused (recall
    0.62)."""
    conditions = Conditions((2048, 2048), 1.06, "shell", 207.0, area_fraction=0.45,
                            dose_per_angstrom2=50.0, ice_angstrom=(300.0, 700.0),
                            defocus_angstrom=11805.0, carbon=True, contaminations=0)
    _, score = _pick_simulated(conditions, 2, 1.33)
    assert score.recall >= 0.72
    assert score.precision >= 0.95


@pytest.mark.parametrize(("defocus_angstrom", "seed"), [(9000.0, 0), (12000.0, 0)])
def test_faint_crowded_particles_given_too_large_are_judged_at_their_own_floor(
        defocus_angstrom: float, seed: int) -> None:
    """Crowded tetramers at low dose in thick ice, given 1.33 x their diameter: the given size
    keeps its picks down to a lowered floor, and judged only above the floor the smaller size's
    picks re-found too few of them (recall 0.17 and 0.28); judged at that floor, they separate
    the merged neighbours."""
    conditions = Conditions((2048, 2048), 1.33, "tetramer", 116.0, area_fraction=0.45,
                            dose_per_angstrom2=18.0, ice_angstrom=(500.0, 1100.0),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    _, score = _pick_simulated(conditions, seed, 1.33)
    assert score.recall >= 0.45
    assert score.precision >= 0.9


@pytest.mark.parametrize(("scale", "defocus_angstrom", "seed"), [(1.0, 9000.0, 2), (1.33, 12000.0, 2)])
def test_faint_crowded_particles_under_the_floor_are_told_from_noise_by_decoys(
        scale: float, defocus_angstrom: float, seed: int) -> None:
    """Crowded tetramers at low dose in thick ice whose candidates' counts look like a noise tail
    below the floor (recall 0.16 and 0.06): the decoys show they are not."""
    conditions = Conditions((2048, 2048), 1.33, "tetramer", 116.0, area_fraction=0.45,
                            dose_per_angstrom2=18.0, ice_angstrom=(500.0, 1100.0),
                            defocus_angstrom=defocus_angstrom, contaminations=0)
    _, score = _pick_simulated(conditions, seed, scale)
    assert score.recall >= 0.5
    assert score.precision >= 0.75


@pytest.mark.parametrize("seed", range(6))
def test_noise_alone_is_picked_at_the_given_size(seed: int) -> None:
    empty = synthetic_micrograph((1024, 1024), n_particles=0, diameter_px=40, seed=seed)
    picks = pick_micrograph(_micrograph(empty, 1.5), preset("default", diameter_angstrom=60))
    assert picks.picked_diameter_px == 40


def _shells(seed: int) -> tuple[Micrograph, np.ndarray]:
    """Dark hollow shells 72 px across (apoferritin-like) on a 90 px lattice in white noise, and
    their centres (row, col)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(1024, 1024)).astype(np.float32)
    centres = np.array([(row, col) for row in range(60, 1000, 90) for col in range(60, 1000, 90)])
    yy, xx = np.mgrid[:1024, :1024]
    for row, col in centres:
        image[np.abs(np.hypot(yy - row, xx - col) - 26) <= 10] -= 0.6
    return Micrograph(image, 1.0, Path("shells.mrc")), centres


def test_hollow_particles_are_not_split_by_the_smaller_size() -> None:
    """Dark hollow shells (apoferritin-like) at the right diameter: the smaller size picks their
    walls, which moves the centres and adds no particle, so the given size's picks stay."""
    micrograph, centres = _shells(3)
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=72.0))
    assert len(picks) == len(centres)
    assert _recall(picks, centres[:, ::-1].astype(float), 36) == 1.0
    for understated in (61.0, 54.0):  # the given size already splits some: still not smaller
        with_smaller = pick_micrograph(micrograph, preset("default", diameter_angstrom=understated))
        without = pick_micrograph(micrograph, preset("default", diameter_angstrom=understated,
                                                     crowded_diameter_fraction=0.0))
        np.testing.assert_array_equal(with_smaller.x, without.x)


@pytest.mark.parametrize(("seed", "centring_radius_diameters", "median_offset_diameters"),
                         [(3, 0.5, (0.0, 0.02)), (4, 0.5, (0.0, 0.02)), (3, 0.0, (0.04, 0.08))])
def test_picks_are_centred_on_hollow_particles(seed: int, centring_radius_diameters: float,
                                               median_offset_diameters: tuple[float, float]) -> None:
    """The mean of a shell's pixels above threshold lies off its centre (one side of the wall
    responds more strongly in the noise); centred on the response, the picks lie on it."""
    micrograph, centres = _shells(seed)
    config = preset("default", diameter_angstrom=72.0,
                    centring_radius_diameters=centring_radius_diameters)
    picks = pick_micrograph(micrograph, config)
    offsets = np.hypot(*(np.column_stack([picks.y, picks.x])[:, None, :] - centres[None]).transpose(
        2, 0, 1)).min(axis=1)
    assert len(picks) == len(centres)
    low, high = median_offset_diameters
    assert low <= np.median(offsets) / 72.0 < high


@pytest.mark.parametrize("diameter_scale", [0.75, 1.0, 1.33])
def test_each_size_is_filtered_once(diameter_scale: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The picks are centred on the response they were found on: no size (binning, pipeline,
    diameter) is filtered twice."""
    micrograph, _ = _shells(3)
    filtered = []

    def counted(image: np.ndarray, steps: list[dict[str, object]], diameter_px: float) -> np.ndarray:
        filtered.append((image.shape, repr(steps), round(diameter_px, 6)))
        return apply_pipeline(image, steps, diameter_px)

    monkeypatch.setattr(candidates, "apply_pipeline", counted)
    picks = pick_micrograph(micrograph, preset("default", diameter_angstrom=72.0 * diameter_scale))
    assert len(picks) > 0
    assert len(filtered) == len(set(filtered))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_sparse_noisy_micrograph_keeps_the_given_size(seed: int) -> None:
    """20 faint particles: the smaller size's finer binning adds noise picks far from them."""
    sparse = synthetic_micrograph((1024, 1024), n_particles=20, snr=0.2, seed=seed)
    micrograph = _micrograph(sparse, sparse.pixel_size_angstrom)
    config = preset("default", diameter_angstrom=sparse.diameter_angstrom)
    with_smaller = pick_micrograph(micrograph, config)
    without = pick_micrograph(micrograph, preset("default", diameter_angstrom=sparse.diameter_angstrom,
                                                 crowded_diameter_fraction=0.0))
    np.testing.assert_array_equal(with_smaller.x, without.x)


def test_picks_respect_minimum_distance_and_edges(synthetic: SyntheticMicrograph) -> None:
    config = preset("default", diameter_angstrom=60, min_distance_diameters=1.5)
    picks = pick_micrograph(_micrograph(synthetic, 1.5), config)
    xy = np.column_stack([picks.x, picks.y])
    distances = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(distances, np.inf)
    assert distances.min() >= 1.5 * 40 - 2
    assert (xy >= 20 - 2).all() and (xy <= 768 - 20 + 2).all()


def test_seed_preset_runs_kmeans_with_100_clusters(synthetic: SyntheticMicrograph) -> None:
    config = preset("seed", diameter_angstrom=60, min_distance_diameters=0, edge_diameters=0)
    picks = pick_micrograph(_micrograph(synthetic, 1.5), config)
    assert 50 <= len(picks) <= 100


def test_missing_pixel_size_is_a_clear_error(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "m.png"), (np.random.default_rng(0).random((64, 64)) * 255)
                .astype(np.uint8))
    with pytest.raises(BadInputError, match="m.png.*--pixel-size"):
        pick_micrograph(read_micrograph(tmp_path / "m.png"), preset("default", diameter_angstrom=60))


@pytest.mark.parametrize(("name", "diameter_px", "min_recall", "min_precision"),
                         [("apoferritin", 60.8, 0.8, 0.85), ("ribosome80s-10028", 56.0, 0.9, 0.65)])
def test_default_preset_on_real_micrographs_stays_above_a_generous_floor(
        name: str, diameter_px: float, min_recall: float, min_precision: float) -> None:
    folder = bench_set(name)
    config = preset("default", diameter_angstrom=diameter_px)
    total = Counts(0, 0, 0)
    for image in sorted((folder / "images").glob("*.png"))[:4]:
        picks = pick_micrograph(read_micrograph(image, pixel_size_angstrom=1.0), config)
        truth = read_coordinates(folder / "truth" / f"{image.stem}.star")
        total = total + score_distance(np.column_stack([picks.x, picks.y]),
                                       truth[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(),
                                       0.5 * diameter_px)
    assert total.recall >= min_recall and total.precision >= min_precision


@pytest.mark.parametrize("seed", [0, 2])
def test_faint_particles_straddling_the_floor_are_kept(monkeypatch: pytest.MonkeyPatch,
                                                       seed: int) -> None:
    """60 faint particles (contrast 0.16 noise sigmas): the floor alone drops 8-18 % of them."""
    faint = synthetic_micrograph((1024, 1024), n_particles=60, diameter_px=40, snr=0.16, seed=seed)
    truth = np.column_stack([faint.x, faint.y])
    config = preset("default", diameter_angstrom=60)
    kept = score_distance(_xy(pick_micrograph(_micrograph(faint, 1.5), config)), truth, 20)
    monkeypatch.setattr(picker, "faint_floor", lambda merit, floor: floor)
    floored = score_distance(_xy(pick_micrograph(_micrograph(faint, 1.5), config)), truth, 20)
    assert kept.recall >= floored.recall + 0.05 and kept.f1 > floored.f1


@pytest.mark.parametrize("seed", range(8))
def test_noise_alone_never_lowers_the_floor(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    empty = _micrograph(synthetic_micrograph((1024, 1024), n_particles=0, diameter_px=40,
                                             seed=seed), 1.5)
    config = preset("default", diameter_angstrom=60)
    picks = len(pick_micrograph(empty, config))
    monkeypatch.setattr(picker, "faint_floor", lambda merit, floor: floor)
    assert picks == len(pick_micrograph(empty, config))


def test_picking_does_not_load_numpy_ma() -> None:
    """np.median and np.percentile import numpy.ma (15-50 ms of every start-up) to check for
    masked arrays; the picker's own order statistics do not."""
    code = ("import sys; from pathlib import Path; import numpy as np\n"
            "from cryostream.config import preset\n"
            "from cryostream.io import Micrograph\n"
            "from cryostream.picker import pick_micrograph\n"
            "image = np.random.default_rng(1).normal(size=(512, 512)).astype(np.float32)\n"
            "rows, cols = np.mgrid[:512, :512]\n"
            "for row in range(64, 512, 96):\n"
            "    for col in range(64, 512, 96):\n"
            "        image[np.hypot(rows - row, cols - col) <= 20] -= 1.0\n"
            "picks = pick_micrograph(Micrograph(image, 1.0, Path('m.mrc')),\n"
            "                        preset('default', diameter_angstrom=40))\n"
            "assert len(picks) >= 16, len(picks)\n"
            "print('numpy.ma' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("seed", [0, 1])
def test_touching_particles_in_a_crowded_field_are_each_picked(seed: int) -> None:
    """Crowded hollow shells (area fraction 0.45, centres down to 0.8 diameters apart): where two
    touch, their pixels make one cluster and one pick (recall 0.74-0.76), while the learned
    template's response peaks on each (:mod:`cryostream.touching`)."""
    conditions = Conditions((2048, 2048), 1.2, "shell", 140.0, area_fraction=0.45,
                            min_distance_diameters=0.8, ice_angstrom=(350.0, 450.0),
                            defocus_angstrom=12000.0, contaminations=0)
    picks, score = _pick_simulated(conditions, seed)
    assert score.recall >= 0.8
    assert score.precision >= 0.95
    assert _pick_simulated(conditions, seed, touching_diameters=0.0)[1].recall < 0.78
