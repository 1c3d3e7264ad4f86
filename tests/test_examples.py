"""The examples stay true: config.toml is the default preset (apart from the diameter) and the
walk-through's commands run as written."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from cryostream.config import PRESETS, load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CRYOSTREAM = shutil.which("cryostream") or "cryostream"


def test_example_config_is_the_default_preset() -> None:
    config = load_config(EXAMPLES / "config.toml")
    default = PRESETS["default"]
    assert config.diameter_angstrom == 60.0
    assert replace(config, diameter_angstrom=default.diameter_angstrom) == default, (
        "examples/config.toml is out of date: compare it with `cryostream config --show`")


def test_example_config_documents_every_parameter() -> None:
    text = (EXAMPLES / "config.toml").read_text()
    for name in PRESETS["default"].__dataclass_fields__:
        assert re.search(rf"^#? ?{name} = ", text, re.MULTILINE), f"{name} is not in config.toml"


def walkthrough_commands() -> list[list[str]]:
    """The commands in the walk-through's sh blocks, as argument lists."""
    blocks = re.findall(r"```sh\n(.*?)```", (EXAMPLES / "README.md").read_text(), re.DOTALL)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


def test_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = walkthrough_commands()
    assert [command[:2] for command in commands] == [
        ["cryostream", "demo"], ["cryostream", "config"], ["cryostream", "pick"],
        ["cryostream", "evaluate"], ["cryostream", "preview"], ["cryostream", "report"]]
    (tmp_path / "examples").symlink_to(EXAMPLES)
    for command in commands:
        result = subprocess.run([CRYOSTREAM, *command[1:]], cwd=tmp_path, capture_output=True,
                                text=True)
        assert result.returncode == 0, f"{shlex.join(command)}: {result.stderr}"
    assert len(list((tmp_path / "my-picks").rglob("*_autopick.star"))) == 2
    assert (tmp_path / "overlay.png").stat().st_size > 10_000
    assert "Latest micrographs (2 of 2)" in (tmp_path / "report.html").read_text()
