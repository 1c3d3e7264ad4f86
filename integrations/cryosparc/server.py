"""The External job on a CryoSPARC instance that receives cryostream's picks: created with the
exposures connected, its ``particle`` output saved (once by ``cryostream-cryosparc``, after each
batch by ``cryostream watch --cryosparc``). The same calls on cryosparc-tools 4.x and 5.x."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryostream.session.errors import OutputError, UsageError
from integrations.cryosparc.connection import Connection, client_errors
from integrations.cryosparc.dataset import PARTICLE_SLOTS, copy_fields

EXPOSURE_SLOT = "micrograph_blob"
INPUT_NAME = "micrographs"
OUTPUT_NAME = "picked_particles"


def exposures_output(value: str | None) -> tuple[str, str]:
    """``J12.exposures_accepted`` as (job, output)."""
    source_job, _, source_output = (value or "").partition(".")
    if not source_output:
        raise UsageError(f"the exposures must be JOB.OUTPUT, e.g. J12.exposures_accepted, got "
                         f"{value!r}")
    return source_job, source_output


@contextmanager
def server_calls(connection: Connection) -> Iterator[None]:
    """Turn the client's errors inside the block into one :class:`OutputError` naming the
    instance."""
    try:
        yield
    except client_errors() as error:
        raise OutputError(f"CryoSPARC at {connection.instance.url}",
                          f"refused or failed a call ({error})") from error


def create_external_job(connection: Connection, project: Any, workspace: str,
                        source: tuple[str, str], title: str) -> Any:
    """An External job in ``workspace`` with the exposures output ``source`` connected as its
    input (``micrograph_blob``; ``mscope_params``, the exposure groups, when the output has it)
    and an empty ``particle`` output."""
    job = project.create_external_job(workspace, title=title)
    job.connect(INPUT_NAME, *source, slots=[EXPOSURE_SLOT,
                                            connection.optional_slot("mscope_params")])
    job.add_output("particle", OUTPUT_NAME, slots=PARTICLE_SLOTS)
    return job


def save_particles(job: Any, particles: Any, warn: bool = True) -> list[str]:
    """Save ``particles`` as the job's particle output, in a dataset the server allocates: only
    the fields it has are copied, and the ones it lacks are named in the event log (with
    ``warn``); returns them."""
    output = job.alloc_output(OUTPUT_NAME, particles)
    left_out = copy_fields(particles, output)
    if left_out and warn:
        job.log(f"cryostream: this server's particle output has no {', '.join(left_out)}; "
                "left out", level="warning")
    job.save_output(OUTPUT_NAME, output)
    return left_out
