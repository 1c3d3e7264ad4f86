"""Overlays: circles at the picks with the particle's diameter (also after downscaling), classes
coloured by one-to-one matching, a legend; the preview command end to end."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_cryostream, write_coordinates

from cryostream.bench.synthetic import SyntheticMicrograph
from cryostream.metrics import score_distance
from cryostream.preview import (
    FALSE_POSITIVE_RGB,
    MISS_RGB,
    PICK_RGB,
    TRUE_POSITIVE_RGB,
    display_image,
    draw_overlay,
    overlay_counts,
)


def flat_image(rows: int, cols: int) -> np.ndarray:
    return np.random.default_rng(0).normal(100.0, 1.0, (rows, cols)).astype(np.float32)


def near(pixel: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    """Whether ``pixel`` is ``rgb`` blended with grey (anti-aliased lines on a grey image): its
    chroma (pixel minus its mean) points the way ``rgb``'s does."""
    chroma = pixel.astype(float) - pixel.mean()
    target = np.array(rgb, float) - np.mean(rgb)
    size = np.linalg.norm(chroma)
    return bool(size > 20 and chroma @ target / (size * np.linalg.norm(target)) > 0.97)


def ring_fraction(overlay: np.ndarray, centre_xy: tuple[float, float], radius: float,
                  rgb: tuple[int, int, int]) -> float:
    """Fraction of directions around ``centre_xy`` in which a pixel at ``radius`` (+- 1 px) is
    drawn in ``rgb``."""
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    hits = []
    for angle in angles:
        points = [(round(centre_xy[1] + r * np.sin(angle)), round(centre_xy[0] + r * np.cos(angle)))
                  for r in (radius - 1, radius, radius + 1)]
        hits.append(any(near(overlay[row, col], rgb) for row, col in points))
    return float(np.mean(hits))


def test_circle_has_the_particle_diameter_at_the_pick() -> None:
    overlay = draw_overlay(flat_image(400, 500), np.array([[200.0, 150.0]]), 60.0)
    assert overlay.dtype == np.uint8 and overlay.shape[1] == 500 and overlay.shape[2] == 3
    assert overlay.shape[0] > 400  # legend bar below the image
    assert ring_fraction(overlay, (200, 150), 30, PICK_RGB) > 0.95
    assert ring_fraction(overlay, (200, 150), 20, PICK_RGB) == 0.0
    assert ring_fraction(overlay, (200, 150), 40, PICK_RGB) == 0.0


def test_big_micrographs_are_downscaled_with_their_circles() -> None:
    overlay = draw_overlay(flat_image(3000, 4000), np.array([[1000.0, 2000.0]]), 120.0,
                           max_side_px=1000)
    assert overlay.shape[1] == 1000
    centre = ((1000 + 0.5) / 4 - 0.5, (2000 + 0.5) / 4 - 0.5)
    assert ring_fraction(overlay, centre, 15, PICK_RGB) > 0.95
    assert ring_fraction(overlay, centre, 25, PICK_RGB) == 0.0


def test_truth_colours_true_positives_false_positives_and_misses() -> None:
    truth = np.array([[100.0, 100.0], [300.0, 100.0]])
    picks = np.array([[104.0, 98.0], [300.0, 300.0]])
    overlay = draw_overlay(flat_image(400, 400), picks, 50.0, truth)
    assert ring_fraction(overlay, (104, 98), 25, TRUE_POSITIVE_RGB) > 0.95
    assert ring_fraction(overlay, (300, 300), 25, FALSE_POSITIVE_RGB) > 0.95
    dashed = ring_fraction(overlay, (300, 100), 25, MISS_RGB)
    assert 0.3 < dashed < 0.8  # drawn, and dashed
    legend = overlay[400:]
    for rgb in (TRUE_POSITIVE_RGB, FALSE_POSITIVE_RGB, MISS_RGB):
        assert any(near(pixel, rgb) for pixel in legend.reshape(-1, 3))


@pytest.mark.parametrize("width", [480, 2048])
def test_caption_is_a_readable_line_below_the_legend(width: int) -> None:
    image, pick = flat_image(300, width), np.array([[200.0, 150.0]])
    plain = draw_overlay(image, pick, 60.0)
    captioned = draw_overlay(image, pick, 60.0, caption="m.mrc · particle diameter 60 Å = 40 px "
                             "at 1.5 Å/px")
    bar = captioned[plain.shape[0]:]
    assert bar.shape[0] >= 26  # text of at least 14 px, also on a report thumbnail (480 px)
    assert 0.01 < (bar.max(axis=2) > 200).mean() < 0.5  # light text on the dark bar


def test_counts_agree_with_the_scoring() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 1000, (40, 2))
    picks = np.vstack([truth[:30] + rng.normal(0, 3, (30, 2)), rng.uniform(0, 1000, (10, 2))])
    counts = overlay_counts(picks, 40.0, truth)
    scored = score_distance(picks, truth, 20.0)
    assert counts == {"picks": 40, "true positives": scored.true_positives,
                      "false positives": scored.false_positives, "misses": scored.false_negatives}
    assert overlay_counts(np.empty((0, 2)), 40.0) == {"picks": 0}


def test_display_image_stretches_and_low_passes() -> None:
    image = flat_image(300, 300)
    sharp, scale = display_image(image, 40.0)
    smooth, _ = display_image(image, 40.0, low_pass_diameters=0.1)
    assert sharp.dtype == np.uint8 and tuple(scale) == (1.0, 1.0)
    assert sharp.min() == 0 and sharp.max() == 255
    neighbour_difference = [np.abs(np.diff(im.astype(float), axis=1)).mean() for im in (sharp, smooth)]
    assert neighbour_difference[1] < neighbour_difference[0] / 2
    with pytest.raises(ValueError, match="2-D"):
        display_image(np.zeros((4, 4, 3)), 40.0)


def write_picks(synthetic: SyntheticMicrograph, path: Path, with_provenance: bool = False) -> Path:
    """The synthetic truth as a STAR file; ``with_provenance`` adds cryostream's header (which
    records the diameter, 40 px)."""
    return write_coordinates(path, np.column_stack([synthetic.x, synthetic.y]),
                             40.0 if with_provenance else None)


def test_preview_command_picks_and_colours_against_truth(tmp_path: Path, synthetic_mrc: Path,
                                                         synthetic: SyntheticMicrograph) -> None:
    truth = write_picks(synthetic, tmp_path / "truth.star")
    out = tmp_path / "overlay.png"
    result = run_cryostream("preview", str(synthetic_mrc), "--truth", str(truth), "--diameter",
                            "60", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "true positives" in result.stderr and str(out) in result.stderr
    overlay = cv2.imread(str(out))
    assert overlay.shape[1] == synthetic.image.shape[1] and overlay.shape[0] > synthetic.image.shape[0]
    true_positives = int(result.stderr.split(" true positives")[0].rsplit(" ", 1)[-1])
    assert true_positives >= 0.8 * len(synthetic.x)


def test_preview_command_reads_a_picks_file(tmp_path: Path, synthetic_mrc: Path,
                                            synthetic: SyntheticMicrograph) -> None:
    picks = write_picks(synthetic, tmp_path / "mic_autopick.star", True)
    out = tmp_path / "overlay.jpg"
    result = run_cryostream("preview", str(synthetic_mrc), str(picks), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{len(synthetic.x)} picks" in result.stderr
    assert cv2.imread(str(out)) is not None
    bare = write_picks(synthetic, tmp_path / "bare.star")
    result = run_cryostream("preview", str(synthetic_mrc), str(bare), "-o", str(out))
    assert result.returncode == 2 and "bare.star: records no particle diameter" in result.stderr


@pytest.mark.parametrize("args, message", [
    ([], "--diameter"),
    (["-o", "overlay.gif", "--diameter", "60"], "overlay.gif"),
    (["missing_autopick.star"], "missing_autopick.star"),
])
def test_preview_errors_are_one_line(tmp_path: Path, synthetic_mrc: Path, args: list[str],
                                     message: str) -> None:
    result = run_cryostream("preview", str(synthetic_mrc), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
