"""The latency benchmark's figures and file landing (the benchmark itself runs as
`cryostream bench-latency`, not as a test: it needs minutes of 4096 x 4096 micrographs)."""

from __future__ import annotations

from pathlib import Path

from cryostream.bench.latency import LatencyResult, land_micrograph, watcher_command


def test_median_and_95th_percentile_and_summary() -> None:
    result = LatencyResult(micrographs=20, interval_seconds=2.0, size_px=4096, quiet_seconds=3.0,
                           polling=False, in_place=False,
                           latencies_seconds=[float(value) for value in range(1, 21)],
                           pick_seconds=[0.5] * 20)
    assert result.median_seconds == 10.5
    assert result.p95_seconds == 19.0
    summary = result.summary()
    assert "median 10.50 s" in summary and "95th percentile 19.00 s" in summary
    assert "renamed into place" in summary and "3.5 s" in summary


def test_landing_renames_into_place_or_writes_in_place(tmp_path: Path) -> None:
    source = tmp_path / "source.mrc"
    source.write_bytes(b"x" * 1000)
    renamed = land_micrograph(source, tmp_path / "a.mrc", in_place=False)
    written = land_micrograph(source, tmp_path / "b.mrc", in_place=True)
    assert renamed.read_bytes() == written.read_bytes() == source.read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


def test_the_watcher_runs_with_this_interpreter(tmp_path: Path) -> None:
    command = watcher_command(tmp_path / "acquisition", tmp_path / "picks", "--polling")
    assert command[1:4] == ["-m", "cryostream", "watch"] and command[-1] == "--polling"
    assert command[command.index("-o") + 1] == str(tmp_path / "picks")
