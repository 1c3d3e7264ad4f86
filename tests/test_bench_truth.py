"""The union-of-discs fit that turns label masks of drawn discs into truth centres."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import nearby_data

from cryostream.bench.truth import binary_mask, drawn_radius_px, fit_discs, fit_mask_files, mask_files
from cryostream.evaluation import coordinates_xy
from cryostream.metrics import match_distance

RADIUS_PX = 12
# isolated discs, a touching pair, an overlapping pair, a chain of three, one cut by the border
CENTRES = np.array([[40, 40], [150, 40], [40, 150], [100, 120], [124, 120], [180, 160],
                    [200, 160], [60, 220], [80, 230], [100, 220], [5, 100], [220, 60]], float)


def drawn_mask(centres: np.ndarray, radius_px: float, shape: tuple[int, int] = (256, 256),
               scale: int = 1) -> np.ndarray:
    """Discs drawn as a labeller would, at ``scale`` times the resolution (grey, 0-255)."""
    mask = np.zeros((shape[0] * scale, shape[1] * scale), np.uint8)
    for x, y in centres:
        cv2.circle(mask, (int(round(x * scale)), int(round(y * scale))),
                   int(round(radius_px * scale)), 255, -1)
    return mask


def test_touching_and_overlapping_discs_are_counted_one_by_one() -> None:
    mask = binary_mask(drawn_mask(CENTRES, RADIUS_PX))
    fitted = fit_discs(mask, drawn_radius_px([mask]))
    matched = match_distance(fitted, CENTRES, 2.0)
    assert len(fitted) == len(CENTRES) and len(matched) == len(CENTRES)
    # whereas the mask's blobs are fewer than the discs
    assert cv2.connectedComponents(mask.astype(np.uint8))[0] - 1 <= len(CENTRES) - 3


def test_drawn_radius_comes_from_the_single_discs() -> None:
    mask = binary_mask(drawn_mask(CENTRES, RADIUS_PX))
    assert drawn_radius_px([mask]) == pytest.approx(RADIUS_PX, rel=0.03)
    with pytest.raises(ValueError, match="no single disc"):
        drawn_radius_px([np.zeros((32, 32), bool)])


def test_coarse_grey_masks_are_fitted_at_the_image_size() -> None:
    # labels drawn at 4x, published at a quarter of the image (anti-aliased), as CryoPPP does
    fine = drawn_mask(CENTRES, RADIUS_PX, (256, 256), 4)
    published = cv2.resize(fine, (256, 256), interpolation=cv2.INTER_AREA)
    mask = binary_mask(published, (1024, 1024))
    assert np.mean(mask != (fine > 0)) < 0.01
    fitted = fit_discs(mask, drawn_radius_px([mask]), slack_px=4.0)
    assert len(match_distance(fitted, CENTRES * 4, 6.0)) == len(CENTRES) == len(fitted)


def test_fewer_new_pixels_than_the_stop_fraction_add_no_disc() -> None:
    mask = binary_mask(drawn_mask(CENTRES[:1], RADIUS_PX))
    assert len(fit_discs(mask, RADIUS_PX)) == 1
    assert len(fit_discs(mask, RADIUS_PX, min_new_fraction=1.01)) == 0
    assert len(fit_discs(np.zeros((64, 64), bool), RADIUS_PX)) == 0


def test_command_writes_truth_at_the_micrograph_size(tmp_path: Path) -> None:
    masks, images = tmp_path / "labels", tmp_path / "images"
    masks.mkdir()
    images.mkdir()
    published = cv2.resize(drawn_mask(CENTRES, RADIUS_PX, (256, 256), 4), (256, 256),
                           interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(masks / "mic.png"), published)
    noise = np.random.default_rng(0).integers(0, 255, (1024, 1024), dtype=np.uint8)
    cv2.imwrite(str(images / "mic.png"), noise)
    run = subprocess.run([sys.executable, "-m", "cryostream", "bench-truth", str(masks),
                          "--images", str(images), "-o", str(tmp_path / "truth")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert f"{len(CENTRES)} centres in 1 masks" in run.stderr
    written = coordinates_xy(tmp_path / "truth" / "mic.star")
    assert len(match_distance(written, CENTRES * 4, 6.0)) == len(CENTRES)


def test_the_published_10028_centres_are_rebuilt_from_their_masks() -> None:
    masks = mask_files(nearby_data("data/bench-extra/cryoppp-masks/10028"))
    truth = nearby_data("shared/bench/ribosome80s-10028/truth")
    fit = fit_mask_files(masks, [None] * len(masks))
    assert fit.radius_px == pytest.approx(28.0, abs=0.1)
    matched = total = 0
    for name, xy in fit.centres.items():
        published = coordinates_xy(truth / f"{name}.star")
        pairs = match_distance(xy, published, 3.0)
        assert len(xy) == len(published)
        matched, total = matched + len(pairs), total + len(published)
    assert (matched, total) == (865, 865)
