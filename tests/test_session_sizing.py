"""``--diameter auto``: parsing, the session's sample and refinement, the journal record, and
what a user sees on the command line (every STAR header says how the diameter was measured)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    DIAMETER_ANGSTROM,
    PIXEL_SIZE_ANGSTROM,
    WATCH_FAST,
    Daemon,
    mrc_bytes,
    run_cryostream,
    small_mrc,
    statuses,
    wait_for,
    write_via_rename,
)

from cryostream.bench.synthetic import write_mrc
from cryostream.config import DEFAULT_DIAMETER_RANGE_ANGSTROM
from cryostream.diameter import DiameterEstimate, SizeEvidence
from cryostream.session.errors import UsageError
from cryostream.session.journal import Journal
from cryostream.session.settings import auto_range, parse_diameter
from cryostream.session.sizing import SAMPLE_MICROGRAPHS, AutoDiameter
from cryostream.star import read_provenance


@pytest.mark.parametrize(("text", "expected"), [
    ("150", 150.0), ("62.5", 62.5), (80.0, 80.0), ("auto", None), ("AUTO", None), (None, None)])
def test_diameter_values(text: str | float | None, expected: float | None) -> None:
    assert parse_diameter(text) == expected


@pytest.mark.parametrize("text", ["big", "12 Å", "1:2"])
def test_a_diameter_that_is_no_number_names_the_option(text: str) -> None:
    with pytest.raises(UsageError, match=f"--diameter must be a number of Å or auto, got '{text}'"):
        parse_diameter(text)


@pytest.mark.parametrize(("diameter", "range_text", "expected"), [
    ("auto", None, DEFAULT_DIAMETER_RANGE_ANGSTROM), ("auto", "50:300", (50.0, 300.0)),
    ("120", None, None), (None, None, None)])
def test_diameter_ranges(diameter: str | None, range_text: str | None,
                         expected: tuple[float, float] | None) -> None:
    assert auto_range(diameter, range_text) == expected


@pytest.mark.parametrize(("diameter", "range_text", "message"), [
    ("120", "50:300", "only with --diameter auto"), ("auto", "50-300", "MIN:MAX in Å"),
    ("auto", "300:50", "0 < MIN < MAX"), ("auto", "0:50", "0 < MIN < MAX")])
def test_bad_diameter_ranges(diameter: str, range_text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        auto_range(diameter, range_text)


def _estimate(diameter_angstrom: float) -> DiameterEstimate:
    curve = SizeEvidence(np.array([50.0, 60.0, 70.0]), np.array([5.0, 6.0, 5.5]), (52.0, 60.0, 68.0))
    return DiameterEstimate(diameter_angstrom, 0.8 * diameter_angstrom, 1.2 * diameter_angstrom,
                            (curve,))


def test_sample_is_spread_and_refinement_moves_only_beyond_the_dead_band() -> None:
    sizing = AutoDiameter((20.0, 600.0))
    assert SAMPLE_MICROGRAPHS == 5
    keys = [f"m{index}" for index in range(15)]
    assert sizing.sample(keys) == [0, 3, 6, 9, 12]
    assert sizing.update(_estimate(100.0), ["m0"])
    assert sizing.sample(keys) == [1, 4, 7, 10]  # four more, none measured twice
    assert not sizing.update(_estimate(110.0), ["m1"])  # within 15 %: keep picking at 100 Å
    assert sizing.estimate is not None and sizing.estimate.diameter_angstrom == 100.0
    assert sizing.update(_estimate(130.0), ["m2", "m3", "m4"])
    assert sizing.sample(keys) == []  # the sample is complete
    retried = AutoDiameter((20.0, 600.0), tried=("m0", "m3", "m6", "m9", "m12"))
    assert retried.sample(keys) == [1, 4, 7, 10, 13] and retried.may_try_again(keys)
    exhausted = AutoDiameter((20.0, 600.0), tried=tuple(keys))
    assert exhausted.sample(keys) == [] and not exhausted.may_try_again(keys)
    assert sizing.describe().startswith(f"auto: 130 Å measured on {SAMPLE_MICROGRAPHS} "
                                        "micrographs (plateau 104-156 Å")


def test_the_journal_keeps_the_measurement_for_the_same_range_only(tmp_path: Path) -> None:
    sizing = AutoDiameter((20.0, 600.0))
    sizing.update(_estimate(100.0), ["a.mrc"])
    with Journal(tmp_path) as journal:
        sizing.save(journal)
        restored = AutoDiameter.restore(journal, (20.0, 600.0))
        assert restored.measured == ("a.mrc",)
        assert restored.estimate is not None and restored.estimate.diameter_angstrom == 100.0
        np.testing.assert_array_equal(restored.estimate.evidence[0].snr, [5.0, 6.0, 5.5])
        assert restored.estimate.evidence[0].plateau_angstrom == (52.0, 60.0, 68.0)
        assert AutoDiameter.restore(journal, (50.0, 300.0)).estimate is None
        assert AutoDiameter.recorded(journal) == restored.describe()
        older = sizing.to_dict()  # a journal from before each micrograph's plateau was kept
        older["estimate"]["evidence"] = [item[:2] for item in older["estimate"]["evidence"]]
        journal.set_setting("auto_diameter", json.dumps(older))
        evidence = AutoDiameter.restore(journal, (20.0, 600.0)).evidence
        assert evidence[0].plateau_angstrom[1] == pytest.approx(60.0, rel=0.1)  # from its curve
        journal.set_setting("auto_diameter", "{not json")
        assert AutoDiameter.restore(journal, (20.0, 600.0)).estimate is None


@pytest.mark.parametrize(("with_signal", "total", "cautioned"),
                         [(3, 3, False), (2, 4, False), (1, 4, True)])
def test_an_estimate_most_micrographs_do_not_support_is_described_and_cautioned(
        with_signal: int, total: int, cautioned: bool) -> None:
    shown = SizeEvidence(np.array([50.0, 60.0, 70.0]), np.array([5.0, 6.0, 5.5]), (52.0, 60.0, 68.0))
    empty = SizeEvidence(np.array([50.0, 60.0, 70.0]), np.zeros(3))
    evidence = (shown,) * with_signal + (empty,) * (total - with_signal)
    sizing = AutoDiameter((20.0, 600.0))
    sizing.update(DiameterEstimate(60.0, 52.0, 68.0, evidence), [f"m{i}" for i in range(total)])
    assert sizing.with_signal == (with_signal, total)
    assert sizing.describe().split(" (")[0] == (
        f"auto: 60 Å measured on {total} micrographs"
        + ("" if with_signal == total else f", {with_signal} with a particle-like signal"))
    caution = sizing.caution()
    assert (caution is not None) == cautioned
    assert caution is None or caution.startswith("--diameter auto: 1 of 4 micrographs measured")


def test_micrographs_a_batch_found_no_signal_in_first_count_against_the_estimate(
        tmp_path: Path) -> None:
    shown = SizeEvidence(np.array([50.0, 60.0, 70.0]), np.array([5.0, 6.0, 5.5]), (52.0, 60.0, 68.0))
    sizing = AutoDiameter((20.0, 600.0), tried=("m0", "m1", "m2", "m3", "m4"))
    sizing.update(DiameterEstimate(60.0, 52.0, 68.0, (shown,)), ["m5"])
    assert sizing.with_signal == (1, 6)
    assert sizing.describe().startswith("auto: 60 Å measured on 6 micrographs, 1 with a particle")
    assert (sizing.caution() or "").startswith("--diameter auto: 1 of 6 micrographs measured")
    with Journal(tmp_path) as journal:  # the report says the same after the session
        sizing.save(journal)
        assert AutoDiameter.recorded(journal) == sizing.describe()


def test_pick_warns_when_most_sampled_micrographs_show_nothing(tmp_path: Path) -> None:
    small_mrc(tmp_path / "in" / "mic0.mrc", 0, (768, 768))
    for seed in range(1, 4):  # empty: noise only
        noise = np.random.default_rng(seed).normal(0.0, 1.0, (768, 768)).astype(np.float32)
        write_mrc(noise, tmp_path / "in" / f"mic{seed}.mrc", PIXEL_SIZE_ANGSTROM)
    result = run_cryostream("pick", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                            "--diameter", "auto", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert "measured on 4 micrographs, 1 with a particle-like signal (" in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: --diameter auto: 1 of 4 micrographs measured show a particle-like signal")


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("acquisition")
    for seed in range(4):
        small_mrc(folder / f"mic{seed}.mrc", seed, (768, 768))
    return folder


def test_pick_with_auto_records_the_estimate_and_reruns_cleanly(acquisition: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_cryostream("pick", str(acquisition), "-o", str(out), "--diameter", "auto",
                           "--workers", "1")
    assert first.returncode == 0, first.stderr
    sampled = min(SAMPLE_MICROGRAPHS, 4)
    assert "diameter auto: " in first.stderr
    assert f"measured on {sampled} micrographs" in first.stderr
    stars = sorted(out.glob("*_autopick.star"))
    assert len(stars) == 4
    sources = {read_provenance(star)["diameter_source"] for star in stars}
    assert len(sources) == 1
    sources_text = sources.pop()
    assert sources_text.startswith("auto: ") and "searched 20-600 Å" in sources_text
    diameters = {float(read_provenance(star)["diameter_px"]) * 1.5 for star in stars}
    assert all(0.6 * DIAMETER_ANGSTROM < value < 1.65 * DIAMETER_ANGSTROM for value in diameters)
    with Journal(out) as journal:  # the picker's own check stays on the estimate's plateau
        estimate = AutoDiameter.restore(journal, DEFAULT_DIAMETER_RANGE_ANGSTROM).estimate
        config = journal.recorded_config(journal.get_setting("config_digest") or "")
    assert estimate is not None and config is not None
    assert config.min_checked_diameter_angstrom == round(estimate.low_angstrom, 1)
    assert config.max_checked_diameter_angstrom == round(estimate.high_angstrom, 1)
    assert config.diameter_measured
    again = run_cryostream("pick", str(acquisition), "-o", str(out), "--diameter", "auto")
    assert again.returncode == 0, again.stderr
    assert "4 already picked (skipped)" in again.stderr
    given = run_cryostream("pick", str(acquisition), "-o", str(out), "--diameter", "60")
    assert given.returncode == 2
    assert "diameter: auto (20-600 Å) -> given" in given.stderr
    assert set(statuses(out).values()) == {"done"}
    assert run_cryostream("report", str(out)).returncode == 0
    assert f"<td class='number' id='summary-diameter-measured-diameter-auto'>{sources_text}" in \
        (out / "report.html").read_text()


@pytest.mark.parametrize(("count", "tried_before"), [(1, ""), (6, " (and the 5 micrographs tried before)")])
def test_auto_without_particles_is_one_line_naming_the_files(tmp_path: Path, count: int,
                                                             tried_before: str) -> None:
    """With more micrographs than a sample, the batch measures another before it gives up; the
    error names the last sample and counts the ones before it."""
    from cryostream.bench.synthetic import write_mrc

    blank = tmp_path / "blank"
    blank.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        write_mrc(rng.normal(size=(512, 512)).astype(np.float32), blank / f"noise{index}.mrc", 1.5)
    result = run_cryostream("pick", str(blank), "-o", str(tmp_path / "out"), "--diameter", "auto",
                            "--diameter-range", "40:200")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--diameter auto: no particle-like signal between 40 and 200 Å" in result.stderr
    assert f"noise{count - 1}.mrc{tried_before};" in result.stderr


def test_watch_refines_as_micrographs_arrive_and_a_restart_goes_on(
        tmp_path: Path, daemons: list[Daemon]) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "out"
    acquisition.mkdir()
    daemon = Daemon(acquisition, out, tmp_path / "watch.log", "--diameter", "auto", *WATCH_FAST)
    daemons.append(daemon)
    daemon.wait_started()
    for seed in range(SAMPLE_MICROGRAPHS + 1):
        write_via_rename(mrc_bytes(tmp_path, seed, (768, 768)), acquisition / f"mic{seed}.mrc")
        wait_for(lambda count=seed + 1: len(daemon.events("done")) == count, 120,
                 f"micrograph {seed} to be picked", daemon)
    measured = [event["message"] for event in daemon.events("diameter")]
    assert [message.split(" measured on ")[1].split(" (")[0] for message in measured] == [
        "1 micrograph"] + [f"{count} micrographs" for count in range(2, SAMPLE_MICROGRAPHS + 1)]
    assert daemon.stop() == 0
    with Journal(out, readonly=True) as journal:
        assert AutoDiameter.recorded(journal) == measured[-1]
    write_via_rename(mrc_bytes(tmp_path, 9, (768, 768)), acquisition / "mic9.mrc")
    again = Daemon(acquisition, out, tmp_path / "again.log", "--diameter", "auto", "--once",
                   *WATCH_FAST)
    daemons.append(again)
    assert again.process.wait(timeout=180) == 0
    assert again.events("diameter") == [] and len(again.events("done")) == 1
    header = read_provenance(out / "mic9_autopick.star")
    assert header["diameter_source"] == measured[-1]


def _write_noise(source: Path, path: Path) -> None:
    from cryostream.bench.synthetic import write_mrc

    data = np.random.default_rng(0).normal(size=(768, 768)).astype(np.float32)
    write_via_rename(write_mrc(data, source, 1.5).read_bytes(), path)


def test_watch_keeps_micrographs_without_signal_until_the_diameter_is_measured(
        tmp_path: Path) -> None:
    acquisition, out = tmp_path / "acquisition", tmp_path / "out"
    acquisition.mkdir()
    _write_noise(tmp_path / "noise.mrc", acquisition / "blank.mrc")
    alone = Daemon(acquisition, out, tmp_path / "alone.log", "--diameter", "auto", "--once",
                   *WATCH_FAST)
    assert alone.process.wait(timeout=180) == 0
    assert [event["micrograph"] for event in alone.events("waiting")] == [
        str(acquisition / "blank.mrc")]
    stop = alone.events("stop")[0]
    assert stop["waiting_for_diameter"] == 1 and stop["failed"] == 0
    assert "1 wait for a diameter" in stop["message"]
    assert statuses(out) == {}  # nothing recorded: the next run measures it again
    for seed in range(2):
        write_via_rename(mrc_bytes(tmp_path, seed, (768, 768)), acquisition / f"mic{seed}.mrc")
    again = Daemon(acquisition, out, tmp_path / "again.log", "--diameter", "auto", "--once",
                   *WATCH_FAST)
    assert again.process.wait(timeout=180) == 0
    assert len(again.events("diameter")) >= 1 and again.events("failed") == []
    assert set(statuses(out).values()) == {"done"} and len(statuses(out)) == 3
    assert read_provenance(out / "blank_autopick.star")["diameter_source"].startswith("auto: ")
