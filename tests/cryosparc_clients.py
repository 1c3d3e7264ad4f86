"""Python environments with a given cryosparc-tools major (4.x for CryoSPARC v4, 5.x for v5), for
running ``cryostream-cryosparc`` through each real client.

Each is a virtual environment beside the test run's packages (``--system-site-packages``, so
cryostream's own dependencies come from the running interpreter) with only cryosparc-tools
installed into it, made once and kept in ``$CRYOSTREAM_TEST_VENVS`` (default
``~/.cache/cryostream-test-venvs``). Where it cannot be made (no package index), the test is
skipped, except in CI, where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
CLIENTS = {4: "cryosparc-tools==4.7.1", 5: "cryosparc-tools~=5.0"}


def venvs_folder() -> Path:
    return Path(os.environ.get("CRYOSTREAM_TEST_VENVS",
                               Path.home() / ".cache" / "cryostream-test-venvs"))


def client_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "from importlib import metadata; "
         "print(metadata.version('cryosparc-tools'))"],
        capture_output=True, text=True, timeout=120).stdout.strip()


def client_python(major: int) -> Path:
    """The Python of an environment whose cryosparc-tools is ``major``.x (made if missing)."""
    folder = venvs_folder() / f"cryosparc-tools-{major}"
    python = folder / "bin" / "python"
    if python.exists() and client_version(python).startswith(f"{major}."):
        return python
    steps = [[sys.executable, "-m", "venv", "--system-site-packages", "--clear", str(folder)],
             [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              CLIENTS[major]]]
    for step in steps:
        made = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if made.returncode != 0:
            reason = (f"cannot make a cryosparc-tools {major}.x environment in {folder}: "
                      f"{made.stderr.strip()[-400:]}")
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    version = client_version(python)
    assert version.startswith(f"{major}."), f"{folder} has cryosparc-tools {version!r}"
    return python


def run_job(python: Path, args: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m integrations.cryosparc.external_job ARGS`` with this checkout first on the
    path; ``env`` replaces the CryoSPARC variables of the test run's environment."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith("CRYOSPARC_")}
    environment = {**clean, "PYTHONPATH": str(REPOSITORY), **(env or {})}
    return subprocess.run([str(python), "-m", "integrations.cryosparc.external_job", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=environment)
