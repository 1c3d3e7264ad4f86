"""The CryoSPARC shim offline: the particle .cs dataset and .csg result group it writes, and its
argument checks (the server mode: test_cryosparc_server.py)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("cryosparc.dataset", reason="cryosparc-tools (cryostream[cryosparc]) is absent")

from cryosparc.dataset import Dataset  # noqa: E402

from cryostream.bench.synthetic import synthetic_micrograph, write_mrc  # noqa: E402
from cryostream.config import preset  # noqa: E402
from cryostream.io import read_micrograph  # noqa: E402
from cryostream.picker import pick_micrograph  # noqa: E402
from integrations.cryosparc.dataset import PARTICLE_FIELDS, particles_dataset  # noqa: E402
from integrations.cryosparc.external_job import main  # noqa: E402

PIXEL_SIZE_ANGSTROM = 1.5
DIAMETER_ANGSTROM = 60.0
UIDS = [111111111111, 222222222222]
GROUPS = [1, 2]
REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def cryosparc_project(tmp_path: Path) -> Path:
    """A CryoSPARC-like project folder: two motion-corrected micrographs and an exposures .cs
    listing them by project-relative path, as CryoSPARC records them, in exposure groups 1 and 2
    (recorded in ctf, as exposures exported after CTF estimation have it)."""
    paths = []
    for index, uid in enumerate(UIDS):
        image = synthetic_micrograph((640, 768), n_particles=30, diameter_px=40.0,
                                     pixel_size_angstrom=PIXEL_SIZE_ANGSTROM, seed=index).image
        relative = f"J2/motioncorrected/{uid}_mic_{index}.mrc"
        write_mrc(image, tmp_path / relative, 3.0)  # header deliberately wrong: psize_A wins
        paths.append(relative)
    exposures = Dataset.allocate(len(UIDS), [("micrograph_blob/path", "O"),
                                             ("micrograph_blob/psize_A", "<f4"),
                                             ("micrograph_blob/shape", "<u4", (2,)),
                                             ("ctf/exp_group_id", "<u4")])
    exposures["uid"] = UIDS
    exposures["micrograph_blob/path"] = np.array(paths, dtype=object)
    exposures["micrograph_blob/psize_A"] = PIXEL_SIZE_ANGSTROM
    exposures["micrograph_blob/shape"] = [[640, 768]] * len(UIDS)
    exposures["ctf/exp_group_id"] = GROUPS
    exposures.save(tmp_path / "exposures.cs")
    return tmp_path


def test_offline_particles_cs_round_trips_with_its_result_group(cryosparc_project: Path) -> None:
    scripts = {entry.name: entry.value for entry in metadata.entry_points(group="console_scripts")}
    assert scripts["cryostream-cryosparc"] == "integrations.cryosparc.external_job:main"
    out = cryosparc_project / "picks" / "particles.cs"
    result = subprocess.run(
        [sys.executable, "-m", "integrations.cryosparc.external_job", "--exposures-cs",
         "exposures.cs", "--out", str(out.parent), "--diameter", f"{DIAMETER_ANGSTROM:g}"],
        cwd=cryosparc_project, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(REPOSITORY), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    particles = Dataset.load(out)
    assert particles.descr() == [("uid", "<u8"), *PARTICLE_FIELDS]
    config = preset("default", diameter_angstrom=DIAMETER_ANGSTROM)
    exposures = Dataset.load(cryosparc_project / "exposures.cs")
    total = 0
    for uid, path, group in zip(exposures["uid"], exposures["micrograph_blob/path"], GROUPS,
                                strict=True):
        expected = pick_micrograph(read_micrograph(cryosparc_project / path, PIXEL_SIZE_ANGSTROM),
                                   config)
        rows = particles.query({"location/micrograph_uid": uid})
        assert len(rows) == len(expected) > 10
        assert set(rows["location/micrograph_path"]) == {path}
        assert set(rows["location/exp_group_id"]) == {group}
        ny, nx = expected.micrograph_shape
        assert (rows["location/micrograph_shape"] == [ny, nx]).all()
        np.testing.assert_allclose(rows["location/center_x_frac"] * nx, expected.x, atol=0.01)
        np.testing.assert_allclose(rows["location/center_y_frac"] * ny, expected.y, atol=0.01)
        np.testing.assert_allclose(rows["pick_stats/ncc_score"], expected.figure_of_merit,
                                   rtol=1e-5)
        np.testing.assert_allclose(rows["location/micrograph_psize_A"], PIXEL_SIZE_ANGSTROM)
        np.testing.assert_allclose(rows["location/min_dist_A"], config.min_distance_diameters
                                   * expected.diameter_px * expected.pixel_size_angstrom,
                                   rtol=1e-5)
        total += len(rows)
    assert len(particles) == total
    assert len(set(particles["uid"])) == total
    # The default .cs format is a plain numpy record array, readable without cryosparc-tools.
    records = np.load(out)
    assert set(records.dtype.names) == {"uid", *(field[0] for field in PARTICLE_FIELDS)}
    assert f"2 micrographs picked, {total} particles;" in result.stdout
    assert f"{total} particles of 2 exposures in {out}" in result.stdout
    group = yaml.safe_load(out.with_suffix(".csg").read_text())
    assert group["group"] == {"name": "picked_particles", "type": "particle",
                              "title": "cryostream picks", "description": "cryostream picks"}
    assert group["results"] == {slot: {"metafile": ">particles.cs", "num_items": total,
                                       "type": f"particle.{slot}"}
                                for slot in ("location", "pick_stats")}
    assert group["version"] == f"v{metadata.version('cryosparc-tools')}"


def test_no_picks_gives_an_empty_dataset_with_every_field(tmp_path: Path) -> None:
    empty = particles_dataset([], 0.5)
    assert len(empty) == 0
    assert empty.descr() == [("uid", "<u8"), *PARTICLE_FIELDS]
    empty.save(tmp_path / "empty.cs")
    assert Dataset.load(tmp_path / "empty.cs").descr() == empty.descr()


def test_unreadable_micrograph_is_reported_and_the_rest_written(
        cryosparc_project: Path, capsys: pytest.CaptureFixture) -> None:
    broken = cryosparc_project / "J2/motioncorrected" / f"{UIDS[1]}_mic_1.mrc"
    broken.write_bytes(b"truncated")
    out = cryosparc_project / "picks"
    assert main(["--exposures-cs", str(cryosparc_project / "exposures.cs"), "--out", str(out),
                 "--diameter", "60"]) == 1
    assert str(broken) in capsys.readouterr().err
    particles = Dataset.load(out / "particles.cs")
    assert set(particles["location/micrograph_uid"]) == {UIDS[0]}


def test_exposures_without_micrographs_are_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    exposures = Dataset.allocate(1, [("ctf/df1_A", "<f4")])
    exposures.save(tmp_path / "ctf_only.cs")
    assert main(["--exposures-cs", str(tmp_path / "ctf_only.cs"), "--out",
                 str(tmp_path / "p"), "--diameter", "60"]) == 2
    error = capsys.readouterr().err
    assert "ctf_only.cs" in error and "micrograph_blob/path" in error
    (tmp_path / "junk.cs").write_bytes(b"junk")
    assert main(["--exposures-cs", str(tmp_path / "junk.cs"), "--out", str(tmp_path / "p"),
                 "--diameter", "60"]) == 2
    assert "junk.cs: not a readable CryoSPARC .cs file" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_server_mode_arguments_and_connection_errors(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    """The argument checks, and nothing listening at the URL, with either client major (the
    server itself: test_cryosparc_server.py)."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no stored cryosparc-tools login session
    monkeypatch.setenv("CRYOSPARC_COMMAND_RETRY_SECONDS", "0")  # 4.x waits 30 s between tries
    monkeypatch.setenv("CRYOSPARC_LICENSE_ID", "01234567-89ab-cdef-0123-456789abcdef")
    monkeypatch.setenv("CRYOSPARC_PASSWORD", "secret")
    server = ["--url", "http://127.0.0.1:9", "--diameter", "60"]
    assert main([*server, "--project", "P1", "--workspace", "W1"]) == 2
    assert "server mode needs --micrographs" in capsys.readouterr().err
    assert main([*server, "--project", "P1", "--workspace", "W1", "--micrographs", "J2"]) == 2
    assert "JOB.OUTPUT" in capsys.readouterr().err
    assert main([*server, "--project", "P1", "--workspace", "W1", "--micrographs",
                 "J2.exposures_accepted", "--email", "user@example.org"]) == 2
    assert "cannot connect to CryoSPARC at http://127.0.0.1:9" in capsys.readouterr().err
    assert main(["--diameter", "60"]) == 2
    assert "either --exposures-cs" in capsys.readouterr().err
    assert main([*server, "--host", "h", "--project", "P1", "--workspace", "W1", "--micrographs",
                 "J2.exposures_accepted"]) == 2
    assert "give --url or --host/--base-port, not both" in capsys.readouterr().err
