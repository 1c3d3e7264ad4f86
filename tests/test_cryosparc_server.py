"""The CryoSPARC shim's server mode through the real cryosparc-tools client, 4.x and 5.x, down to
its HTTP transport, against the fake CryoSPARC on 127.0.0.1 (tests/fake_cryosparc*.py)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cryosparc.dataset", reason="cryosparc-tools (cryostream[cryosparc]) is absent")

import fake_cryosparc as fake  # noqa: E402
from cryosparc.dataset import Dataset  # noqa: E402
from cryosparc_clients import client_python, run_job  # noqa: E402
from fake_cryosparc_v5 import fake_v5  # noqa: E402

from cryostream.bench.synthetic import synthetic_micrograph, write_mrc  # noqa: E402
from cryostream.config import preset  # noqa: E402
from cryostream.io import read_micrograph  # noqa: E402
from cryostream.picker import pick_micrograph  # noqa: E402

PIXEL_SIZE_ANGSTROM = 1.5
UIDS = [111111111111, 222222222222]
GROUPS = [3, 4]
JOB = ["--project", fake.PROJECT, "--workspace", fake.WORKSPACE, "--micrographs",
       f"{fake.SOURCE_JOB}.{fake.SOURCE_OUTPUT}", "--diameter", "60"]
LOGIN = {"CRYOSPARC_LICENSE_ID": fake.LICENSE, "CRYOSPARC_EMAIL": fake.EMAIL,
         "CRYOSPARC_PASSWORD": fake.PASSWORD, "CRYOSPARC_COMMAND_RETRY_SECONDS": "0"}
# The calls the job makes, in order, as the fake server saw them.
CALLS = {
    4: ["command_core system.describe", "command_vis system.describe",
        "command_rtp system.describe", "command_core get_id_by_email_password",
        "command_core get_running_version", "command_core get_project",
        "command_vis create_external_job", "command_core get_job",
        "command_vis connect_external_job", "command_core get_job",
        "command_vis add_external_job_output", "command_core get_job",
        "command_core run_external_job", "command_core get_job",
        "command_vis POST /load_job_input", "command_core get_project_dir_abs",
        "command_vis POST /external/projects/P1/jobs/J3/outputs/picked_particles/dataset",
        "command_core get_job", "command_core job_send_streamlog", "command_core set_job_status",
        "command_core get_job"],
    5: ["GET /api/cmd/openapi.json", "POST /api/cmd/login", "GET /api/cmd/users/me",
        "GET /api/cmd/config/version", "GET /api/cmd/projects/P1",
        "POST /api/cmd/projects/P1/workspaces/W1/jobs", "GET /api/cmd/projects/P1/jobs/J2",
        "POST /api/cmd/projects/P1/jobs/J3/external/inputs/micrographs",
        "POST /api/cmd/projects/P1/jobs/J3/connect/micrographs",
        "POST /api/cmd/projects/P1/jobs/J3/external/outputs/picked_particles",
        "POST /api/cmd/projects/P1/jobs/J3/mark_running",
        "GET /api/cmd/projects/P1/jobs/J3/inputs/micrographs/dataset",
        "GET /api/cmd/projects/P1/directory",
        "POST /api/cmd/projects/P1/jobs/J3/outputs/picked_particles/fields",
        "POST /api/cmd/projects/P1/jobs/J3/outputs/picked_particles/dataset",
        "POST /api/cmd/projects/P1/jobs/J3/events/text",
        "POST /api/cmd/projects/P1/jobs/J3/mark_completed"],
}


@pytest.fixture(params=[4, 5], ids=["cryosparc-tools-4", "cryosparc-tools-5"])
def major(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def python(major: int) -> Path:
    return client_python(major)


@pytest.fixture
def instance(tmp_path: Path) -> fake.Instance:
    """A project folder with two micrographs (exposure groups 3 and 4) and the fake server's
    state around it."""
    project = tmp_path / "CS-fake-project"
    paths = []
    for index, uid in enumerate(UIDS):
        image = synthetic_micrograph((512, 576), n_particles=20, diameter_px=40.0,
                                     pixel_size_angstrom=PIXEL_SIZE_ANGSTROM, seed=index).image
        paths.append(f"J1/motioncorrected/{uid}_mic_{index}.mrc")
        write_mrc(image, project / paths[-1], 3.0)  # header deliberately wrong: psize_A wins
    exposures = Dataset.allocate(len(UIDS), [("micrograph_blob/path", "O"),
                                             ("micrograph_blob/psize_A", "<f4"),
                                             ("mscope_params/exp_group_id", "<u4")])
    exposures["uid"] = UIDS
    exposures["micrograph_blob/path"] = np.array(paths, dtype=object)
    exposures["micrograph_blob/psize_A"] = PIXEL_SIZE_ANGSTROM
    exposures["mscope_params/exp_group_id"] = GROUPS
    return fake.Instance(project, exposures)


def serve(major: int, instance: fake.Instance) -> AbstractContextManager[int]:
    return fake.fake_v4(instance) if major == 4 else fake_v5(instance)


def test_server_mode_saves_every_pick_through_the_real_client(
        major: int, python: Path, instance: fake.Instance) -> None:
    """Host and base port from CryoSPARC's variables (5.x raised TypeError when they were set),
    the project directory from the server (a method on 4.x), the exposure group per pick."""
    with serve(major, instance) as port:
        result = run_job(python, JOB, cwd=instance.project_dir, env={
            **LOGIN, "CRYOSPARC_MASTER_HOSTNAME": "127.0.0.1", "CRYOSPARC_BASE_PORT": str(port)})
    assert result.returncode == 0, result.stderr
    assert instance.calls == CALLS[major]
    assert instance.connected == [("micrographs", fake.SOURCE_JOB, fake.SOURCE_OUTPUT)]
    assert instance.status == ["running", "completed"]
    particles = instance.saved["picked_particles"]
    assert [field for field, *_ in particles.descr()] == [
        "uid", *(field for field, _ in fake.SERVER_PARTICLE_FIELDS)]
    config = preset("default", diameter_angstrom=60.0)
    for uid, path, group in zip(UIDS, instance.exposures["micrograph_blob/path"], GROUPS,
                                strict=True):
        expected = pick_micrograph(read_micrograph(instance.project_dir / path,
                                                   PIXEL_SIZE_ANGSTROM), config)
        rows = particles.query({"location/micrograph_uid": uid})
        assert len(rows) == len(expected) > 5
        assert set(rows["location/exp_group_id"]) == {group}
        assert set(rows["location/micrograph_path"]) == {path}
        ny, nx = expected.micrograph_shape
        np.testing.assert_allclose(rows["location/center_x_frac"] * nx, expected.x, atol=0.01)
        np.testing.assert_allclose(rows["location/center_y_frac"] * ny, expected.y, atol=0.01)
        np.testing.assert_allclose(rows["pick_stats/ncc_score"], expected.figure_of_merit,
                                   rtol=1e-5)
        np.testing.assert_allclose(rows["location/micrograph_psize_A"], PIXEL_SIZE_ANGSTROM)
        star = instance.project_dir / fake.NEW_JOB / Path(path).with_name(
            Path(path).stem + "_autopick.star")
        assert star.is_file(), f"coordinates not under the server's project directory: {star}"
    assert (rows["pick_stats/power"] == 0).all()  # a field only the server has keeps its zeros
    assert instance.events == [("text", f"cryostream: {result.stdout.split(': ', 1)[1].strip()}")]


def test_a_field_the_server_lacks_is_left_out_with_a_warning(
        major: int, python: Path, instance: fake.Instance) -> None:
    """--url and --email/--password options beat the environment (here a host that would
    conflict with the URL on 5.x)."""
    instance.output_fields = [field for field in fake.SERVER_PARTICLE_FIELDS
                              if field[0] != "location/micrograph_psize_A"]
    with serve(major, instance) as port:
        result = run_job(python, [*JOB, "--url", f"http://127.0.0.1:{port}", "--email",
                                  fake.EMAIL, "--password", fake.PASSWORD, "--license",
                                  fake.LICENSE],
                         cwd=instance.project_dir,
                         env={"CRYOSPARC_MASTER_HOSTNAME": "unused.invalid",
                              "CRYOSPARC_PASSWORD": "wrong",
                              "CRYOSPARC_COMMAND_RETRY_SECONDS": "0"})
    assert result.returncode == 0, result.stderr
    particles = instance.saved["picked_particles"]
    assert "location/micrograph_psize_A" not in particles.fields()
    assert len(particles) > 10 and set(particles["location/exp_group_id"]) == set(GROUPS)
    assert ("warning", "cryostream: this server's particle output has no "
            "location/micrograph_psize_A; left out") in instance.events


def test_a_refused_login_is_one_line_and_creates_no_job(
        major: int, python: Path, instance: fake.Instance) -> None:
    with serve(major, instance) as port:
        result = run_job(python, [*JOB, "--url", f"http://127.0.0.1:{port}"],
                         cwd=instance.project_dir, env={**LOGIN, "CRYOSPARC_PASSWORD": "wrong"})
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"cryostream-cryosparc: error: cannot connect to CryoSPARC at "
                            f"http://127.0.0.1:{port} with cryosparc-tools {major}.x")
    assert not any("create" in call or "/jobs" in call for call in instance.calls)


def test_cryosparc_tools_4_names_what_it_needs(tmp_path: Path) -> None:
    result = run_job(client_python(4), [*JOB, "--host", "127.0.0.1", "--base-port", "9"],
                     cwd=tmp_path, env={"CRYOSPARC_EMAIL": fake.EMAIL})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "cryostream-cryosparc: error: cryosparc-tools 4.x needs --license or "
        "$CRYOSPARC_LICENSE_ID, --password or $CRYOSPARC_PASSWORD to connect to "
        "http://127.0.0.1:9")

