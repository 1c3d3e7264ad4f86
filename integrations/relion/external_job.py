"""``cryostream-relion``: cryostream as a RELION External job (RELION 3.1, 4.0 and 5.0).

RELION runs ``cryostream-relion --o External/jobNNN/ --in_mics <micrographs.star>
[--<label> <value>]... --j N`` from the project directory and ignores the exit code: the job says
how it ended by creating ``RELION_JOB_EXIT_SUCCESS``, ``RELION_JOB_EXIT_FAILURE`` or
``RELION_JOB_EXIT_ABORTED`` in its directory, and stops when ``RELION_JOB_ABORT_NOW`` appears.

Coordinates go where RELION's own autopicker puts them (the micrograph path without its leading
``Type/jobNNN/`` and extension, under the job directory, ``_autopick.star``), in pixels of the
micrograph. The job directory holds the session's journal: a re-run of the same job
(``--repeat``, Schemes, on-the-fly passes) picks only micrographs not picked yet and rewrites the
summary files; with other parameters it refuses, naming each change, unless the label
``on_config_change`` says ``keep`` or ``redo``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import starfile

from cryostream import __version__
from cryostream.io import BadInputError
from cryostream.session.batch import run_batch
from cryostream.session.cancel import Cancellation
from cryostream.session.errors import OutputError, UsageError
from cryostream.session.executor import ExecutorChoice
from cryostream.session.naming import DEFAULT_SUFFIX, check_unique, mirrored_path
from cryostream.session.outputs import OutputOptions
from cryostream.session.tasks import SessionOptions, Summary, Task
from cryostream.star import star_text, write_atomically
from integrations import add_picker_arguments, measured_diameter, picker_config

EXIT_SUCCESS = "RELION_JOB_EXIT_SUCCESS"
EXIT_FAILURE = "RELION_JOB_EXIT_FAILURE"
EXIT_ABORTED = "RELION_JOB_EXIT_ABORTED"
ABORT_NOW = "RELION_JOB_ABORT_NOW"
OUTPUT_NODES = "RELION_OUTPUT_NODES.star"
PIPELINE = "default_pipeline.star"
VERSIONS = ("3.1", "4.0", "5.0")
SUFFIX_FILE_31 = f"coords_suffix_{DEFAULT_SUFFIX}.star"
NODE_TYPE_COORDS_31 = 2
SUMMARY_FILE = f"{DEFAULT_SUFFIX}.star"
NODE_LABELS = {"4.0": "MicrographsCoords.star.relion.autopick",
               "5.0": "MicrographCoordsGroup.star.relion.autopick"}
# RELION's decomposePipelineFileName: everything up to the first "<dir>/jobNNN.../" is dropped.
JOB_PREFIX = re.compile(r"^.+?/job\d{3}[^/]*/")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The options RELION passes (--o, --in_mics, --j, --pipeline_control) and the ones a user
    adds as ``paramN_label``/``paramN_value`` pairs (labels without the leading dashes)."""
    parser = _Parser(prog="cryostream-relion", allow_abbrev=False,
                     description="Pick particles for a RELION External job. Put "
                     "'cryostream-relion' in 'External executable', the micrographs STAR in "
                     "'Input micrographs', and at least the label 'diameter' (Å) as a parameter. "
                     "Coordinates are written in pixels of each micrograph.")
    parser.add_argument("--o", required=True, help="Job directory (RELION passes it).")
    parser.add_argument("--in_mics", required=True,
                        help="Micrographs STAR file, as 'Input micrographs' (RELION passes it).")
    parser.add_argument("--j", type=int, default=1, help="Worker processes (RELION's threads).")
    parser.add_argument("--pipeline_control", help="Job directory for RELION's exit and abort "
                        "files (RELION passes it when the executable's name holds 'relion_').")
    add_picker_arguments(parser)
    parser.add_argument("--pixel_size", "--pixel-size", type=float,
                        help="Pixel size in Å/px; overrides the optics group and MRC header.")
    parser.add_argument("--relion_version", "--relion-version", default="auto",
                        choices=("auto", *VERSIONS),
                        help=f"Which RELION's output files to write; auto reads {PIPELINE}.")
    return parser


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Parse RELION's command line; unknown parameters are a :class:`UsageError`."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        known = sorted({option.lstrip("-").replace("-", "_") for action in parser._actions
                        for option in action.option_strings}
                       - {"h", "help", "o", "in_mics", "j", "pipeline_control"})
        raise UsageError(f"unknown parameter(s) {' '.join(unknown)}; parameter labels "
                         f"cryostream-relion understands: {', '.join(known)}")
    if args.j < 1:
        raise UsageError(f"--j must be at least 1, got {args.j}")
    return args


def detect_relion_version(pipeline: str | Path = PIPELINE) -> str:
    """The RELION version of a project, from its pipeline STAR: integer node/process types are
    3.1, type labels are 4.0, and a ``# version 50001`` header is 5.0."""
    pipeline = Path(pipeline)
    try:
        text = pipeline.read_text(errors="replace")
    except OSError as error:
        raise BadInputError(pipeline, f"cannot be read to tell the RELION version ({error}); run "
                            "from the RELION project directory or pass --relion_version") from error
    versions = [int(value) for value in re.findall(r"^#\s*version\s+(\d+)", text, re.MULTILINE)]
    if versions and max(versions) >= 50000:
        return "5.0"
    if re.search(r"_rlnPipeLine(Node|Process)TypeLabel\b", text):
        return "4.0"
    if re.search(r"_rlnPipeLine(Node|Process)Type\b", text):
        return "3.1"
    raise BadInputError(pipeline, "has no process or node table to tell the RELION version from; "
                        "pass --relion_version")


@dataclass(frozen=True)
class MicrographEntry:
    """One row of a micrographs STAR: the name exactly as written, and its optics group's pixel
    size in Å/px (None when the file has no optics table with one)."""

    name: str
    pixel_size_angstrom: float | None


def read_micrographs_star(path: str | Path) -> list[MicrographEntry]:
    """The micrographs of a RELION micrographs STAR (3.1+ ``data_optics`` + ``data_micrographs``,
    or a single 3.0-style table)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "does not exist" if not path.exists() else "is not a file")
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as error:  # starfile raises many types on malformed input
        raise BadInputError(path, f"not a readable STAR file ({error})") from error
    tables = [table for table in blocks.values() if isinstance(table, pd.DataFrame)]
    micrographs = next((table for table in tables if "rlnMicrographName" in table.columns), None)
    if micrographs is None:
        raise BadInputError(path, "has no table with an rlnMicrographName column")
    optics = blocks.get("optics")
    pixel_sizes: dict[str, float] = {}
    if isinstance(optics, pd.DataFrame) and {"rlnOpticsGroup", "rlnMicrographPixelSize"} <= \
            set(optics.columns):
        pixel_sizes = dict(zip(optics["rlnOpticsGroup"].astype(str),
                               optics["rlnMicrographPixelSize"].astype(float), strict=True))
    groups = (micrographs["rlnOpticsGroup"].astype(str) if "rlnOpticsGroup" in micrographs.columns
              else pd.Series([""] * len(micrographs)))
    return [MicrographEntry(str(name), pixel_sizes.get(group))
            for name, group in zip(micrographs["rlnMicrographName"], groups, strict=True)]


def relion_coordinate_path(micrograph_name: str, job_dir: str | Path) -> Path:
    """Where RELION expects the coordinates of ``micrograph_name``: ``<job dir>/<name without its
    leading Type/jobNNN/ and extension>_autopick.star``; a path leaving the job directory is
    refused."""
    relative = JOB_PREFIX.sub("", micrograph_name, count=1).lstrip("/")
    return mirrored_path(relative, ".", job_dir, DEFAULT_SUFFIX)


def write_summary(job_dir: str | Path, in_mics: str, coordinates: dict[str, Path],
                  version: str) -> list[Path]:
    """Write the files that register the coordinates with RELION ``version``: 3.1's
    ``coords_suffix_autopick.star``, or 4.0/5.0's ``autopick.star`` listing ``coordinates``
    (micrograph name -> coordinate file), and ``RELION_OUTPUT_NODES.star``."""
    job_dir = Path(job_dir)
    if version == "3.1":
        node = write_atomically(job_dir / SUFFIX_FILE_31, f"{in_mics}\n")
        nodes = pd.DataFrame({"rlnPipeLineNodeName": [str(node)],
                              "rlnPipeLineNodeType": [NODE_TYPE_COORDS_31]})
    elif version in NODE_LABELS:
        table = pd.DataFrame({"rlnMicrographName": list(coordinates),
                              "rlnMicrographCoordinates": [str(path) for path in
                                                           coordinates.values()]})
        node = write_atomically(job_dir / SUMMARY_FILE, star_text({"coordinate_files": table}))
        nodes = pd.DataFrame({"rlnPipeLineNodeName": [str(node)],
                              "rlnPipeLineNodeTypeLabel": [NODE_LABELS[version]]})
    else:
        raise UsageError(f"unknown RELION version {version!r}; choose from {', '.join(VERSIONS)}")
    return [node, write_atomically(job_dir / OUTPUT_NODES, star_text({"output_nodes": nodes}))]


def micrograph_tasks(entries: Sequence[MicrographEntry], job_dir: Path) -> list[Task]:
    """One task per micrograph (listed twice counts once): the file under the project directory
    (the working directory RELION runs jobs in), named as RELION names it, its coordinates where
    RELION looks for them, with its optics group's pixel size."""
    unique = {entry.name: entry for entry in entries}
    outputs = {name: relion_coordinate_path(name, job_dir) for name in unique}
    check_unique(outputs)
    return [Task(Path.cwd() / name, name, outputs[name], unique[name].pixel_size_angstrom)
            for name in unique]


def run_job(args: argparse.Namespace) -> Summary:
    """Pick the micrographs of ``args.in_mics`` not picked yet in the job directory (a re-run
    picks only new ones) and write RELION's files; returns the session's summary."""
    job_dir = Path(args.pipeline_control or args.o)
    version = (detect_relion_version() if args.relion_version == "auto"
               else args.relion_version)
    config = picker_config(args)
    tasks = micrograph_tasks(read_micrographs_star(args.in_mics), Path(args.o))
    print(f"cryostream {__version__} (RELION {version} outputs): {len(tasks)} micrographs in "
          f"{args.in_mics}, {args.j} worker(s)", flush=True)
    options = SessionOptions("relion", OutputOptions(Path(args.o), combined_star=False),
                             args.on_config_change, args.pixel_size,
                             auto_diameter=measured_diameter(args))
    summary = run_batch(options, config, tasks, ExecutorChoice("local", args.j),
                        Cancellation(job_dir / ABORT_NOW), report_event).summary
    write_summary(args.o, args.in_mics, {task.name: task.star for task in tasks
                                         if task.star.is_file()}, version)
    print(f"cryostream: {summary.line()}", flush=True)
    return summary


def report_event(kind: str, fields: dict[str, Any]) -> None:
    """What the job's run.out and run.err show for each micrograph."""
    if kind == "done":
        print(f"{fields['micrograph']}: {fields['picks']} particles -> {fields['output']}",
              flush=True)
    elif kind == "failed":
        print(f"cryostream-relion: warning: skipped {fields['error']}", file=sys.stderr,
              flush=True)
    elif kind == "warning":
        print(f"cryostream-relion: warning: {fields['message']}", file=sys.stderr, flush=True)
    elif kind == "diameter":
        print(f"cryostream: diameter {fields['message']}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; always leaves one RELION exit file in the job directory."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(argv):
        build_parser().print_help()
        return 0
    job_option = argparse.ArgumentParser(add_help=False)
    job_option.add_argument("--o")
    job_dir_name = job_option.parse_known_args(argv)[0].o
    if job_dir_name is None:
        print("cryostream-relion: error: --o <job directory> is required (RELION passes it)",
              file=sys.stderr)
        return 2
    job_dir = Path(job_dir_name)
    outcome, code = EXIT_FAILURE, 1
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        for name in (EXIT_SUCCESS, EXIT_FAILURE, EXIT_ABORTED, ABORT_NOW):
            (job_dir / name).unlink(missing_ok=True)
        outcome, code = job_outcome(run_job(parse_arguments(argv)), job_dir)
    except (UsageError, OutputError, BadInputError, OSError) as error:
        print(f"cryostream-relion: error: {error}", file=sys.stderr)
    except Exception:
        traceback.print_exc()
    finally:
        with contextlib.suppress(OSError):
            write_atomically(job_dir / outcome, b"")
    return code


def job_outcome(summary: Summary, job_dir: Path) -> tuple[str, int]:
    """The RELION exit file and exit code for a finished run: aborted when asked to stop (the
    abort file is removed, as RELION's own programs do), failed when every micrograph it tried
    failed, else succeeded (failures are counted in run.out)."""
    if summary.cancelled:
        (job_dir / ABORT_NOW).unlink(missing_ok=True)
        print(f"cryostream-relion: aborted ({summary.cancelled})", file=sys.stderr)
        return EXIT_ABORTED, 2
    if summary.failed and not summary.picked and not summary.already_done:
        print(f"cryostream-relion: error: none of the {len(summary.failed)} micrographs could be "
              "picked (reasons above)", file=sys.stderr)
        return EXIT_FAILURE, 1
    return EXIT_SUCCESS, 0


if __name__ == "__main__":
    sys.exit(main())
