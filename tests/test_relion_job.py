"""The RELION External job shim without a RELION binary: RELION 3.1/4.0/5.0 output files (against
the formats of RELION's source), version detection, coordinate paths, and one-line failures that
leave RELION's exit files; Abort between micrographs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import starfile
from relion_project import (
    JOB,
    MOVIES,
    PIPELINE_31,
    PIPELINE_31_JOB,
    PIPELINE_40,
    PIPELINE_50,
    RUN_TIMEOUT_SECONDS,
    make_project,
    shim_environment,
    write_micrographs_star,
)

from cryostream.star import read_provenance
from integrations.relion.external_job import (
    ABORT_NOW,
    EXIT_ABORTED,
    EXIT_FAILURE,
    EXIT_SUCCESS,
    NODE_LABELS,
    OUTPUT_NODES,
    SUFFIX_FILE_31,
    SUMMARY_FILE,
    detect_relion_version,
    main,
    read_micrographs_star,
    relion_coordinate_path,
)


@pytest.fixture
def project(tmp_path: Path, relion_micrographs: list[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A RELION 3.1 project (no RELION binary needed) that is the current directory."""
    make_project(tmp_path, relion_micrographs[:1], PIPELINE_31_JOB)
    write_micrographs_star(tmp_path, [str(MOVIES / relion_micrographs[0].name)])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_shim(*extra: str) -> int:
    return main(["--o", JOB, "--in_mics", "micrographs.star", "--diameter", "56", "--j", "1",
                 *extra])


@pytest.mark.parametrize("version, pipeline", [("4.0", PIPELINE_40), ("5.0", PIPELINE_50)])
def test_relion_4_and_5_outputs(project: Path, version: str, pipeline: str) -> None:
    (project / "default_pipeline.star").write_text(pipeline)
    assert detect_relion_version(project / "default_pipeline.star") == version
    assert run_shim() == 0
    job = project / JOB
    assert (job / EXIT_SUCCESS).exists()
    assert not (job / SUFFIX_FILE_31).exists()
    summary = starfile.read(job / SUMMARY_FILE, always_dict=True)
    assert list(summary) == ["coordinate_files"]
    table = summary["coordinate_files"]
    assert list(table.columns) == ["rlnMicrographName", "rlnMicrographCoordinates"]
    name = read_micrographs_star("micrographs.star")[0].name
    assert table["rlnMicrographName"].tolist() == [name]
    assert table["rlnMicrographCoordinates"].tolist() == [
        f"{JOB}Movies/{Path(name).stem}_autopick.star"]
    coordinates = starfile.read(table["rlnMicrographCoordinates"][0], always_dict=True)
    assert list(coordinates) == [""]
    assert list(coordinates[""].columns) == ["rlnCoordinateX", "rlnCoordinateY", "rlnClassNumber",
                                             "rlnAutopickFigureOfMerit", "rlnAnglePsi"]
    assert (coordinates[""]["rlnAnglePsi"] == 0.0).all()  # RELION's LoG picker writes 0.0
    nodes = starfile.read(job / OUTPUT_NODES, always_dict=True)["output_nodes"]
    assert nodes.to_dict("records") == [{"rlnPipeLineNodeName": f"{JOB}{SUMMARY_FILE}",
                                         "rlnPipeLineNodeTypeLabel": NODE_LABELS[version]}]


def test_relion_31_output_nodes_and_forced_version(project: Path) -> None:
    (project / "default_pipeline.star").write_text(PIPELINE_50)
    assert run_shim("--relion_version", "3.1") == 0
    job = project / JOB
    nodes = starfile.read(job / OUTPUT_NODES, always_dict=True)["output_nodes"]
    assert nodes.to_dict("records") == [{"rlnPipeLineNodeName": f"{JOB}{SUFFIX_FILE_31}",
                                         "rlnPipeLineNodeType": 2}]
    assert not (job / SUMMARY_FILE).exists()


def test_version_detection(tmp_path: Path) -> None:
    pipeline = tmp_path / "default_pipeline.star"
    pipeline.write_text(PIPELINE_31_JOB)
    assert detect_relion_version(pipeline) == "3.1"
    pipeline.write_text(PIPELINE_31)  # no table yet: nothing to tell 3.1 from 4.0 by
    with pytest.raises(ValueError, match="--relion_version"):
        detect_relion_version(pipeline)
    with pytest.raises(ValueError, match="RELION project directory"):
        detect_relion_version(tmp_path / "absent.star")


def test_coordinate_paths_follow_relion() -> None:
    assert relion_coordinate_path("MotionCorr/job002/Movies/a.mrc", JOB) == \
        Path(JOB, "Movies/a_autopick.star")
    assert relion_coordinate_path("Import/job001/a.tiff", JOB) == Path(JOB, "a_autopick.star")
    assert relion_coordinate_path("Movies/b.mrc", JOB) == Path(JOB, "Movies/b_autopick.star")
    assert relion_coordinate_path("x/y/job012/GridSquare_1/c.mrc", JOB) == \
        Path(JOB, "GridSquare_1/c_autopick.star")
    # RELION concatenates <job dir> + <absolute path>, which stays inside the job directory.
    assert relion_coordinate_path("/data/d.mrc", JOB) == Path(JOB, "data/d_autopick.star")


def test_path_escaping_the_job_directory_is_refused(project: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    escaping = "Movies/../../../outside/mic.mrc"
    write_micrographs_star(project, [escaping])
    assert run_shim() == 1
    assert (project / JOB / EXIT_FAILURE).exists()
    assert not (project / JOB / EXIT_SUCCESS).exists()
    error = capsys.readouterr().err
    assert escaping in error and "outside" in error
    assert not list(project.rglob("mic_autopick.star"))
    assert not (project.parent / "outside").exists()


def test_unknown_parameter_fails_the_job_naming_it(project: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert run_shim("--box_size", "64") == 1
    assert (project / JOB / EXIT_FAILURE).exists()
    error = capsys.readouterr().err.strip()
    assert "unknown parameter(s) --box_size 64" in error and "diameter" in error
    assert len(error.splitlines()) == 1


def test_missing_diameter_and_bad_value_fail_cleanly(project: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    assert main(["--o", JOB, "--in_mics", "micrographs.star"]) == 1
    assert "--diameter" in capsys.readouterr().err
    assert run_shim("--threshold", "high") == 1
    assert "invalid float value: 'high'" in capsys.readouterr().err
    assert (project / JOB / EXIT_FAILURE).exists()


def test_a_bad_micrograph_is_skipped_and_retried(project: Path, capsys: pytest.CaptureFixture
                                                 ) -> None:
    good = read_micrographs_star("micrographs.star")[0].name
    broken = MOVIES / "broken.mrc"
    broken.write_bytes(b"not an MRC file")
    write_micrographs_star(project, [good, str(broken)])
    assert run_shim() == 0
    assert (project / JOB / EXIT_SUCCESS).exists()
    assert str(broken) in capsys.readouterr().err
    assert relion_coordinate_path(good, JOB).exists()
    assert not relion_coordinate_path(str(broken), JOB).exists()
    write_micrographs_star(project, [str(broken)])
    assert run_shim() == 1  # every micrograph this run tried failed
    assert (project / JOB / EXIT_FAILURE).exists()
    assert not (project / JOB / EXIT_SUCCESS).exists()


def test_abort_request_stops_the_job(tmp_path: Path, relion_micrographs: list[Path]) -> None:
    """RELION's Abort button creates RELION_JOB_ABORT_NOW; the job stops starting micrographs
    and answers with RELION_JOB_EXIT_ABORTED."""
    make_project(tmp_path, relion_micrographs[:1], PIPELINE_31_JOB)
    source = tmp_path / MOVIES / relion_micrographs[0].name
    names = []
    for index in range(30):  # hard links: distinct micrographs to the journal, one file on disk
        link = tmp_path / MOVIES / f"copy_{index:02d}.mrc"
        os.link(source, link)
        names.append(str(MOVIES / link.name))
    write_micrographs_star(tmp_path, names)
    job = tmp_path / JOB
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.relion.external_job", "--o", JOB, "--in_mics",
         "micrographs.star", "--diameter", "56", "--j", "1"], cwd=tmp_path,
        env=shim_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while not list(job.rglob("*_autopick.star")) and process.poll() is None:
            assert time.monotonic() < deadline, "no micrograph was picked"
            time.sleep(0.05)
        (job / ABORT_NOW).touch()
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        process.kill()
    assert process.returncode == 2, stderr
    assert (job / EXIT_ABORTED).exists()
    assert not (job / EXIT_SUCCESS).exists() and not (job / EXIT_FAILURE).exists()
    assert ABORT_NOW in stderr
    assert 1 <= len(list(job.rglob("*_autopick.star"))) < len(names)
    assert not (job / ABORT_NOW).exists()


def test_a_rerun_with_other_parameters_fails_naming_them_unless_told(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_shim() == 0
    star = relion_coordinate_path(read_micrographs_star("micrographs.star")[0].name, JOB)
    before = star.read_bytes()
    capsys.readouterr()
    assert run_shim("--diameter", "70") == 1
    error = capsys.readouterr().err
    assert "diameter_angstrom: 56.0 -> 70.0" in error and "on-config-change" in error
    assert (project / JOB / EXIT_FAILURE).exists() and star.read_bytes() == before
    assert run_shim("--diameter", "70", "--on_config_change", "redo") == 0
    assert star.read_bytes() != before


def test_relion_options_it_adds_itself_are_accepted(project: Path) -> None:
    assert run_shim("--pipeline_control", JOB) == 0
    assert (project / JOB / EXIT_SUCCESS).exists()


def test_a_missing_micrographs_star_says_so(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--o", JOB, "--in_mics", "absent.star", "--diameter", "56"]) == 1
    assert "absent.star: does not exist" in capsys.readouterr().err


def test_a_measured_diameter_is_recorded_for_relion(project: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert run_shim("--diameter", "auto", "--diameter_range", "30:200") == 0
    assert "cryostream: diameter auto: " in capsys.readouterr().out
    star = relion_coordinate_path(read_micrographs_star("micrographs.star")[0].name, JOB)
    source = read_provenance(star)["diameter_source"]
    assert source.startswith("auto: ") and "measured on 1 micrograph" in source
    assert "searched 30-200 Å" in source
    assert run_shim("--diameter", "auto", "--diameter-range", "30:200") == 0
    assert run_shim("--diameter_range", "30:200") == 1
    assert "--diameter-range is used only with --diameter auto" in capsys.readouterr().err
