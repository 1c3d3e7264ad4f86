"""``cryostream watch --cryosparc P3/W1/J12.exposures_accepted``: the picks of a live session,
published into one CryoSPARC External job as they come.

The job is created when the watcher starts, with the exposures output connected; after each
refresh of ``particles.star`` (and once at the end) the watcher hands it every micrograph done so
far, and it saves a new ``particle`` output with the picks of each micrograph that is among the
exposures (the file at ``<project directory>/micrograph_blob/path``). A micrograph picked before
CryoSPARC lists it as an exposure waits for a later batch; the exposures are read again each
time. When the watcher stops, the job is marked completed. The instance and login come from the
``CRYOSPARC_*`` variables (see :mod:`.connection`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from cryostream.config import PickerConfig
from cryostream.io import BadInputError
from cryostream.picker import Picks
from cryostream.session.errors import UsageError, one_line
from cryostream.session.naming import micrograph_key
from integrations.cryosparc.connection import Connection, connect, instance_from_environment
from integrations.cryosparc.dataset import (
    Exposure,
    exposures_from_dataset,
    particles_dataset,
)
from integrations.cryosparc.server import (
    INPUT_NAME,
    create_external_job,
    exposures_output,
    save_particles,
    server_calls,
)

TITLE = "cryostream live picks"


class LivePublisher:
    """Saves the picks of the exposures among the micrographs done so far as the job's particle
    output, when that set has changed since the last save."""

    def __init__(self, connection: Connection, job: Any, project_dir: Path,
                 config: PickerConfig) -> None:
        self.connection = connection
        self.job = job
        self.project_dir = project_dir
        self.min_distance_diameters = config.min_distance_diameters
        self.published: set[str] = set()

    def exposures(self) -> dict[str, Exposure]:
        """The connected exposures by the journal's key of their micrograph file."""
        exposures = exposures_from_dataset(self.job.load_input(INPUT_NAME),
                                           f"{self.job.uid}.{INPUT_NAME}")
        return {micrograph_key(self.project_dir / exposure.path): exposure
                for exposure in exposures}

    def publish(self, done: Mapping[str, tuple[str, Picks]]) -> None:
        """Save the picks of every micrograph in ``done`` (journal key -> name, picks) that is
        an exposure; a refused call is an :class:`~cryostream.session.errors.OutputError`."""
        with server_calls(self.connection):
            exposures = self.exposures()
            matched = sorted(key for key in done if key in exposures)
            if set(matched) == self.published:
                return
            picked = [(exposures[key], done[key][1]) for key in matched]
            particles = particles_dataset(picked, self.min_distance_diameters)
            save_particles(self.job, particles, warn=not self.published)
            self.published = set(matched)
            waiting = len(done) - len(matched)
            self.job.log(f"cryostream: {len(particles)} particles of {len(matched)} exposures"
                         + (f"; {waiting} picked micrographs are not among the exposures yet"
                            if waiting else ""))


def parse_target(value: str) -> tuple[str, str, tuple[str, str]]:
    """``P3/W1/J12.exposures_accepted`` as (project, workspace, (job, output))."""
    parts = value.split("/")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"--cryosparc must be PROJECT/WORKSPACE/JOB.OUTPUT, e.g. "
                         f"P3/W1/J12.exposures_accepted, got {value!r}")
    return parts[0], parts[1], exposures_output(parts[2])


@contextmanager
def live_job(target: str, config: PickerConfig,
             environ: Mapping[str, str] = os.environ) -> Iterator[LivePublisher]:
    """A running External job for ``target`` (see :func:`parse_target`), completed when the
    block ends (failed, with the error, when it raises)."""
    project_uid, workspace, source = parse_target(target)
    connection = connect(instance_from_environment(environ))
    with server_calls(connection):
        project = connection.cs.find_project(project_uid)
        job = create_external_job(connection, project, workspace, source, TITLE)
        publisher = LivePublisher(connection, job, connection.project_dir(project), config)
        try:
            publisher.exposures()
        except BadInputError as bad:
            raise UsageError(str(bad)) from bad
        job.start("running")
    failed = ""
    try:
        yield publisher
    except Exception as failure:
        failed = one_line(failure)
        raise
    finally:
        with server_calls(connection):
            job.stop(failed)


def publishers(target: str | None, config: PickerConfig) -> AbstractContextManager[list[LivePublisher]]:
    """The watcher's sinks: a live job when ``--cryosparc`` is given, else none."""
    if target is None:
        return nullcontext([])
    return _as_list(live_job(target, config))


@contextmanager
def _as_list(job: AbstractContextManager[LivePublisher]) -> Iterator[list[LivePublisher]]:
    with job as publisher:
        yield [publisher]
