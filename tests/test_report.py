"""The session report: built from a real pick run's journal and STAR files, self-contained, atomic,
tolerant of missing micrographs, and rendered by a real headless browser."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_cryostream

from cryostream.bench.synthetic import synthetic_micrograph, write_mrc
from cryostream.io import BadInputError
from cryostream.report import (
    GALLERY_SIZE,
    clock_axis,
    render_report,
    session_summary,
    write_report,
)
from cryostream.session.journal import Entry, Journal

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]
PICKED = 3


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder of a real ``cryostream pick`` run: three micrographs and one broken file."""
    root = tmp_path_factory.mktemp("session")
    for index in range(PICKED):
        made = synthetic_micrograph((512, 512), n_particles=20, diameter_px=40, seed=index)
        write_mrc(made.image, root / "mics" / f"mic_{index}.mrc", made.pixel_size_angstrom)
    (root / "mics" / "broken.mrc").write_bytes(b"not an MRC file at all" * 100)
    result = run_cryostream("pick", str(root / "mics"), "-o", str(root / "out"), "--diameter", "60",
                            "--workers", "1")
    assert result.returncode == 1, result.stderr  # the broken file fails, the others are picked
    return root / "out"


def summary_value(page: str, label: str) -> str:
    match = re.search(rf"id=['\"]summary-{label}['\"]>([^<]*)<", page)
    assert match, f"summary-{label} missing"
    return match.group(1)


def test_report_summarises_the_session(session: Path) -> None:
    written = write_report(session)
    assert written == session / "report.html"
    page = written.read_text()
    assert summary_value(page, "picked") == str(PICKED)
    assert summary_value(page, "failed") == "1"
    assert summary_value(page, "micrographs-seen") == str(PICKED + 1)
    with Journal(session, readonly=True) as journal:
        entries = journal.entries("done")
    assert summary_value(page, "particles") == str(sum(entry.picks for entry in entries))
    assert "broken.mrc" in page and "not a readable MRC file" in page
    images = re.findall(r"src='data:image/(png|jpeg);base64,", page)
    assert images.count("png") == 3 and images.count("jpeg") == PICKED  # plots, thumbnails
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert entries[0].config_digest in page and "diameter_angstrom = 60.0" in page
    assert not [path for path in session.iterdir() if path.name.endswith(".tmp")]


def test_report_says_the_diameter_and_pixel_size(session: Path) -> None:
    page = write_report(session).read_text()
    assert summary_value(page, "particle-diameter") == "60 Å = 40 px at 1.5 Å/px"


def entry(path: str, discovered_at: float, completed_at: float, status: str = "done") -> Entry:
    return Entry(path, status, 1, discovered_at, 10, 5.0, 0.5, None, None, "abc", discovered_at,
                 completed_at, 1, path, None, None)


@pytest.mark.parametrize(("minutes", "span", "rate"), [
    (0.05, "3 s", "- (after 10 min)"),  # a tiny batch: no rate per hour from 3 seconds
    (20.0, "20 min", "60"),
    (185.0, "3 h 05 min", "6"),
])
def test_a_rate_per_hour_is_given_once_it_means_something(minutes: float, span: str,
                                                          rate: str) -> None:
    start = 1_700_000_000.0
    entries = [entry(f"/data/m{index}.mrc", start + index * minutes * 3, start + index * minutes * 3
                     + minutes * 3) for index in range(20)]
    summary = session_summary(entries)
    assert summary["session span (first seen to last finished)"] == span
    assert summary["micrographs per hour (wall clock)"] == rate


@pytest.mark.parametrize(("seconds", "tick_format", "label"), [
    (5.0, "%H:%M:%S", "time (2026-05-12)"),  # a small batch: clock times, a minute wide
    (1200.0, "%H:%M", "time (2026-05-12)"),
    (2 * 86400.0, "%d %b %H:%M", "time (2026-05-12 to 2026-05-14)"),
])
def test_time_axes_are_clock_times_with_the_date(seconds: float, tick_format: str,
                                                 label: str) -> None:
    from matplotlib.dates import num2date
    from matplotlib.figure import Figure

    start = datetime(2026, 5, 12, 10, 0, 0)
    times = [start, start + timedelta(seconds=seconds)]
    axes = Figure().subplots()
    axes.plot(np.array(times, dtype="datetime64[us]"), [1, 2])
    clock_axis(axes, times, "time")
    low, high = (num2date(limit) for limit in axes.get_xlim())
    assert (high - low).total_seconds() >= max(seconds, 60.0) - 1e-3
    assert axes.xaxis.get_major_formatter().fmt == tick_format and axes.get_xlabel() == label


def test_file_names_wrap_between_words_never_inside_an_extension(tmp_path: Path) -> None:
    failed = [replace(entry(f"/data/GridSquare_{index}/Data/FoilHole_{name}_Data.mrc", 1.0, 2.0,
                            "failed"), error=f"/data/GridSquare_{index}/Data/FoilHole_{name}_Data.mrc: "
                      "cannot be read") for index, name in ((2, "nan"), (3, "short"))]
    page = render_report(tmp_path, failed)
    assert "below /<wbr>data</p>" in page  # the common folder once, then paths below it
    assert "<td>GridSquare_<wbr>2/<wbr>Data/<wbr>FoilHole_<wbr>nan_<wbr>Data.mrc</td>" in page
    assert "<td>cannot be read</td>" in page  # the reason without the path again
    assert "overflow-wrap: anywhere" not in page


def test_a_pick_into_a_relative_folder_reports_from_anywhere(tmp_path: Path) -> None:
    made = synthetic_micrograph((256, 256), n_particles=5, diameter_px=40, seed=0)
    write_mrc(made.image, tmp_path / "mics" / "m.mrc", made.pixel_size_angstrom)
    picked = run_cryostream("pick", "mics", "-o", "out", "--diameter", "60", "--workers", "1",
                            cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    page = write_report(tmp_path / "out").read_text()  # read from the tests' working folder
    assert "thumbnail skipped" not in page
    assert summary_value(page, "particle-diameter") == "60 Å = 40 px at 1.5 Å/px"


def test_report_thumbnails_decode_with_picks_drawn(session: Path) -> None:
    page = write_report(session, session / "elsewhere.html").read_text()
    encoded = re.findall(r"src='data:image/jpeg;base64,([^']+)'", page)
    thumbnail = cv2.imdecode(np.frombuffer(base64.b64decode(encoded[0]), np.uint8), cv2.IMREAD_COLOR)
    assert thumbnail is not None and thumbnail.shape[1] == 480
    chroma = thumbnail.max(axis=2).astype(int) - thumbnail.min(axis=2)
    assert (chroma > 60).mean() > 0.01  # coloured circles on a grey micrograph


def test_unreadable_micrograph_skips_its_thumbnail(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(session, out)
    with Journal(out) as journal:
        star = journal.entries("done")[0].output
        journal.mark_queued(str(tmp_path / "gone.mrc"), "gone.mrc", None, "abc")
        journal.mark_done(str(tmp_path / "gone.mrc"), 5, 1.0, 0.5, star, "abc")
    page = write_report(out).read_text()
    assert "thumbnail skipped" in page and "gone.mrc" in page
    assert summary_value(page, "picked") == str(PICKED + 1)


def test_gallery_is_capped(tmp_path: Path, session: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(session, out)
    with Journal(out) as journal:
        done = journal.entries("done")[0]
        for index in range(GALLERY_SIZE + 2):
            journal.mark_queued(f"{done.path}?{index}", f"copy {index}", None, "abc")
            journal.mark_done(f"{done.path}?{index}", 1, 1.0, 0.1, done.output, "abc")
    page = write_report(out).read_text()
    assert f"Latest micrographs ({GALLERY_SIZE} of {PICKED + GALLERY_SIZE + 2})" in page


def test_empty_journal_and_missing_journal(tmp_path: Path) -> None:
    Journal(tmp_path / "empty").close()
    page = write_report(tmp_path / "empty").read_text()
    assert "No micrograph picked yet" in page and summary_value(page, "picked") == "0"
    with pytest.raises(BadInputError, match="nothing-here: has no cryostream journal"):
        write_report(tmp_path / "nothing-here")


def test_report_command(session: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    result = run_cryostream("report", str(session), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.is_file() and str(target) in result.stderr
    result = run_cryostream("report", str(tmp_path / "nope"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "nope: has no cryostream journal" in result.stderr


def run_chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           *args, page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=180)


def test_report_renders_in_headless_chromium(session: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    page = write_report(session, tmp_path / "report.html")
    dom = run_chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    shown = re.search(r'data-images-shown="(\d+)" data-images-total="(\d+)"', dom.stdout)
    assert shown, "the page's load handler did not run"
    assert shown.group(1) == shown.group(2) == str(3 + PICKED)
    assert summary_value(dom.stdout.replace('"', "'"), "picked") == str(PICKED)
    assert summary_value(dom.stdout.replace('"', "'"), "failed") == "1"

    screenshot = tmp_path / "report.png"
    shot = run_chromium(tmp_path, page, f"--screenshot={screenshot}", "--window-size=1280,2400",
                        "--hide-scrollbars")
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    image = cv2.imread(str(screenshot))
    assert image.shape[:2] == (2400, 1280)
    assert float(image.std()) > 20  # text, plots and micrographs, not a blank page
