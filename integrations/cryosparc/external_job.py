"""``cryostream-cryosparc``: cryostream picks as a CryoSPARC ``particle`` output (cryosparc-tools).

With a CryoSPARC instance, it creates an External job in a workspace, connects an exposures output
(e.g. ``J12.exposures_accepted``), picks each exposure's micrograph and saves a ``particle`` output
whose ``location`` and ``pick_stats/ncc_score`` fields let "Inspect Picks" and "Extract From
Micrographs" use it. Without a server it reads an exposures ``.cs`` file and writes the same
particle dataset as a ``.cs`` file (``cryosparc.dataset`` works offline).

Particle centres are stored as fractions of the micrograph (x / nx, y / ny) as CryoSPARC does;
``location/micrograph_shape`` is [ny, nx] in pixels and sizes are in Å.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cryostream.config import PickerConfig
from cryostream.io import BadInputError
from cryostream.picker import Picks
from cryostream.session.batch import run_batch
from cryostream.session.engine import SessionOptions, Summary, Task
from cryostream.session.errors import OutputError, UsageError, output_boundary
from cryostream.session.executor import ExecutorChoice
from cryostream.session.naming import check_unique, mirrored_path
from cryostream.session.outputs import OutputOptions
from cryostream.star import write_atomically
from integrations import add_picker_arguments, picker_config

# The particle fields written, with their dtypes as Dataset.descr() reports them ("uid" comes first).
PARTICLE_FIELDS: list[tuple] = [
    ("location/micrograph_uid", "<u8"),
    ("location/micrograph_path", "|O"),
    ("location/micrograph_shape", "<u4", (2,)),
    ("location/center_x_frac", "<f4"),
    ("location/center_y_frac", "<f4"),
    ("location/min_dist_A", "<f4"),
    ("location/micrograph_psize_A", "<f4"),
    ("pick_stats/ncc_score", "<f4"),
]
EXPOSURE_SLOTS = ["micrograph_blob"]
INPUT_NAME = "micrographs"
OUTPUT_NAME = "picked_particles"
OUTPUT_SLOTS = ["location", "pick_stats"]


@dataclass(frozen=True)
class Exposure:
    """One CryoSPARC exposure: its uid, micrograph path as CryoSPARC records it (relative to the
    project directory) and pixel size in Å/px."""

    uid: int
    path: str
    pixel_size_angstrom: float


def exposures_from_dataset(dataset: Any, source: str = "exposures") -> list[Exposure]:
    """The exposures of a CryoSPARC exposure dataset (needs the ``micrograph_blob`` slot)."""
    missing = {"micrograph_blob/path", "micrograph_blob/psize_A"} - set(dataset.fields())
    if missing:
        raise BadInputError(source, f"exposures lack the fields {', '.join(sorted(missing))} "
                            "(connect an output with micrographs, e.g. exposures_accepted)")
    paths = [value.decode() if isinstance(value, bytes) else str(value)
             for value in dataset["micrograph_blob/path"]]
    return [Exposure(int(uid), path, float(pixel_size)) for uid, path, pixel_size in
            zip(dataset["uid"], paths, dataset["micrograph_blob/psize_A"], strict=True)]


def particles_dataset(picked: Sequence[tuple[Exposure, Picks]], min_dist_angstrom: float) -> Any:
    """A CryoSPARC particle dataset with :data:`PARTICLE_FIELDS`, one row per pick."""
    from cryosparc.dataset import Dataset

    rows = sum(len(picks) for _, picks in picked)
    dataset = Dataset.allocate(rows, PARTICLE_FIELDS)
    if rows == 0:
        return dataset
    counts = [len(picks) for _, picks in picked]
    shapes = np.array([picks.micrograph_shape for _, picks in picked], dtype=np.uint32)
    dataset["location/micrograph_uid"] = np.repeat([exposure.uid for exposure, _ in picked], counts)
    dataset["location/micrograph_path"] = np.repeat(
        np.array([exposure.path for exposure, _ in picked], dtype=object), counts)
    dataset["location/micrograph_shape"] = np.repeat(shapes, counts, axis=0)
    dataset["location/center_x_frac"] = np.concatenate(
        [picks.x / picks.micrograph_shape[1] for _, picks in picked])
    dataset["location/center_y_frac"] = np.concatenate(
        [picks.y / picks.micrograph_shape[0] for _, picks in picked])
    dataset["location/min_dist_A"] = min_dist_angstrom
    dataset["location/micrograph_psize_A"] = np.repeat(
        [picks.pixel_size_angstrom for _, picks in picked], counts)
    dataset["pick_stats/ncc_score"] = np.concatenate(
        [picks.figure_of_merit for _, picks in picked])
    return dataset


def pick_exposures(exposures: Sequence[Exposure], project_dir: Path, out_dir: Path,
                   config: PickerConfig, args: argparse.Namespace,
                   log: Callable[[str], None]) -> tuple[list[tuple[Exposure, Picks]], Summary]:
    """Pick every exposure's micrograph (at ``project_dir / path``, with the exposure's pixel size
    unless --pixel-size overrides it) in a session over ``out_dir``; returns the picks of every
    exposure done there, in exposure order, and the session's summary."""
    outputs = {exposure.path: mirrored_path(project_dir / exposure.path, project_dir, out_dir)
               for exposure in exposures}
    check_unique(outputs)
    tasks = [Task(project_dir / exposure.path, exposure.path, outputs[exposure.path],
                  exposure.pixel_size_angstrom) for exposure in exposures]
    options = SessionOptions("cryosparc", OutputOptions(out_dir), args.on_config_change,
                             args.pixel_size)

    def on_event(kind: str, fields: dict[str, Any]) -> None:
        if kind == "failed":
            log(f"failed: {fields['error']}")

    result = run_batch(options, config, tasks, ExecutorChoice("local", args.workers),
                       on_event=on_event)
    return ([(exposure, result.picks[exposure.path]) for exposure in exposures
             if exposure.path in result.picks], result.summary)


def min_dist_angstrom(config: PickerConfig) -> float:
    """The picker's minimum distance between picks, in Å (CryoSPARC's ``location/min_dist_A``)."""
    return config.min_distance_diameters * config.diameter_angstrom


def write_cs(dataset: Any, path: str | Path) -> Path:
    """Write a dataset as a numpy-format ``.cs`` file, atomically."""
    buffer = io.BytesIO()
    dataset.save(buffer)
    return write_atomically(path, buffer.getvalue())


def read_cs(path: str | Path) -> Any:
    """Read a ``.cs`` file; an unreadable one is a :class:`BadInputError` naming it."""
    from cryosparc.dataset import Dataset

    try:
        return Dataset.load(path)
    except Exception as error:  # numpy and cryosparc raise many types on malformed files
        raise BadInputError(path, f"not a readable CryoSPARC .cs file ({error})") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryostream-cryosparc", allow_abbrev=False,
        description="Pick CryoSPARC exposures with cryostream. Server mode (--url): create an "
        "External job and save a 'particle' output. Offline mode (--exposures-cs): write the same "
        "particles as a .cs file. Centres are stored as fractions of the micrograph; the diameter "
        "is in Å.")
    add_picker_arguments(parser)
    parser.add_argument("--pixel-size", type=float,
                        help="Pixel size in Å/px; overrides the exposures' micrograph_blob/psize_A.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes.")
    parser.add_argument("--project-dir", type=Path,
                        help="The CryoSPARC project directory as mounted here (server mode: "
                        "default is the path the server reports).")
    offline = parser.add_argument_group("offline mode")
    offline.add_argument("--exposures-cs", type=Path,
                         help="Exposures .cs file (with micrograph_blob) to pick.")
    offline.add_argument("--out", type=Path, help="Output folder: particles.cs, the coordinate "
                         "STARs (mirroring the exposures' folders), particles.star and the "
                         "journal (a re-run picks only exposures not picked yet).")
    server = parser.add_argument_group("server mode (password from $CRYOSPARC_PASSWORD or a "
                                       "'python -m cryosparc.tools login' session)")
    server.add_argument("--url", help="CryoSPARC base URL, e.g. http://cryosparc.example:39000.")
    server.add_argument("--email", default=os.environ.get("CRYOSPARC_EMAIL"),
                        help="CryoSPARC user email (default: $CRYOSPARC_EMAIL).")
    server.add_argument("--project", help="Project uid, e.g. P3.")
    server.add_argument("--workspace", help="Workspace uid, e.g. W1.")
    server.add_argument("--micrographs", help="Exposures output to pick, as JOB.OUTPUT, e.g. "
                        "J12.exposures_accepted.")
    server.add_argument("--title", default="cryostream picks", help="External job title.")
    return parser


PARTICLES_CS = "particles.cs"


def run_offline(args: argparse.Namespace, config: PickerConfig) -> int:
    """Pick the exposures of a ``.cs`` file and write ``OUT/particles.cs``; 1 if any failed."""
    if args.out is None:
        raise UsageError("--exposures-cs needs --out <output folder>")
    exposures = exposures_from_dataset(read_cs(args.exposures_cs), str(args.exposures_cs))
    project_dir = args.project_dir or args.exposures_cs.parent
    picked, summary = pick_exposures(exposures, project_dir, args.out, config, args,
                                     lambda line: print(f"cryostream-cryosparc: {line}",
                                                        file=sys.stderr))
    particles = particles_dataset(picked, min_dist_angstrom(config))
    with output_boundary(args.out / PARTICLES_CS):
        write_cs(particles, args.out / PARTICLES_CS)
    print(f"{summary.line()}; {len(particles)} particles of {len(picked)} exposures in "
          f"{args.out / PARTICLES_CS}")
    return 1 if summary.failed else 0


def run_server(args: argparse.Namespace, config: PickerConfig) -> int:
    """Create an External job, pick the connected exposures and save the particle output."""
    from cryosparc.tools import CryoSPARC

    missing = [name for name in ("project", "workspace", "micrographs") if not getattr(args, name)]
    if missing:
        raise UsageError(f"server mode needs {', '.join('--' + name for name in missing)}")
    source_job, _, source_output = args.micrographs.partition(".")
    if not source_output:
        raise UsageError(f"--micrographs must be JOB.OUTPUT, e.g. J12.exposures_accepted, got "
                         f"{args.micrographs!r}")
    try:
        cs = CryoSPARC(args.url, email=args.email, password=os.environ.get("CRYOSPARC_PASSWORD"))
    except (TypeError, ValueError, RuntimeError) as error:
        raise UsageError(f"cannot connect to CryoSPARC at {args.url} ({' '.join(str(error).split())})"
                         ) from error
    project = cs.find_project(args.project)
    job = project.create_external_job(args.workspace, title=args.title)
    job.connect(INPUT_NAME, source_job, source_output, slots=EXPOSURE_SLOTS)
    job.add_output("particle", OUTPUT_NAME, slots=OUTPUT_SLOTS)
    with job.run():
        exposures = exposures_from_dataset(job.load_input(INPUT_NAME, EXPOSURE_SLOTS),
                                           args.micrographs)
        project_dir = args.project_dir or Path(str(project.dir))
        picked, summary = pick_exposures(exposures, project_dir, project_dir / job.uid, config,
                                         args, lambda line: job.log(line, level="warning"))
        particles = particles_dataset(picked, min_dist_angstrom(config))
        output = job.alloc_output(OUTPUT_NAME, particles)
        for field, *_ in PARTICLE_FIELDS:
            output[field] = particles[field]
        job.save_output(OUTPUT_NAME, output)
        job.log(f"cryostream: {summary.line()}; {len(particles)} particles")
    print(f"{args.project} {job.uid}: {summary.line()}; {len(particles)} particles")
    return 1 if summary.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    args = build_parser().parse_args(argv)
    try:
        import cryosparc.dataset  # noqa: F401  (the optional extra)
    except ImportError:
        print("cryostream-cryosparc: error: cryosparc-tools is not installed; run "
              "pip install 'cryostream[cryosparc]'", file=sys.stderr)
        return 2
    try:
        if (args.exposures_cs is None) == (args.url is None):
            raise UsageError("give either --exposures-cs (offline) or --url (CryoSPARC server)")
        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        config = picker_config(args)
        return run_offline(args, config) if args.url is None else run_server(args, config)
    except (UsageError, OutputError, BadInputError, OSError) as error:
        print(f"cryostream-cryosparc: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
