"""The RELION External job through a real RELION 3.1 pipeliner (Debian's ``relion``): a small
project (tests/relion_project.py), ``relion_pipeliner --addJob External`` / ``--RunJobs``,
on-the-fly re-runs, Abort in the middle of a pass, and the picks extracted by RELION."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import starfile
from conftest import run_cryostream
from relion_project import (
    DIAMETER_ANGSTROM,
    EXTRACT_BOX_PX,
    JOB,
    MOVIES,
    PIPELINE_31,
    RUN_TIMEOUT_SECONDS,
    coordinate_counts,
    make_project,
    needs_relion,
    pipeline_tables,
    run_pipeliner,
    shim_environment,
    write_micrographs_star,
)

from cryostream.session.journal import Journal
from integrations.relion.external_job import (
    ABORT_NOW,
    EXIT_ABORTED,
    EXIT_SUCCESS,
    SUFFIX_FILE_31,
    read_micrographs_star,
    relion_coordinate_path,
)


@pytest.fixture(scope="module")
def relion_project(tmp_path_factory: pytest.TempPathFactory, relion_micrographs: list[Path]) -> Path:
    """A RELION 3.1 project whose External job (cryostream-relion) ran once, on the first two
    micrographs, through the real pipeliner."""
    if shutil.which("relion_pipeliner") is None:
        pytest.skip("RELION is not installed (relion_pipeliner not on PATH)")
    project = tmp_path_factory.mktemp("relion31")
    names = make_project(project, relion_micrographs)
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
                                                  relion_micrographs: list[Path]) -> None:
    entries = read_micrographs_star(relion_project / "micrographs.star")
    names = [entry.name for entry in entries]
    new_name = str(MOVIES / relion_micrographs[2].name)
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
        tmp_path: Path, relion_micrographs: list[Path]) -> None:
    """The route in integrations/relion/README.md for picks from `cryostream pick` or `watch`:
    coordinate files at the micrographs' names without their leading Type/jobNNN/ (here
    Movies/), RELION's Import of particle coordinates, then Extract, both through the real
    pipeliner in one --RunJobs list (3.1 drops the last name unless a space follows it). The
    combined particles.star is no route: relion_import --do_particles refuses it (no images)."""
    names = make_project(tmp_path, relion_micrographs[:2])
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


@needs_relion
def test_abort_from_relion_stops_a_short_pass_with_two_workers(
        tmp_path: Path, relion_micrographs: list[Path]) -> None:
    """The case that could never be aborted: six micrographs, two workers, Abort pressed after
    the first pick (RELION's pipeliner waits for the job and reads its exit file)."""
    names = make_project(tmp_path, relion_micrographs[:1], PIPELINE_31)
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
