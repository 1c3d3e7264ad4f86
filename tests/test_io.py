from pathlib import Path

import cv2
import mrcfile
import numpy as np
import pytest

from cryostream.bench.synthetic import write_mrc
from cryostream.io import BadInputError, read_header, read_micrograph


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.float32, np.uint16, np.float16])
def test_reads_every_common_mrc_mode(tmp_path: Path, dtype: type) -> None:
    data = (np.arange(64 * 48).reshape(48, 64) % 100).astype(dtype)
    with mrcfile.new(tmp_path / "m.mrc") as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 1.34
    micrograph = read_micrograph(tmp_path / "m.mrc")
    assert micrograph.data.dtype == np.float32
    assert micrograph.shape == (48, 64)
    assert micrograph.pixel_size_angstrom == pytest.approx(1.34, abs=1e-3)
    np.testing.assert_allclose(micrograph.data, data.astype(np.float32))


def test_stack_is_averaged_and_override_wins(tmp_path: Path) -> None:
    frames = np.stack([np.full((32, 32), v, np.float32) for v in (1, 3)])
    frames[:, 0, 0] = 10
    with mrcfile.new(tmp_path / "movie.mrc") as mrc:
        mrc.set_data(frames)
        mrc.voxel_size = 0.8
    micrograph = read_micrograph(tmp_path / "movie.mrc", pixel_size_angstrom=1.2)
    assert micrograph.data[1, 1] == pytest.approx(2.0)
    assert micrograph.pixel_size_angstrom == 1.2


def _png(path: Path) -> Path:
    cv2.imwrite(str(path), np.zeros((30, 50), np.uint8))
    return path


@pytest.mark.parametrize(("name", "make", "shape", "frames", "pixel_size", "unset"), [
    ("m.mrc", lambda p: write_mrc(np.ones((30, 50)), p, 1.5), (30, 50), 1, 1.5, False),
    ("m.mrc", lambda p: write_mrc(np.ones((30, 50)), p, 1.0), (30, 50), 1, 1.0, True),
    ("m.mrc", lambda p: write_mrc(np.ones((3, 30, 50)), p, 0.8), (30, 50), 3, 0.8, False),
    ("m.mrc", lambda p: write_mrc(np.ones((30, 50)), p, 0.0), (30, 50), 1, None, False),
    ("m.png", _png, (30, 50), 1, None, False),
])
def test_header_is_read_without_the_pixels(tmp_path: Path, name: str, make, shape: tuple[int, int],
                                           frames: int, pixel_size: float | None,
                                           unset: bool) -> None:
    header = read_header(make(tmp_path / name))
    assert (header.shape, header.frames, header.pixel_size_looks_unset) == (shape, frames, unset)
    assert header.pixel_size_angstrom == pytest.approx(pixel_size)


@pytest.mark.parametrize("pixel_size", [1.35, 1.06, 0.83, 1.1, 0.8345, 3.1416])
def test_the_header_pixel_size_is_read_as_written(tmp_path: Path, pixel_size: float) -> None:
    """Not the float32 cell length over the count (1.3500000238 for 1.35)."""
    path = write_mrc(np.arange(30 * 57).reshape(30, 57), tmp_path / "m.mrc", pixel_size)
    assert read_micrograph(path).pixel_size_angstrom == pixel_size
    assert read_header(path).pixel_size_angstrom == pixel_size


def test_unreadable_header_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(BadInputError, match=r"bad\.png: its header cannot be read"):
        read_header(tmp_path / "bad.png")


def test_reads_png_with_16_bits(tmp_path: Path) -> None:
    image = (np.arange(40 * 40).reshape(40, 40) * 30).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "m.png"), image)
    micrograph = read_micrograph(tmp_path / "m.png")
    assert micrograph.pixel_size_angstrom is None
    assert micrograph.data.max() == image.max()


def _truncated(path: Path) -> Path:
    write_mrc(np.ones((64, 64)), path, 1.5)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _nan(path: Path) -> Path:
    data = np.ones((64, 64), np.float32)
    data[3, 3] = np.nan
    return write_mrc(data, path, 1.5)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: _truncated(p), "still being written"),
    (lambda p: p.write_bytes(b"this is not an mrc file at all" * 100) and p, "not a readable MRC"),
    (lambda p: p.write_bytes(b"") or p, "empty file"),
    (lambda p: _nan(p), "NaN"),
    (lambda p: write_mrc(np.ones((1, 1)), p, 1.5), "at least"),
    (lambda p: write_mrc(np.ones((64, 64)), p, 1.5), "constant"),
    (lambda p: p.mkdir() or p, "directory"),
])
def test_bad_input_is_one_line_naming_the_file(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "bad.mrc")
    with pytest.raises(BadInputError, match=message) as caught:
        read_micrograph(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("zero_rows", "incomplete"), [(0, False), (1, True), (8, True), (64, True)])
def test_a_zero_filled_tail_is_a_file_still_being_written(tmp_path: Path, zero_rows: int,
                                                          incomplete: bool) -> None:
    """A writer that reserves the whole file first leaves zeros at the end, up to every row."""
    data = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    data[64 - zero_rows:] = 0
    path = write_mrc(data, tmp_path / "reserved.mrc", 1.5)
    if not incomplete:
        assert read_micrograph(path).data.shape == (64, 64)
        return
    with pytest.raises(BadInputError, match="pre-allocated and still being written") as caught:
        read_micrograph(path)
    assert caught.value.incomplete

