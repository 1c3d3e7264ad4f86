"""The session's up-front check: the first micrograph's header against the diameter, once per
session, for every front door (pick and watch through the CLI, the RELION and CryoSPARC jobs
through ``run_batch``, which is all a shim calls)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import starfile
from conftest import PIXEL_SIZE_ANGSTROM, small_image, small_mrc

from cryostream.bench.synthetic import write_mrc
from cryostream.config import preset
from cryostream.session.batch import run_batch
from cryostream.session.errors import UsageError
from cryostream.session.executor import ExecutorChoice
from cryostream.session.journal import Journal
from cryostream.session.outputs import OutputOptions
from cryostream.session.preflight import check_first_micrograph
from cryostream.session.tasks import SessionOptions, Task

INLINE = ExecutorChoice("inline")


@pytest.mark.parametrize(("diameter", "user", "host", "outcome"), [
    (60.0, None, None, []),  # 40 px at the header's 1.5 Å/px
    (5000.0, None, None, "5,000 Å is 3,333 px at 1.5 Å/px (from the header of {mic}): as wide as "
     "the micrograph (256 x 256 px)"),
    (5.0, None, None, "5 Å is 3.33 px at 1.5 Å/px (from the header of {mic}): too small to pick"),
    (10.0, None, None, ["10 Å is 6.67 px at 1.5 Å/px (from the header of {mic}): under 8 px"]),
    (60.0, 0.01, None, "60 Å is 6,000 px at 0.01 Å/px (from --pixel-size): as wide"),
    (6.0, None, 0.5, []),  # 12 px at the host's 0.5 Å/px
    (6.0, None, 1.0, ["6 Å is 6 px at 1 Å/px (from the job's micrograph metadata): under 8 px"]),
])
def test_the_diameter_is_checked_in_pixels_at_the_pixel_size_used(
        tmp_path: Path, diameter: float, user: float | None, host: float | None,
        outcome: str | list[str]) -> None:
    mic = small_mrc(tmp_path / "m.mrc")
    if isinstance(outcome, str):
        with pytest.raises(UsageError, match="^" + re.escape(f"--diameter {outcome}".format(mic=mic))):
            check_first_micrograph(mic, diameter, user, host)
        return
    notes = check_first_micrograph(mic, diameter, user, host)
    assert len(notes) == len(outcome)
    assert all(note.startswith(f"--diameter {text}".format(mic=mic))
               for note, text in zip(notes, outcome, strict=True))


@pytest.mark.parametrize(("user", "host", "warned"), [(None, None, True), (1.5, None, False),
                                                      (None, 1.5, False)])
def test_an_unset_header_is_said_only_when_the_header_is_used(
        tmp_path: Path, user: float | None, host: float | None, warned: bool) -> None:
    mic = write_mrc(small_image(), tmp_path / "m.mrc", 1.0)
    notes = check_first_micrograph(mic, 60.0, user, host)
    assert any("the MRC header says 1.0 Å/px" in note and str(mic) in note and "--pixel-size" in note
               for note in notes) == warned


def events_of(kind: str, events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [fields for name, fields in events if name == kind]


def test_a_batch_is_refused_before_anything_is_queued(tmp_path: Path) -> None:
    tasks = [Task(small_mrc(tmp_path / f"m{index}.mrc", index), f"m{index}",
                  tmp_path / "o" / f"m{index}.star") for index in range(2)]
    options = SessionOptions("relion", OutputOptions(tmp_path / "o", combined_star=False))
    with pytest.raises(UsageError, match="as wide as the micrograph"):
        run_batch(options, preset("default", diameter_angstrom=5000.0), tasks, INLINE)
    with Journal(tmp_path / "o", readonly=True) as journal:
        assert journal.entries() == []


def test_the_first_readable_header_is_checked_and_notes_come_once(tmp_path: Path) -> None:
    broken = tmp_path / "a_broken.mrc"
    broken.write_bytes(b"not an MRC file at all" * 100)
    stacks = [write_mrc(np.stack([small_image(index)] * 2), tmp_path / f"b{index}.mrc",
                        PIXEL_SIZE_ANGSTROM) for index in range(2)]
    tasks = [Task(path, path.stem, tmp_path / "o" / f"{path.stem}.star")
             for path in (broken, *stacks)]
    events: list[tuple[str, dict[str, Any]]] = []
    result = run_batch(SessionOptions("cryosparc", OutputOptions(tmp_path / "o")),
                       preset("default", diameter_angstrom=60.0), tasks, INLINE,
                       on_event=lambda kind, fields: events.append((kind, fields)))
    assert [fields["micrograph"] for fields in events_of("warning", events)] == ["b0"]
    assert "a stack of 2 frames" in events_of("warning", events)[0]["message"]
    assert len(result.summary.failed) == 1 and result.summary.picked == 2


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_pixel_size_that_is_no_positive_number_is_refused(tmp_path: Path, value: float) -> None:
    with pytest.raises(UsageError, match="--pixel-size must be a positive number of Å/px"):
        SessionOptions("pick", OutputOptions(tmp_path), pixel_size_angstrom=value)


def test_the_relion_job_fails_naming_the_diameter_in_angstrom_and_pixels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from integrations.relion.external_job import EXIT_FAILURE, main

    small_mrc(tmp_path / "Movies" / "m.mrc")
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [2.0]})
    micrographs = pd.DataFrame({"rlnMicrographName": ["Movies/m.mrc"], "rlnOpticsGroup": [1]})
    starfile.write({"optics": optics, "micrographs": micrographs}, tmp_path / "mics.star")
    monkeypatch.chdir(tmp_path)
    assert main(["--o", "External/job001/", "--in_mics", "mics.star", "--diameter", "5",
                 "--relion_version", "3.1"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == ("cryostream-relion: error: --diameter 5 Å is 2.5 px at 2 Å/px (from the job's "
                     "micrograph metadata): too small to pick (at least 4 px across, 8 px or more "
                     "to find most particles); give the diameter in Å, not nm, and check the "
                     "pixel size")
    assert (tmp_path / "External" / "job001" / EXIT_FAILURE).exists()
