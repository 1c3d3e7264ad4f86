"""The RELION External job shim, proven against a real RELION 3.1 pipeliner (Debian's ``relion``)
and against the RELION 4.0/5.0 file formats.

The pipeliner tests build a small RELION project in a temporary folder from real micrographs
(../shared/bench, converted to float32 MRC at 1.0 Å/px; synthetic micrographs when the benchmark is
absent), run ``relion_pipeliner --addJob External`` / ``--RunJobs``, and extract the picks with
``relion_preprocess``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile
from conftest import run_cryostream

from cryostream.bench.synthetic import synthetic_micrograph, write_mrc
from cryostream.io import read_micrograph
from cryostream.session.journal import Journal
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

BENCH_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "bench" / "ribosome80s-10028" / \
    "images"
PIXEL_SIZE_ANGSTROM = 1.0
DIAMETER_ANGSTROM = 56.0
EXTRACT_BOX_PX = 64
MOVIES = Path("MotionCorr/job002/Movies")
JOB = "External/job001/"
RUN_TIMEOUT_SECONDS = 180
needs_relion = pytest.mark.skipif(
    shutil.which("relion_pipeliner") is None or shutil.which("relion_preprocess") is None,
    reason="RELION is not installed (relion_pipeliner/relion_preprocess not on PATH); "
    "apt-get install relion runs these tests")

PIPELINE_31 = """
# version 30001

data_pipeline_general

_rlnPipeLineJobCounter                       1

"""
PIPELINE_31_JOB = PIPELINE_31.replace("1\n\n", "2\n\n", 1) + """
# version 30001

data_pipeline_processes

loop_
_rlnPipeLineProcessName #1
_rlnPipeLineProcessAlias #2
_rlnPipeLineProcessType #3
_rlnPipeLineProcessStatus #4
External/job001/       None           99            0


# version 30001

data_pipeline_nodes

loop_
_rlnPipeLineNodeName #1
_rlnPipeLineNodeType #2
micrographs.star            1
"""
PIPELINE_40 = """
# version 30001

data_pipeline_general

_rlnPipeLineJobCounter                       2


# version 30001

data_pipeline_processes

loop_
_rlnPipeLineProcessName #1
_rlnPipeLineProcessAlias #2
_rlnPipeLineProcessTypeLabel #3
_rlnPipeLineProcessStatusLabel #4
External/job001/       None relion.external    Running


# version 30001

data_pipeline_nodes

loop_
_rlnPipeLineNodeName #1
_rlnPipeLineNodeTypeLabel #2
micrographs.star MicrographsData.star.relion
"""
PIPELINE_50 = PIPELINE_40.replace("30001", "50001").replace(
    "MicrographsData.star.relion", "MicrographGroupMetadata.star.relion")


def micrograph_images(count: int) -> list[tuple[str, np.ndarray]]:
    """(name, image) pairs: real 80S ribosome micrographs when the shared benchmark is present
    (56 Å particles at 1.0 Å/px), else synthetic ones of the same scale."""
    pngs = sorted(BENCH_IMAGES.glob("*.png"))[:count]
    if len(pngs) == count:
        return [(png.stem, read_micrograph(png).data) for png in pngs]
    return [(f"synthetic_{index}", synthetic_micrograph(
        (1024, 1024), n_particles=60, diameter_px=DIAMETER_ANGSTROM / PIXEL_SIZE_ANGSTROM,
        pixel_size_angstrom=PIXEL_SIZE_ANGSTROM, seed=index).image) for index in range(count)]


def write_micrographs_star(project: Path, names: list[str]) -> Path:
    """A RELION 3.1 micrographs STAR (data_optics + data_micrographs) in ``project``."""
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [PIXEL_SIZE_ANGSTROM], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    micrographs = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": [1] * len(names)})
    path = project / "micrographs.star"
    starfile.write({"optics": optics, "micrographs": micrographs}, path, overwrite=True)
    return path


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three float32 MRC micrographs (pixel size 1.0 Å in the header) in a shared folder."""
    folder = tmp_path_factory.mktemp("micrographs")
    return [write_mrc(image, folder / f"{name}.mrc", PIXEL_SIZE_ANGSTROM)
            for name, image in micrograph_images(3)]


def make_project(project: Path, micrographs: list[Path], pipeline: str = PIPELINE_31) -> list[str]:
    """A RELION project holding ``micrographs`` under MotionCorr/job002/Movies/ (so the leading
    Type/jobNNN/ is stripped from the coordinate paths); returns their names as in the STAR."""
    (project / MOVIES).mkdir(parents=True, exist_ok=True)
    names = []
    for micrograph in micrographs:
        shutil.copyfile(micrograph, project / MOVIES / micrograph.name)
        names.append(str(MOVIES / micrograph.name))
    (project / "default_pipeline.star").write_text(pipeline)
    return names


def shim_environment() -> dict[str, str]:
    """The environment RELION runs the shim in, with this interpreter's console scripts (where
    pip put ``cryostream-relion``) first on PATH."""
    folders = dict.fromkeys([sysconfig.get_path("scripts"), str(Path(sys.executable).parent)])
    return {**os.environ, "PATH": os.pathsep.join([*folders, os.environ.get("PATH", "")])}


def run_pipeliner(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["relion_pipeliner", *args], cwd=project, env=shim_environment(),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pipeline_tables(project: Path) -> dict[str, pd.DataFrame]:
    return starfile.read(project / "default_pipeline.star", always_dict=True)


def coordinate_counts(project: Path) -> dict[str, int]:
    """Picks per micrograph of micrographs.star, read back from the job's coordinate files."""
    return {entry.name: len(starfile.read(project / relion_coordinate_path(entry.name, JOB)))
            for entry in read_micrographs_star(project / "micrographs.star")}


@pytest.fixture(scope="module")
def relion_project(tmp_path_factory: pytest.TempPathFactory, micrographs: list[Path]) -> Path:
    """A RELION 3.1 project whose External job (cryostream-relion) ran once, on the first two
    micrographs, through the real pipeliner."""
    if shutil.which("relion_pipeliner") is None:
        pytest.skip("RELION is not installed (relion_pipeliner not on PATH)")
    project = tmp_path_factory.mktemp("relion31")
    names = make_project(project, micrographs)
    write_micrographs_star(project, names[:2])
    run_pipeliner(project, "--addJob", "External", "--addJobOptions",
                  f"fn_exe == cryostream-relion;in_mic == micrographs.star;"
                  f"param1_label == diameter;param1_value == {DIAMETER_ANGSTROM:g};nr_threads == 2;")
    run_pipeliner(project, "--RunJobs", JOB, "--sec_wait_after", "1")
    return project


@needs_relion
def test_pipeliner_runs_the_job_to_succeeded_and_registers_the_coordinates(
        relion_project: Path) -> None:
    job = relion_project / JOB
    assert (job / EXIT_SUCCESS).exists(), (job / "run.err").read_text()
    tables = pipeline_tables(relion_project)
    process = tables["pipeline_processes"].set_index("rlnPipeLineProcessName").loc[JOB]
    assert process["rlnPipeLineProcessStatus"] == 2  # RELION 3.1: 2 = Succeeded
    nodes = tables["pipeline_nodes"].set_index("rlnPipeLineNodeName")["rlnPipeLineNodeType"]
    assert nodes[f"{JOB}{SUFFIX_FILE_31}"] == 2  # RELION 3.1: 2 = coordinates
    edges = tables["pipeline_output_edges"]
    assert f"{JOB}{SUFFIX_FILE_31}" in set(edges["rlnPipeLineEdgeToNode"])
    assert (job / SUFFIX_FILE_31).read_text() == "micrographs.star\n"
    # RELION ran the executable with --o, --in_mics, the user's parameter and --j.
    note = (job / "note.txt").read_text()
    assert f"cryostream-relion --o {JOB} --in_mics micrographs.star --diameter 56 --j 2" in note
    for name, count in coordinate_counts(relion_project).items():
        assert count > 10, name
        assert str(relion_coordinate_path(name, JOB)).startswith(f"{JOB}Movies/")


@needs_relion
def test_relion_extracts_exactly_the_picked_particles(relion_project: Path) -> None:
    picks = sum(coordinate_counts(relion_project).values())
    result = subprocess.run(
        ["relion_preprocess", "--i", "micrographs.star", "--coord_dir", JOB, "--coord_suffix",
         "_autopick.star", "--extract", "--extract_size", str(EXTRACT_BOX_PX), "--part_star",
         "Extract/job002/particles.star", "--part_dir", "Extract/job002/"],
        cwd=relion_project, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    particles = starfile.read(relion_project / "Extract/job002/particles.star",
                              always_dict=True)["particles"]
    assert len(particles) == picks > 0
    assert f"Written out STAR file with {picks} particles" in result.stdout


@needs_relion
def test_second_run_picks_only_the_new_micrograph(relion_project: Path,
                                                  micrographs: list[Path]) -> None:
    entries = read_micrographs_star(relion_project / "micrographs.star")
    names = [entry.name for entry in entries]
    new_name = str(MOVIES / micrographs[2].name)
    before = {name: (relion_project / relion_coordinate_path(name, JOB)) for name in names}
    stamps = {name: (path.stat().st_mtime_ns, path.read_bytes()) for name, path in before.items()}
    write_micrographs_star(relion_project, [*names, new_name])
    run_pipeliner(relion_project, "--RunJobs", JOB, "--sec_wait_after", "1")
    job = relion_project / JOB
    assert (job / EXIT_SUCCESS).exists(), (job / "run.err").read_text()
    for name, path in before.items():
        assert (path.stat().st_mtime_ns, path.read_bytes()) == stamps[name]
    assert (relion_project / relion_coordinate_path(new_name, JOB)).exists()
    assert "1 micrograph picked" in (job / "run.out").read_text().splitlines()[-1]
    assert "2 already picked (skipped)" in (job / "run.out").read_text().splitlines()[-1]
    with Journal(job) as journal:
        assert {entry.name for entry in journal.entries("done")} == {*names, new_name}


@needs_relion
def test_picks_made_outside_relion_import_as_coordinates_then_extract(
        tmp_path: Path, micrographs: list[Path]) -> None:
    """The route in integrations/relion/README.md for picks from `cryostream pick` or `watch`:
    coordinate files at the micrographs' names without their leading Type/jobNNN/ (here
    Movies/), RELION's Import of particle coordinates, then Extract, both through the real
    pipeliner in one --RunJobs list (3.1 drops the last name unless a space follows it). The
    combined particles.star is no route: relion_import --do_particles refuses it (no images)."""
    names = make_project(tmp_path, micrographs[:2])
    write_micrographs_star(tmp_path, names)
    picked = run_cryostream("pick", str(MOVIES), "-o", "Movies", "--diameter",
                            f"{DIAMETER_ANGSTROM:g}", "--workers", "1", cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    picks = {name: len(starfile.read(tmp_path / "Movies" / f"{Path(name).stem}_autopick.star"))
             for name in names}
    assert min(picks.values()) > 10
    run_pipeliner(tmp_path, "--addJob", "Import", "--addJobOptions",
                  "do_raw == No;do_other == Yes;fn_in_other == Movies/*_autopick.star;"
                  "node_type == Particle coordinates (*.box, *_pick.star);")
    run_pipeliner(tmp_path, "--addJob", "Extract", "--addJobOptions",
                  "star_mics == micrographs.star;coords_suffix == "
                  f"Import/job001/{SUFFIX_FILE_31};extract_size == {EXTRACT_BOX_PX};")
    run_pipeliner(tmp_path, "--RunJobs", "Import/job001/ Extract/job002/ ", "--sec_wait_after",
                  "1")
    for job in ("Import/job001", "Extract/job002"):
        assert (tmp_path / job / EXIT_SUCCESS).exists(), (tmp_path / job / "run.err").read_text()
    nodes = pipeline_tables(tmp_path)["pipeline_nodes"].set_index("rlnPipeLineNodeName")
    assert nodes.loc[f"Import/job001/{SUFFIX_FILE_31}", "rlnPipeLineNodeType"] == 2
    particles = starfile.read(tmp_path / "Extract/job002/particles.star",
                              always_dict=True)["particles"]
    assert particles["rlnMicrographName"].value_counts().to_dict() == picks
    refused = subprocess.run(["relion_import", "--do_particles", "--i", "Movies/particles.star",
                              "--odir", "Import/job001/", "--ofile", "particles.star"],
                             cwd=tmp_path, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT_SECONDS)
    assert refused.returncode != 0
    assert "cannot find name for particle" in refused.stdout + refused.stderr


@pytest.fixture
def project(tmp_path: Path, micrographs: list[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A RELION 3.1 project (no RELION binary needed) that is the current directory."""
    make_project(tmp_path, micrographs[:1], PIPELINE_31_JOB)
    write_micrographs_star(tmp_path, [str(MOVIES / micrographs[0].name)])
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


def test_abort_request_stops_the_job(tmp_path: Path, micrographs: list[Path]) -> None:
    """RELION's Abort button creates RELION_JOB_ABORT_NOW; the job stops starting micrographs
    and answers with RELION_JOB_EXIT_ABORTED."""
    make_project(tmp_path, micrographs[:1], PIPELINE_31_JOB)
    source = tmp_path / MOVIES / micrographs[0].name
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


@needs_relion
def test_abort_from_relion_stops_a_short_pass_with_two_workers(
        tmp_path: Path, micrographs: list[Path]) -> None:
    """The case that could never be aborted: six micrographs, two workers, Abort pressed after
    the first pick (RELION's pipeliner waits for the job and reads its exit file)."""
    names = make_project(tmp_path, micrographs[:1], PIPELINE_31)
    source = tmp_path / names[0]
    for index in range(1, 6):
        os.link(source, tmp_path / MOVIES / f"copy_{index}.mrc")
        names.append(str(MOVIES / f"copy_{index}.mrc"))
    write_micrographs_star(tmp_path, names)
    run_pipeliner(tmp_path, "--addJob", "External", "--addJobOptions",
                  f"fn_exe == cryostream-relion;in_mic == micrographs.star;"
                  f"param1_label == diameter;param1_value == {DIAMETER_ANGSTROM:g};nr_threads == 2;")
    job = tmp_path / JOB
    pipeliner = subprocess.Popen(["relion_pipeliner", "--RunJobs", JOB, "--sec_wait_after", "1"],
                                 cwd=tmp_path, env=shim_environment(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while not list((job / "Movies").glob("*_autopick.star")):
            assert time.monotonic() < deadline and pipeliner.poll() is None, "nothing was picked"
            time.sleep(0.02)
        (job / ABORT_NOW).touch()
        pipeliner.communicate(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        pipeliner.kill()
    assert (job / EXIT_ABORTED).exists(), (job / "run.err").read_text()
    assert not (job / ABORT_NOW).exists()
    picked = len(list((job / "Movies").glob("*_autopick.star")))
    assert 1 <= picked <= 4, f"{picked} of 6 picked after Abort"
    status = pipeline_tables(tmp_path)["pipeline_processes"].set_index(
        "rlnPipeLineProcessName").loc[JOB, "rlnPipeLineProcessStatus"]
    assert status == 4  # RELION 3.1: 4 = Aborted

    run_pipeliner(tmp_path, "--RunJobs", JOB, "--sec_wait_after", "1")  # Continue: the rest
    assert (job / EXIT_SUCCESS).exists(), (job / "run.err").read_text()
    assert len(list((job / "Movies").glob("*_autopick.star"))) == 6
    assert f"{picked} already picked" in (job / "run.out").read_text().splitlines()[-1]


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
