"""Shared fixtures: synthetic micrographs written as real files, and the shared benchmark path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryostream.bench.synthetic import SyntheticMicrograph, synthetic_micrograph, write_mrc

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


@pytest.fixture(scope="session")
def synthetic() -> SyntheticMicrograph:
    return synthetic_micrograph((768, 768), n_particles=40, diameter_px=40, seed=1)


@pytest.fixture
def synthetic_mrc(tmp_path: Path, synthetic: SyntheticMicrograph) -> Path:
    return write_mrc(synthetic.image, tmp_path / "mic.mrc", synthetic.pixel_size_angstrom)


def bench_set(name: str) -> Path:
    """A shared benchmark set, or skip the test with a clear reason when it is absent."""
    folder = BENCH / name
    if not (folder / "images").is_dir():
        pytest.skip(f"shared benchmark set {folder} is absent (it lives next to the project)")
    return folder


def nearby_data(relative: str) -> Path:
    """A data folder next to the project (``shared/bench/...`` or ``data/bench-extra/...``),
    looked for beside every folder above the tests, so it is found from a git worktree too; skip
    the test with a clear reason when it is absent."""
    for parent in Path(__file__).resolve().parents:
        if (parent / relative).is_dir():
            return parent / relative
    pytest.skip(f"data folder {relative} is absent next to the project (data/bench-extra is "
                "built by the bench-* commands: see its READY.md)")
