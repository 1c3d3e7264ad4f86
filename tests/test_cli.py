"""The one-shot commands, run as a user runs them (a real subprocess for pick)."""

import json
from pathlib import Path

import numpy as np
import starfile
from conftest import invoke, run_cryostream, write_coordinates

from cryostream.bench.synthetic import write_acquisition
from cryostream.cli import app
from cryostream.session.journal import Journal


def test_pick_folder_mirrors_tree_reports_bad_file_and_evaluates(tmp_path: Path) -> None:
    acquisition = tmp_path / "acq"
    write_acquisition(acquisition, 3, shape=(512, 512), diameter_px=32, pixel_size_angstrom=2.0)
    bad = acquisition / "GridSquare_9" / "Data" / "broken.mrc"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an mrc" * 200)
    out = tmp_path / "out"
    result = run_cryostream("pick", str(acquisition), "-o", str(out), "--diameter", "64", "--workers", "2",
                  "--box")
    assert result.returncode == 1, result.stderr
    assert "broken.mrc" in result.stderr and "not a readable MRC" in result.stderr
    stars = sorted(out.rglob("FoilHole_*_autopick.star"))
    assert [p.relative_to(out).parts[0] for p in stars] == ["GridSquare_1", "GridSquare_1",
                                                            "GridSquare_2"]
    assert len(sorted(out.rglob("*.box"))) == 3
    combined = starfile.read(out / "particles.star")
    assert len(combined) == sum(len(starfile.read(p)) for p in stars) > 0
    with Journal(out, readonly=True) as journal:
        assert journal.counts()["done"] == 3 and journal.counts()["failed"] == 1

    evaluation = invoke("evaluate", str(out), str(acquisition / "truth"), "--json")
    assert evaluation.exit_code == 0, evaluation.output
    pooled = json.loads(evaluation.output)["pooled"]
    assert pooled["distance"]["recall"] >= 0.8
    assert set(pooled["grid"]) >= {"accuracy", "precision", "recall", "f1", "f2", "jaccard"}


def test_pick_without_diameter_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke("pick", str(tmp_path), "-o", str(tmp_path / "o"))
    assert result.exit_code != 0
    assert "diameter" in result.output


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("cryostream ")


def test_help_lists_commands_in_the_order_a_new_user_needs_them() -> None:
    import typer

    from cryostream.cli import COMMAND_ORDER, CommandOrder

    listed = [line.split()[0] for line in run_cryostream("--help").stdout.split("Commands:")[1].splitlines()
              if line.strip()]
    known = [name for name in listed if name in COMMAND_ORDER]
    assert known == sorted(known, key=COMMAND_ORDER.index)
    assert listed[:3] == ["demo", "pick", "evaluate"] and {"preview", "report", "config"} <= set(listed)
    extra = typer.Typer(cls=CommandOrder)
    for name in ("zeta", "report", "alpha", "demo"):
        extra.command(name)(lambda: None)
    assert typer.main.get_command(extra).list_commands(None) == ["demo", "report", "zeta", "alpha"]


def test_every_option_has_help_and_lengths_have_units() -> None:
    import typer

    units = ("Å", "px", "pixel", "diameter", "unitless", "second", "%")
    checked = 0
    for name, command in typer.main.get_command(app).commands.items():
        for param in command.params:  # typer's own click: compare by name, not by class
            if param.param_type_name != "option" or param.name == "help":
                continue
            checked += 1
            assert param.help, f"{name} {param.opts[0]} has no help text"
            if param.type_descriptor.annotation is float:
                assert any(unit.lower() in param.help.lower() for unit in units), \
                    f"{name} {param.opts[0]}: unit?"
    assert checked > 50


def test_config_show_prints_the_effective_configuration(tmp_path: Path) -> None:
    from cryostream.config import load_config, preset

    shown = invoke("config", "--show", "--diameter", "61", "--threshold", "2.5")
    assert shown.exit_code == 0, shown.output
    (tmp_path / "shown.toml").write_text(shown.output)
    assert load_config(tmp_path / "shown.toml") == preset("default", diameter_angstrom=61.0,
                                                         min_figure_of_merit=2.5)
    written = invoke("config", "--config", str(tmp_path / "shown.toml"),
                                  "--diameter", "80", "--write", str(tmp_path / "new.toml"))
    assert written.exit_code == 0 and load_config(tmp_path / "new.toml").diameter_angstrom == 80
    placeholder = invoke("config")
    assert placeholder.exit_code == 0 and "placeholder" in placeholder.output.splitlines()[0]


def test_evaluate_tables_fit_a_narrow_terminal(tmp_path: Path) -> None:
    for folder, shift in (("picks", 2.0), ("truth", 0.0)):
        for name in ("FoilHole_12345678_Data_20240101", "FoilHole_87654321_Data_20240101"):
            xy = np.arange(10.0, 310.0, 30.0) + shift
            write_coordinates(tmp_path / folder / f"{name}.star", np.column_stack([xy, xy]))
    result = run_cryostream("evaluate", str(tmp_path / "picks"), str(tmp_path / "truth"),
                            "--diameter", "40", "--pixel-size", "1", "--per-micrograph",
                            env={"COLUMNS": "72"})
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout and "precision" in result.stdout and "recall" in result.stdout
    assert "FoilHole_123" in result.stdout  # long names wrap in their column; nothing is cut
    assert max(len(line) for line in result.stdout.splitlines()) <= 72
    assert "distance: one-to-one matches within 0.5 particle diameters\n" in result.stdout
    assert "diameter: 40 Å = 40 px at 1 Å/px\n" in result.stdout  # whole phrases, one per line
