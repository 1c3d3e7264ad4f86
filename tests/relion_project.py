"""A small RELION project for the RELION tests: real 80S ribosome micrographs (../shared/bench,
as float32 MRC at 1.0 Å/px; synthetic ones of the same scale when the benchmark is absent), the
pipeline files of RELION 3.1/4.0/5.0, and the real pipeliner run as RELION runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile

from cryostream.bench.synthetic import synthetic_micrograph, write_mrc
from cryostream.io import read_micrograph
from integrations.relion.external_job import read_micrographs_star, relion_coordinate_path

BENCH_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "bench" / "ribosome80s-10028" / \
    "images"
PIXEL_SIZE_ANGSTROM = 1.0
DIAMETER_ANGSTROM = 56.0
EXTRACT_BOX_PX = 64
MOVIES = Path("MotionCorr/job002/Movies")
JOB = "External/job001/"
RUN_TIMEOUT_SECONDS = 180
needs_relion = pytest.mark.skipif(
    shutil.which("relion_pipeliner") is None or shutil.which("relion_preprocess") is None,
    reason="RELION is not installed (relion_pipeliner/relion_preprocess not on PATH); "
    "apt-get install relion runs these tests")

PIPELINE_31 = """
# version 30001

data_pipeline_general

_rlnPipeLineJobCounter                       1

"""
PIPELINE_31_JOB = PIPELINE_31.replace("1\n\n", "2\n\n", 1) + """
# version 30001

data_pipeline_processes

loop_
_rlnPipeLineProcessName #1
_rlnPipeLineProcessAlias #2
_rlnPipeLineProcessType #3
_rlnPipeLineProcessStatus #4
External/job001/       None           99            0


# version 30001

data_pipeline_nodes

loop_
_rlnPipeLineNodeName #1
_rlnPipeLineNodeType #2
micrographs.star            1
"""
PIPELINE_40 = """
# version 30001

data_pipeline_general

_rlnPipeLineJobCounter                       2


# version 30001

data_pipeline_processes

loop_
_rlnPipeLineProcessName #1
_rlnPipeLineProcessAlias #2
_rlnPipeLineProcessTypeLabel #3
_rlnPipeLineProcessStatusLabel #4
External/job001/       None relion.external    Running


# version 30001

data_pipeline_nodes

loop_
_rlnPipeLineNodeName #1
_rlnPipeLineNodeTypeLabel #2
micrographs.star MicrographsData.star.relion
"""
PIPELINE_50 = PIPELINE_40.replace("30001", "50001").replace(
    "MicrographsData.star.relion", "MicrographGroupMetadata.star.relion")


def micrograph_images(count: int) -> list[tuple[str, np.ndarray]]:
    """(name, image) pairs: real 80S ribosome micrographs when the shared benchmark is present
    (56 Å particles at 1.0 Å/px), else synthetic ones of the same scale."""
    pngs = sorted(BENCH_IMAGES.glob("*.png"))[:count]
    if len(pngs) == count:
        return [(png.stem, read_micrograph(png).data) for png in pngs]
    return [(f"synthetic_{index}", synthetic_micrograph(
        (1024, 1024), n_particles=60, diameter_px=DIAMETER_ANGSTROM / PIXEL_SIZE_ANGSTROM,
        pixel_size_angstrom=PIXEL_SIZE_ANGSTROM, seed=index).image) for index in range(count)]


def write_micrographs_star(project: Path, names: list[str]) -> Path:
    """A RELION 3.1 micrographs STAR (data_optics + data_micrographs) in ``project``."""
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [PIXEL_SIZE_ANGSTROM], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    micrographs = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": [1] * len(names)})
    path = project / "micrographs.star"
    starfile.write({"optics": optics, "micrographs": micrographs}, path, overwrite=True)
    return path


def make_project(project: Path, micrographs: list[Path], pipeline: str = PIPELINE_31) -> list[str]:
    """A RELION project holding ``micrographs`` under MotionCorr/job002/Movies/ (so the leading
    Type/jobNNN/ is stripped from the coordinate paths); returns their names as in the STAR."""
    (project / MOVIES).mkdir(parents=True, exist_ok=True)
    names = []
    for micrograph in micrographs:
        shutil.copyfile(micrograph, project / MOVIES / micrograph.name)
        names.append(str(MOVIES / micrograph.name))
    (project / "default_pipeline.star").write_text(pipeline)
    return names


def shim_environment() -> dict[str, str]:
    """The environment RELION runs the shim in, with this interpreter's console scripts (where
    pip put ``cryostream-relion``) first on PATH."""
    folders = dict.fromkeys([sysconfig.get_path("scripts"), str(Path(sys.executable).parent)])
    return {**os.environ, "PATH": os.pathsep.join([*folders, os.environ.get("PATH", "")])}


def run_pipeliner(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["relion_pipeliner", *args], cwd=project, env=shim_environment(),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pipeline_tables(project: Path) -> dict[str, pd.DataFrame]:
    return starfile.read(project / "default_pipeline.star", always_dict=True)


def coordinate_counts(project: Path) -> dict[str, int]:
    """Picks per micrograph of micrographs.star, read back from the job's coordinate files."""
    return {entry.name: len(starfile.read(project / relion_coordinate_path(entry.name, JOB)))
            for entry in read_micrographs_star(project / "micrographs.star")}


def write_micrograph_files(folder: Path, count: int = 3) -> list[Path]:
    """``count`` float32 MRC micrographs (pixel size 1.0 Å in the header) in ``folder``."""
    return [write_mrc(image, folder / f"{name}.mrc", PIXEL_SIZE_ANGSTROM)
            for name, image in micrograph_images(count)]
