"""``cryostream watch --cryosparc``: a live session's picks published into a CryoSPARC External job
after each refresh of particles.star, through the real cryosparc-tools clients (4.x and 5.x) and
the fake CryoSPARC on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cryosparc.dataset", reason="cryosparc-tools (cryostream[cryosparc]) is absent")

import fake_cryosparc as fake  # noqa: E402
import starfile  # noqa: E402
from conftest import small_mrc  # noqa: E402
from cryosparc.dataset import Dataset  # noqa: E402
from cryosparc_clients import REPOSITORY, client_python  # noqa: E402
from fake_cryosparc_v5 import fake_v5  # noqa: E402

from cryostream.config import preset  # noqa: E402
from cryostream.io import read_micrograph  # noqa: E402
from cryostream.picker import pick_micrograph  # noqa: E402
from cryostream.session.naming import micrograph_key  # noqa: E402
from integrations.cryosparc.live import live_job  # noqa: E402

TARGET = f"{fake.PROJECT}/{fake.WORKSPACE}/{fake.SOURCE_JOB}.{fake.SOURCE_OUTPUT}"
UIDS = [101, 202]
GROUPS = [5, 6]
SAVE = "POST /api/cmd/projects/P1/jobs/J3/outputs/picked_particles/dataset"


def live_project(root: Path) -> fake.Instance:
    """Three micrographs in a CryoSPARC project's motion-correction folder, of which CryoSPARC
    lists the first two as exposures (the third has not reached it yet)."""
    folder = root / "J1" / "motioncorrected"
    files = [small_mrc(folder / f"mic_{index}.mrc", seed=index, shape=(384, 384))
             for index in range(3)]
    exposures = Dataset.allocate(2, [("micrograph_blob/path", "O"),
                                     ("micrograph_blob/psize_A", "<f4"),
                                     ("mscope_params/exp_group_id", "<u4")])
    exposures["uid"] = UIDS
    exposures["micrograph_blob/path"] = np.array(
        [str(path.relative_to(root)) for path in files[:2]], dtype=object)
    exposures["micrograph_blob/psize_A"] = 1.5
    exposures["mscope_params/exp_group_id"] = GROUPS
    return fake.Instance(root, exposures)


@pytest.mark.parametrize("major", [4, 5], ids=["cryosparc-tools-4", "cryosparc-tools-5"])
def test_watch_publishes_its_picks_into_an_external_job(tmp_path: Path, major: int) -> None:
    instance = live_project(tmp_path / "project")
    out = tmp_path / "picks"
    serve = fake.fake_v4 if major == 4 else fake_v5
    with serve(instance) as port:
        result = subprocess.run(
            [str(client_python(major)), "-m", "cryostream", "watch",
             str(instance.project_dir / "J1"), "-o", str(out), "--diameter", "60", "--once",
             "--quiet-seconds", "0", "--workers", "1", "--cryosparc", TARGET],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env={**{key: value for key, value in os.environ.items()
                    if not key.startswith("CRYOSPARC_")},
                 "PYTHONPATH": str(REPOSITORY), "CRYOSPARC_MASTER_HOSTNAME": "127.0.0.1",
                 "CRYOSPARC_BASE_PORT": str(port), "CRYOSPARC_LICENSE_ID": fake.LICENSE,
                 "CRYOSPARC_EMAIL": fake.EMAIL, "CRYOSPARC_PASSWORD": fake.PASSWORD})
    assert result.returncode == 0, result.stderr
    assert instance.status == ["running", "completed"]
    particles = instance.saved["picked_particles"]
    for uid, group, path in zip(UIDS, GROUPS, instance.exposures["micrograph_blob/path"],
                                strict=True):
        star = out / "motioncorrected" / Path(path).with_suffix("").name
        rows = particles.query({"location/micrograph_uid": uid})
        assert len(rows) == len(starfile.read(f"{star}_autopick.star")) > 0
        assert set(rows["location/exp_group_id"]) == {group}
    assert (out / "motioncorrected" / "mic_2_autopick.star").is_file()  # picked, not published
    assert instance.events[-1] == (
        "text", f"cryostream: {len(particles)} particles of 2 exposures; 1 picked micrographs "
        "are not among the exposures yet")


def test_each_batch_republishes_only_when_exposures_were_added(tmp_path: Path) -> None:
    """In-process with this environment's client: a batch with nothing new among the exposures
    saves nothing; the output always holds every published exposure's picks."""
    instance = live_project(tmp_path)
    config = preset("default", diameter_angstrom=60.0)
    files = sorted((tmp_path / "J1" / "motioncorrected").glob("*.mrc"))
    done = {micrograph_key(path): (str(path), pick_micrograph(read_micrograph(path), config))
            for path in files}
    first, second, third = list(done)
    with fake_v5(instance) as port, live_job(TARGET, config, {
            "CRYOSPARC_BASE_URL": f"http://127.0.0.1:{port}", "CRYOSPARC_EMAIL": fake.EMAIL,
            "CRYOSPARC_PASSWORD": fake.PASSWORD}) as publisher:
        publisher.publish({first: done[first]})
        assert set(instance.saved["picked_particles"]["location/micrograph_uid"]) == {UIDS[0]}
        saves = instance.calls.count(SAVE)
        publisher.publish({first: done[first], third: done[third]})  # not an exposure
        assert instance.calls.count(SAVE) == saves
        publisher.publish(done)
        saved = instance.saved["picked_particles"]
        assert set(saved["location/micrograph_uid"]) == set(UIDS)
        assert len(saved) == len(done[first][1]) + len(done[second][1])
    assert instance.status == ["running", "completed"]
