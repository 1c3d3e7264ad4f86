"""The session report: one self-contained HTML file (plots and thumbnails embedded as base64 PNGs)
built from an output folder's journal and coordinate files, readable in any browser without a server.

``cryostream report`` writes it on demand and ``watch`` refreshes it every few micrographs, so it
reads at most :data:`HISTOGRAM_MICROGRAPHS` STAR files and :data:`GALLERY_SIZE` micrographs per run.
"""

from __future__ import annotations

import base64
import html
import io
import os
import statistics
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
from matplotlib.figure import Figure

from . import __version__
from .config import dump_config
from .evaluation import Scale, coordinates_xy, picks_scale
from .io import BadInputError, read_micrograph
from .preview import DEFAULT_LOW_PASS_DIAMETERS, draw_overlay, encode_image
from .session.journal import Entry, Journal, journal_path
from .session.sizing import AutoDiameter
from .star import read_coordinates, write_atomically

REPORT_NAME = "report.html"
GALLERY_SIZE = 8
HISTOGRAM_MICROGRAPHS = 200
THUMBNAIL_SIDE_PX = 480
MIN_RATE_SECONDS = 600.0  # a rate per hour from a shorter span says little
MIN_AXIS_SECONDS = 60.0  # time axes span at least this
PLOT_COLOUR = "#0072B2"  # Okabe-Ito blue
FAILED_COLOUR = "#D55E00"  # Okabe-Ito vermillion

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; } td, th { padding: 0.25em 0.8em; text-align: left;
       border-bottom: 1px solid #ddd; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plots img { max-width: 100%; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1em; }
figure { margin: 0; } figure img { width: 100%; } figcaption { font-size: 0.85em; color: #444;
       overflow-wrap: break-word; }
.note { color: #8a4b00; } .failed td { overflow-wrap: break-word; } td.when { white-space: nowrap; }
#image-problem { display: none; background: #fde2d0; padding: 0.5em; }
"""

# Shows a visible warning if an embedded image fails to decode (and lets a headless browser
# test read how many images rendered).
IMAGE_CHECK = """
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const shown = images.filter((image) => image.complete && image.naturalWidth > 0).length;
  document.body.dataset.imagesShown = String(shown);
  document.body.dataset.imagesTotal = String(images.length);
  if (shown < images.length) {
    const banner = document.getElementById("image-problem");
    banner.textContent = `${images.length - shown} of ${images.length} images could not be shown.`;
    banner.style.display = "block";
  }
});
"""


def write_report(out_dir: Path, report_path: Path | None = None) -> Path:
    """Write the HTML session report of ``out_dir`` (default ``out_dir/report.html``) atomically
    and return its path."""
    out_dir = Path(out_dir)
    report_path = Path(report_path) if report_path is not None else out_dir / REPORT_NAME
    if not journal_path(out_dir).is_file():
        raise BadInputError(out_dir, "has no cryostream journal; run cryostream pick or watch "
                            "with this output folder first")
    with Journal(out_dir, readonly=True) as journal:
        entries = journal.entries()
        configs = {digest: _toml(journal, digest)
                   for digest in sorted({e.config_digest for e in entries if e.config_digest})}
        measured = AutoDiameter.recorded(journal)
    return write_atomically(report_path, render_report(out_dir, entries, configs, measured))


def _toml(journal: Journal, digest: str) -> str | None:
    config = journal.recorded_config(digest)
    return dump_config(config) if config is not None else None


def render_report(out_dir: Path, entries: Sequence[Entry],
                  configs: dict[str, str | None] | None = None,
                  measured_diameter: str | None = None) -> str:
    """The report's HTML for the journal ``entries`` of ``out_dir``, the TOML configurations
    recorded for their digests and, with ``--diameter auto``, how the diameter was measured."""
    done = [entry for entry in entries if entry.status == "done"]
    failed = [entry for entry in entries if entry.status == "failed"]
    generated = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    sections = [
        f"<h1>cryostream session report</h1><p class='meta'>{_text(out_dir.resolve())} &middot; "
        f"generated {generated} by cryostream {__version__}</p>",
        "<p id='image-problem'></p>",
        "<h2>Summary</h2>", _summary_table(entries, _scales(done[-GALLERY_SIZE:]),
                                           measured_diameter),
        "<h2>Plots</h2>", _plots(done),
        f"<h2>Latest micrographs ({min(GALLERY_SIZE, len(done))} of {len(done)})</h2>",
        _gallery(done[-GALLERY_SIZE:][::-1]),
        f"<h2>Failed files ({len(failed)})</h2>", _failures(failed),
        "<h2>Configuration</h2>", _configurations(configs or {}),
    ]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>cryostream report: {_text(out_dir.name)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(sections)}<script>{IMAGE_CHECK}</script></body></html>\n")


def session_summary(entries: Sequence[Entry], scales: Sequence[Scale] = (),
                    measured_diameter: str | None = None) -> dict[str, str]:
    """The summary figures (label -> formatted value), also used by the page's ids; ``scales``
    are the particle diameters and pixel sizes the latest micrographs were picked at, and
    ``measured_diameter`` how ``--diameter auto`` measured it. A rate per hour is given once the
    session has run for :data:`MIN_RATE_SECONDS`."""
    done = [entry for entry in entries if entry.status == "done"]
    failed = [entry for entry in entries if entry.status == "failed"]
    picks = [entry.picks or 0 for entry in done]
    merits = [(entry.mean_figure_of_merit, entry.picks) for entry in done
              if entry.mean_figure_of_merit is not None and entry.picks]
    finished = len(done) + len(failed)
    return {
        "particle diameter": "; ".join(sorted({scale.describe() for scale in scales})) or "-",
        "diameter measured (--diameter auto)": measured_diameter or "no (given)",
        "micrographs seen": str(len(entries)),
        "picked": str(len(done)),
        "failed": str(len(failed)),
        "waiting": str(len(entries) - finished),
        "particles": str(sum(picks)),
        "particles per micrograph (mean)": f"{statistics.fmean(picks):.1f}" if picks else "-",
        "mean figure of merit": (f"{sum(m * n for m, n in merits) / sum(n for _, n in merits):.3g}"
                                 if merits else "-"),
        **_timing(entries, done, finished),
        "failure rate": f"{100 * len(failed) / finished:.1f} %" if finished else "-",
        "configurations (digest)": ", ".join(sorted({e.config_digest for e in entries
                                                     if e.config_digest})) or "-",
    }


def _timing(entries: Sequence[Entry], done: Sequence[Entry], finished: int) -> dict[str, str]:
    """The summary's speed and clock figures."""
    seconds = [entry.seconds for entry in done if entry.seconds is not None]
    starts = [entry.discovered_at for entry in entries if entry.discovered_at is not None]
    ends = [entry.completed_at for entry in entries if entry.completed_at is not None]
    span = max(ends) - min(starts) if starts and ends else 0.0
    return {
        "seconds per micrograph (median, one worker)":
            f"{statistics.median(seconds):.2f}" if seconds else "-",
        "session span (first seen to last finished)": _duration(span) if span else "-",
        "micrographs per hour (wall clock)":
            f"{finished / span * 3600:.0f}" if span >= MIN_RATE_SECONDS else
            f"- (after {MIN_RATE_SECONDS / 60:.0f} min)",
        "first seen": _clock(min(starts)) if starts else "-",
        "last finished": _clock(max(ends)) if ends else "-",
    }


def acquisition_time(entry: Entry) -> float:
    """When the micrograph was acquired, as epoch seconds: its file's modification time (from the
    journal, else from disk), else when it was discovered."""
    if entry.mtime is not None:
        return entry.mtime
    try:
        return Path(entry.path).stat().st_mtime
    except OSError:
        return entry.discovered_at or entry.completed_at or time.time()


def _summary_table(entries: Sequence[Entry], scales: Sequence[Scale],
                   measured_diameter: str | None) -> str:
    rows = "".join(f"<tr><th>{_text(label)}</th><td class='number' id='{_slug(label)}'>"
                   f"{_text(value)}</td></tr>" for label, value
                   in session_summary(entries, scales, measured_diameter).items())
    return f"<table class='summary'>{rows}</table>"


def _scales(entries: Sequence[Entry]) -> list[Scale]:
    """The particle diameter and pixel size recorded in the entries' coordinate files."""
    scales = []
    for entry in entries:
        try:
            scales.append(picks_scale(entry.output or entry.path))
        except (BadInputError, OSError):
            continue
    return scales


def _duration(seconds: float) -> str:
    """``45 s``, ``20 min``, ``3 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _plots(done: Sequence[Entry]) -> str:
    if not done:
        return "<p class='note'>No micrograph picked yet.</p>"
    acquired = [datetime.fromtimestamp(acquisition_time(entry)) for entry in done]
    completed = [datetime.fromtimestamp(entry.completed_at or acquisition_time(entry))
                 for entry in done]
    merits, read = _figures_of_merit(done[-HISTOGRAM_MICROGRAPHS:])
    images = [
        _time_plot(acquired, [entry.picks or 0 for entry in done], "acquisition time",
                   "picks per micrograph", "Picks per micrograph over acquisition time"),
        _time_plot(completed, [entry.seconds or 0.0 for entry in done], "time picked",
                   "seconds per micrograph", "Seconds per micrograph (one worker)"),
        _histogram(merits, f"Figures of merit ({len(merits)} picks in the latest {read} "
                           f"micrographs)"),
    ]
    return "<div class='plots'>" + "".join(
        f"<img alt='{_text(alt)}' src='{_data_uri(png)}'>" for alt, png in images) + "</div>"


def _figures_of_merit(entries: Sequence[Entry]) -> tuple[np.ndarray, int]:
    """rlnAutopickFigureOfMerit of the entries' STAR files (unreadable ones skipped) and how many
    files were read."""
    values, read = [], 0
    for entry in entries:
        if entry.output is None:
            continue
        try:
            table = read_coordinates(entry.output)
        except BadInputError:
            continue
        read += 1
        if "rlnAutopickFigureOfMerit" in table.columns:
            values.append(table["rlnAutopickFigureOfMerit"].to_numpy(dtype=float))
    return (np.concatenate(values) if values else np.empty(0)), read


def _time_plot(times: list[datetime], values: list[float], xlabel: str, ylabel: str,
               title: str) -> tuple[str, bytes]:
    figure = Figure(figsize=(5.8, 3.0), dpi=100, layout="constrained")
    axes = figure.subplots()
    axes.plot(np.array(times, dtype="datetime64[us]"), values, "o", color=PLOT_COLOUR,
              markersize=3.5)
    clock_axis(axes, times, xlabel)
    axes.set(ylabel=ylabel, title=title)
    axes.set_ylim(0, max(max(values, default=0.0) * 1.12, 1.0))
    axes.grid(alpha=0.3)
    return title, _png(figure)


def clock_axis(axes: Axes, times: list[datetime], label: str) -> None:
    """An x axis of clock times: ticks with seconds when the span is short, the date in the axis
    label, and at least :data:`MIN_AXIS_SECONDS` shown (a batch of a few seconds would otherwise
    be labelled in bare seconds)."""
    first, last = min(times), max(times)
    span = (last - first).total_seconds()
    if span < MIN_AXIS_SECONDS:
        pad = timedelta(seconds=(MIN_AXIS_SECONDS - span) / 2)
        axes.set_xlim(date2num(first - pad), date2num(last + pad))
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=7))
    axes.xaxis.set_major_formatter(DateFormatter(
        "%H:%M:%S" if span < 600 else "%H:%M" if last.date() == first.date() else "%d %b %H:%M"))
    dates = f"{first:%Y-%m-%d}" + (f" to {last:%Y-%m-%d}" if last.date() != first.date() else "")
    axes.set_xlabel(f"{label} ({dates})")


def _histogram(values: np.ndarray, title: str) -> tuple[str, bytes]:
    figure = Figure(figsize=(5.8, 3.0), dpi=100, layout="constrained")
    axes = figure.subplots()
    if len(values):
        axes.hist(values, bins=min(50, max(5, len(values) // 20)), color=PLOT_COLOUR)
    else:
        axes.text(0.5, 0.5, "no figures of merit", ha="center", transform=axes.transAxes)
    axes.set(xlabel="figure of merit (rlnAutopickFigureOfMerit)", ylabel="picks", title=title)
    axes.grid(alpha=0.3)
    return title, _png(figure)


def _gallery(entries: Sequence[Entry]) -> str:
    if not entries:
        return "<p class='note'>No micrograph picked yet.</p>"
    items = []
    for entry in entries:
        caption = (f"{_breakable(Path(entry.path).name)}<br>{entry.picks} picks &middot; "
                   f"{entry.seconds or 0:.2f} s &middot; {_clock(entry.completed_at)}")
        try:
            jpeg = _thumbnail(entry)
            items.append(f"<figure><img alt='{_text(Path(entry.path).name)}' "
                         f"src='{_data_uri(jpeg, 'image/jpeg')}'><figcaption>{caption}</figcaption></figure>")
        except (OSError, ValueError) as error:
            items.append(f"<figure><figcaption>{caption}<br><span class='note'>thumbnail skipped:"
                         f" {_text(error)}</span></figcaption></figure>")
    return f"<div class='gallery'>{''.join(items)}</div>"


def _thumbnail(entry: Entry) -> bytes:
    """The entry's micrograph with its picks drawn, as JPEG bytes (a noisy micrograph is ten
    times smaller as JPEG than as PNG, and the report is rewritten every few micrographs)."""
    if entry.output is None:
        raise BadInputError(entry.path, "the journal records no coordinate file")
    diameter_px = picks_scale(entry.output).diameter_px
    micrograph = read_micrograph(entry.path)
    overlay = draw_overlay(micrograph.data, coordinates_xy(entry.output), diameter_px,
                           low_pass_diameters=DEFAULT_LOW_PASS_DIAMETERS,
                           max_side_px=THUMBNAIL_SIDE_PX)
    return encode_image(overlay, ".jpg")


def _failures(failed: Sequence[Entry]) -> str:
    """The failed files below their common folder (named once above the table), each with its
    reason (without the path again), attempts and when."""
    if not failed:
        return "<p>None.</p>"
    root = os.path.commonpath([os.path.dirname(entry.path) for entry in failed])
    rows = "".join(f"<tr><td>{_breakable(os.path.relpath(entry.path, root))}</td>"
                   f"<td>{_breakable((entry.error or 'no reason').removeprefix(entry.path + ': '))}"
                   f"</td><td class='number'>{entry.attempts}</td>"
                   f"<td class='when'>{_clock(entry.completed_at)}</td></tr>" for entry in failed)
    return (f"<p class='meta'>below {_breakable(root)}</p><table class='failed'><tr><th>file</th>"
            f"<th>reason</th><th>attempts</th><th>when</th></tr>{rows}</table>")


def _configurations(configs: dict[str, str | None]) -> str:
    if not configs:
        return "<p>None recorded.</p>"
    return "".join(f"<details><summary>digest {_text(digest)}</summary><pre>"
                   f"{_text(toml or 'not recorded in the journal (see the STAR file headers)')}"
                   "</pre></details>" for digest, toml in configs.items())


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _clock(epoch_seconds: float | None) -> str:
    if epoch_seconds is None:
        return "-"
    return datetime.fromtimestamp(epoch_seconds).strftime("%Y-%m-%d %H:%M:%S")


def _slug(label: str) -> str:
    return "summary-" + "-".join("".join(c if c.isalnum() else " " for c in label).split())


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _breakable(value: object) -> str:
    """Text with paths in it, allowed to wrap after ``/`` and ``_`` (never inside a name's
    extension: ``nan.mr`` / ``c``)."""
    return _text(value).replace("/", "/<wbr>").replace("_", "_<wbr>")
