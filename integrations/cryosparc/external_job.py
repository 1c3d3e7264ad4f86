"""``cryostream-cryosparc``: cryostream picks as a CryoSPARC ``particle`` output (cryosparc-tools).

Server mode (cryosparc-tools 4.x for CryoSPARC v4, 5.x for v5; see :mod:`.connection`): it
creates an External job in a workspace, connects an exposures output (e.g.
``J12.exposures_accepted``), picks each exposure's micrograph and saves a ``particle`` output
whose ``location`` and ``pick_stats`` fields let "Inspect Picks" and "Extract From Micrographs"
use it. Offline mode: it reads an exposures ``.cs`` file and writes the same particles as a
``.cs`` file with the ``.csg`` result group that "Import Result Group" reads.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryostream.config import PickerConfig
from cryostream.io import BadInputError
from cryostream.picker import Picks
from cryostream.session.batch import run_batch
from cryostream.session.errors import OutputError, UsageError, output_boundary
from cryostream.session.executor import ExecutorChoice
from cryostream.session.naming import check_unique, mirrored_path
from cryostream.session.outputs import OutputOptions
from cryostream.session.tasks import SessionOptions, Summary, Task
from integrations import add_picker_arguments, measured_diameter, picker_config
from integrations.cryosparc.connection import Connection, add_connection_arguments, connect, instance_from
from integrations.cryosparc.dataset import (
    Exposure,
    exposures_from_dataset,
    particles_dataset,
    read_cs,
    write_cs,
    write_csg,
)
from integrations.cryosparc.server import (
    INPUT_NAME,
    OUTPUT_NAME,
    create_external_job,
    exposures_output,
    save_particles,
    server_calls,
)

PARTICLES_CS = "particles.cs"


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
                             args.pixel_size, auto_diameter=measured_diameter(args))

    def on_event(kind: str, fields: dict[str, Any]) -> None:
        if kind == "failed":
            log(f"failed: {fields['error']}")
        elif kind == "warning":
            log(f"warning: {fields['message']}")
        elif kind == "diameter":
            log(f"diameter {fields['message']}")

    result = run_batch(options, config, tasks, ExecutorChoice("local", args.workers),
                       on_event=on_event)
    return ([(exposure, result.picks[exposure.path]) for exposure in exposures
             if exposure.path in result.picks], result.summary)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryostream-cryosparc", allow_abbrev=False,
        description="Pick CryoSPARC exposures with cryostream. Server mode (--project, "
        "--workspace, --micrographs): create an External job and save a 'particle' output. "
        "Offline mode (--exposures-cs, --out): write the same particles as a .cs file with its "
        ".csg result group. Centres are stored as fractions of the micrograph; the diameter is "
        "in Å.")
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
    offline.add_argument("--out", type=Path, help="Output folder: particles.cs and particles.csg, "
                         "the coordinate STARs (mirroring the exposures' folders), particles.star "
                         "and the journal (a re-run picks only exposures not picked yet).")
    server = parser.add_argument_group(
        "server mode (cryosparc-tools 4.x needs the license, email and password; 5.x an email "
        "and password or a 'python -m cryosparc.tools login' session)")
    add_connection_arguments(server)
    server.add_argument("--project", help="Project uid, e.g. P3.")
    server.add_argument("--workspace", help="Workspace uid, e.g. W1.")
    server.add_argument("--micrographs", help="Exposures output to pick, as JOB.OUTPUT, e.g. "
                        "J12.exposures_accepted.")
    server.add_argument("--title", default="cryostream picks", help="External job title.")
    return parser


def run_offline(args: argparse.Namespace, config: PickerConfig) -> int:
    """Pick the exposures of a ``.cs`` file and write ``OUT/particles.cs`` and its ``.csg``;
    1 if any failed."""
    if args.out is None:
        raise UsageError("--exposures-cs needs --out <output folder>")
    exposures = exposures_from_dataset(read_cs(args.exposures_cs), str(args.exposures_cs))
    project_dir = args.project_dir or args.exposures_cs.parent
    picked, summary = pick_exposures(exposures, project_dir, args.out, config, args,
                                     lambda line: print(f"cryostream-cryosparc: {line}",
                                                        file=sys.stderr))
    particles = particles_dataset(picked, config.min_distance_diameters)
    with output_boundary(args.out / PARTICLES_CS):
        write_cs(particles, args.out / PARTICLES_CS)
        write_csg(args.out / PARTICLES_CS, len(particles), OUTPUT_NAME, args.title)
    print(f"{summary.line()}; {len(particles)} particles of {len(picked)} exposures in "
          f"{args.out / PARTICLES_CS}")
    return 1 if summary.failed else 0


def run_server(args: argparse.Namespace, config: PickerConfig) -> int:
    """Create an External job, pick the connected exposures and save the particle output."""
    missing = [name for name in ("project", "workspace", "micrographs") if not getattr(args, name)]
    if missing:
        raise UsageError(f"server mode needs {', '.join('--' + name for name in missing)}")
    source = exposures_output(args.micrographs)
    connection = connect(instance_from(args, os.environ))
    with server_calls(connection):
        job_uid, summary, count = pick_into_external_job(connection, args, config, source)
    print(f"{args.project} {job_uid}: {summary.line()}; {count} particles")
    return 1 if summary.failed else 0


def pick_into_external_job(connection: Connection, args: argparse.Namespace,
                           config: PickerConfig, source: tuple[str, str]
                           ) -> tuple[str, Summary, int]:
    """The External job's life: created, connected, run, its particle output saved; returns its
    uid, the session's summary and the number of particles saved."""
    project = connection.cs.find_project(args.project)
    job = create_external_job(connection, project, args.workspace, source, args.title)
    with job.run():
        exposures = exposures_from_dataset(job.load_input(INPUT_NAME), args.micrographs)
        project_dir = args.project_dir or connection.project_dir(project)
        picked, summary = pick_exposures(exposures, project_dir, project_dir / job.uid, config,
                                         args, lambda line: job.log(line, level="warning"))
        particles = particles_dataset(picked, config.min_distance_diameters)
        save_particles(job, particles)
        job.log(f"cryostream: {summary.line()}; {len(particles)} particles")
    return job.uid, summary, len(particles)


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
        if args.exposures_cs is None and args.project is None:
            raise UsageError("give either --exposures-cs (offline) or --project, --workspace and "
                             "--micrographs (CryoSPARC server)")
        if args.exposures_cs is not None and (args.project or args.url or args.host):
            raise UsageError("--exposures-cs (offline) takes no server options (--project, "
                             "--url, --host)")
        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        config = picker_config(args)
        return run_offline(args, config) if args.exposures_cs else run_server(args, config)
    except (UsageError, OutputError, BadInputError, OSError) as error:
        print(f"cryostream-cryosparc: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
