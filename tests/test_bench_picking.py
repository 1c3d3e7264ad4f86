"""The benchmark runner on a tiny synthetic set in the bench layout, via the library and the real
``cryostream bench`` command (RELION's LoG picker too when relion_autopick is installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryostream.bench.picking import (
    CRYOSTREAM,
    CRYOSTREAM_AUTO,
    CRYOSTREAM_CLI,
    LATTICE,
    RELION_LOG,
    bench_set_report,
)
from cryostream.bench.relion import (
    relion_available,
    relion_command,
    relion_lowpass_angstrom,
    relion_output_path,
)
from cryostream.bench.sets import find_sets, load_set, write_meta, write_synthetic_set
from cryostream.bench.synthetic import synthetic_micrograph, write_mrc
from cryostream.bench.truth import write_coordinates
from cryostream.config import preset
from cryostream.io import BadInputError, read_micrograph


@pytest.fixture(scope="module")
def bench_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("bench")
    write_synthetic_set(data / "synthetic", n_micrographs=2, seed=3)
    return data


def run_bench(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cryostream", "bench", *arguments],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_library_scores_a_synthetic_set(bench_data: Path, tmp_path: Path) -> None:
    (bench_set,) = find_sets(bench_data)
    report = bench_set_report(bench_set, preset("default"), tmp_path)
    result = report.results[CRYOSTREAM]
    assert report.truth_count["all"] == 2 * int(512 * 512 / 8000)
    assert report.truth_count["interior"] <= report.truth_count["all"]
    assert result.counts.recall > 0.7
    assert result.counts.precision > 0.7
    assert result.picks == result.counts.true_positives + result.counts.false_positives
    assert set(result.per_micrograph) == {"synthetic_000", "synthetic_001"}
    assert result.seconds_per_micrograph > 0
    assert sorted(path.name for path in (tmp_path / "synthetic").iterdir()) == [
        "synthetic_000.mrc", "synthetic_001.mrc"]


def test_command_prints_a_table_and_writes_json(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = run_bench("--data", str(bench_data), "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "synthetic" in run.stdout and "recall" in run.stdout
    figures = json.loads(out.read_text())
    synthetic = figures["sets"]["synthetic"]
    assert synthetic["micrographs"] == 2 and synthetic["diameter_px"] == 32.0
    ours = synthetic["pickers"][CRYOSTREAM]
    assert ours["recall"] > 0.7
    assert 0.0 <= ours["f1"] <= 1.0 and 0.0 <= ours["f2"] <= 1.0
    assert ours["picks"] == ours["true_positives"] + ours["false_positives"]
    assert set(ours["micrographs"]) == {"synthetic_000", "synthetic_001"}


def test_missing_relion_is_skipped_with_a_message(bench_data: Path, tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    out = tmp_path / "figures.json"
    run = run_bench("--data", str(bench_data), "--compare", "relion-log", "--json", str(out),
                    env={**os.environ, "PATH": str(empty_path)})
    assert run.returncode == 0, run.stderr
    assert "relion-log skipped: relion_autopick is not installed" in run.stdout
    synthetic = json.loads(out.read_text())["sets"]["synthetic"]
    assert RELION_LOG in synthetic["skipped"] and RELION_LOG not in synthetic["pickers"]


@pytest.mark.skipif(relion_available() is None, reason="relion_autopick is not installed")
def test_relion_log_runs_on_the_same_micrographs(bench_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = run_bench("--data", str(bench_data), "--compare", "relion-log", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "time ratio relion-log / cryostream" in run.stdout
    synthetic = json.loads(out.read_text())["sets"]["synthetic"]
    relion = synthetic["pickers"][RELION_LOG]
    assert relion["recall"] > 0.7
    assert 14.0 <= relion["working_diameter_px"] <= 18.0
    assert set(relion["micrographs"]) == {"synthetic_000", "synthetic_001"}
    ratio = synthetic["time_ratio_relion_over_cryostream"]
    assert synthetic["pickers"][LATTICE]["seconds_per_micrograph"] is None
    expected = relion["seconds_per_micrograph"] / synthetic["pickers"][CRYOSTREAM][
        "seconds_per_micrograph"]
    assert ratio == pytest.approx(expected)
    assert relion["cpu_seconds_per_micrograph"] > 0
    assert synthetic["cpu_time_ratio_relion_over_cryostream"] == pytest.approx(
        relion["cpu_seconds_per_micrograph"]
        / synthetic["pickers"][CRYOSTREAM]["cpu_seconds_per_micrograph"])


@pytest.mark.skipif(relion_available() is None, reason="relion_autopick is not installed")
def test_relion_log_picks_a_set_of_micrographs_of_two_sizes(tmp_path: Path) -> None:
    """relion_autopick refuses micrographs of different sizes in one run ("No differently sized
    micrographs are allowed"): the bench runs it once per size and sums the times."""
    folder = tmp_path / "data" / "mixed"
    write_synthetic_set(folder, n_micrographs=1, shape=(512, 512), seed=3)
    write_synthetic_set(tmp_path / "oblong", n_micrographs=1, shape=(384, 512), seed=5)
    for kind, suffix in (("images", ".png"), ("truth", ".star")):
        (tmp_path / "oblong" / kind / f"synthetic_000{suffix}").rename(
            folder / kind / f"oblong_000{suffix}")
    out = tmp_path / "figures.json"
    run = run_bench("--data", str(tmp_path / "data"), "--compare", "relion-log", "--json", str(out))
    assert run.returncode == 0, run.stderr
    relion = json.loads(out.read_text())["sets"]["mixed"]["pickers"][RELION_LOG]
    assert set(relion["micrographs"]) == {"synthetic_000", "oblong_000"}
    assert min(scores["recall"] for scores in relion["micrographs"].values()) > 0.7
    assert relion["command"].count("relion_autopick") == 2


def test_unknown_comparison_and_missing_set_are_refused(bench_data: Path) -> None:
    assert "--compare must be one of relion-log" in run_bench(
        "--data", str(bench_data), "--compare", "topaz").stderr
    refused = run_bench("--data", str(bench_data), "--sets", "apoferritin")
    assert refused.returncode != 0 and "has no set named apoferritin" in refused.stderr


def test_relion_lowpass_makes_the_particle_16_px() -> None:
    # working pixel = lowpass / 2 Å, so a 60.8 Å particle is 16 px with a 7.6 Å lowpass
    assert relion_lowpass_angstrom(60.8) == pytest.approx(7.6)
    assert relion_lowpass_angstrom(100.0, working_diameter_px=20.0) == pytest.approx(10.0)
    command = relion_command("mics.star", "out/", 60.8)

    def option(name: str) -> str:
        return command[command.index(name) + 1]

    assert "--LoG" in command and option("--shrink") == "0" and option("--lowpass") == "7.600"
    assert float(option("--LoG_diam_min")) == pytest.approx(48.64)
    assert float(option("--LoG_diam_max")) == pytest.approx(72.96)
    assert relion_output_path(Path("out"), "set/a.mrc") == Path("out/set/a_autopick.star")


def test_set_with_a_missing_truth_file_or_diameter_is_bad_input(tmp_path: Path) -> None:
    folder = write_synthetic_set(tmp_path / "broken", n_micrographs=1).folder
    (folder / "meta.json").write_text("{}")
    with pytest.raises(BadInputError, match="meta.json.*particle_diameter_angstrom or"):
        load_set(folder)
    (folder / "truth" / "synthetic_000.star").unlink()
    with pytest.raises(BadInputError, match="synthetic_000.star: truth file is missing"):
        load_set(folder)


@pytest.fixture(scope="module")
def mrc_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set of float32 MRCs at 1.6 Å/px whose meta.json gives the diameter in Å."""
    folder = tmp_path_factory.mktemp("mrc") / "mrc-set"
    for index in range(2):
        micrograph = synthetic_micrograph((512, 512), 30, 32.0, 1.6, seed=20 + index)
        write_mrc(micrograph.image, folder / "images" / f"m{index}.mrc", 1.6)
        write_coordinates(np.column_stack([micrograph.x, micrograph.y]),
                          folder / "truth" / f"m{index}.star")
    write_meta(folder, particle_diameter_angstrom=32.0 * 1.6)
    return folder


def test_an_mrc_set_is_picked_at_its_header_pixel_size(mrc_set: Path, tmp_path: Path) -> None:
    bench_set = load_set(mrc_set)
    assert bench_set.pixel_size_angstrom == pytest.approx(1.6)
    assert bench_set.diameter_px == pytest.approx(32.0)
    assert not bench_set.needs_conversion
    report = bench_set_report(bench_set, preset("default"), tmp_path,
                              (CRYOSTREAM_CLI, CRYOSTREAM_AUTO), diameter_scales=(0.75, 1.0))
    assert list(report.results) == [CRYOSTREAM, f"{CRYOSTREAM} x0.75", CRYOSTREAM_CLI,
                                    CRYOSTREAM_AUTO, LATTICE]
    auto = report.results[CRYOSTREAM_AUTO]
    assert 0.6 < auto.given_diameter_angstrom / (32.0 * 1.6) < 1.65
    assert "--diameter auto" in auto.details["command"] and auto.counts.f1 > 0.5
    ours, cli = report.results[CRYOSTREAM], report.results[CRYOSTREAM_CLI]
    assert ours.counts.f1 > 0.8 and not list(tmp_path.glob("mrc-set/*.mrc"))
    assert cli.counts == ours.counts and cli.seconds_per_micrograph > ours.seconds_per_micrograph
    assert ours.cpu_seconds_per_micrograph > 0 and cli.cpu_seconds_per_micrograph is None
    assert report.results[f"{CRYOSTREAM} x0.75"].given_diameter_angstrom == pytest.approx(38.4)
    assert set(report.fragility()) == {f"{CRYOSTREAM} x0.75"}
    assert report.results[LATTICE].counts.f1 < ours.counts.f1


def test_a_diameter_in_angstrom_needs_mrcs_with_one_pixel_size(mrc_set: Path,
                                                                 tmp_path: Path) -> None:
    folder = write_synthetic_set(tmp_path / "png", n_micrographs=1).folder
    write_meta(folder, particle_diameter_angstrom=50.0)
    with pytest.raises(BadInputError, match="particle_diameter_angstrom needs MRC images"):
        load_set(folder)
    mixed = tmp_path / "mixed"
    shutil.copytree(mrc_set, mixed)
    image = read_micrograph(mixed / "images" / "m1.mrc").data
    write_mrc(image, mixed / "images" / "m1.mrc", 1.0)
    with pytest.raises(BadInputError, match="one positive pixel size in every MRC header, found "
                       "1, 1.6 Å"):
        load_set(mixed)


def test_diameter_scales_and_cli_comparison_on_the_command_line(mrc_set: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = run_bench("--data", str(mrc_set.parent), "--diameter-scale", "0.75,1,1.33", "--json",
                    str(out))
    assert run.returncode == 0, run.stderr
    assert "cryostream x1.33" in run.stdout and "lattice" in run.stdout
    assert "F1 / F1 at the true diameter: cryostream x0.75" in run.stdout
    figures = json.loads(out.read_text())["sets"]["mrc-set"]
    assert figures["pixel_size_angstrom"] == pytest.approx(1.6)
    assert set(figures["f1_over_f1_at_true_diameter"]) == {"cryostream x0.75", "cryostream x1.33"}
    assert 0.0 <= figures["pickers"]["lattice"]["interior"]["f1"] <= 1.0
    refused = run_bench("--data", str(mrc_set.parent), "--diameter-scale", "1,x")
    assert refused.returncode != 0 and "--diameter-scale must be comma-separated" in refused.stderr
