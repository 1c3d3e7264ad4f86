"""A fake CryoSPARC instance on 127.0.0.1 for the real cryosparc-tools client, 4.x and 5.x.

It answers exactly the calls ``cryostream-cryosparc`` makes in server mode, as the client's own
source makes them (cryosparc-tools 4.7.1 ``command.py``/``tools.py``/``job.py``; 5.0
``api.py``/``tools.py``/``controllers``), and records each one:

- 4.x: JSON-RPC ``POST /api`` to command_core (base port + 2), command_vis (+ 3) and
  command_rtp (+ 5), each first asked ``system.describe``; the input dataset from
  ``POST /load_job_input`` and the output dataset to
  ``POST /external/projects/P/jobs/J/outputs/NAME/dataset`` on command_vis. Every request must
  carry the ``License-ID`` header; the login is ``get_id_by_email_password``.
- 5.x: a REST API under ``/api/cmd`` described by ``/api/cmd/openapi.json`` (the client builds
  its functions from it: see :mod:`fake_cryosparc_v5`), logged in through ``/login`` with the
  password's SHA-256, a bearer token on every call after it.

Datasets go both ways in CryoSPARC's own stream format (``cryosparc.dataset``), the saved output
is kept for the test to read, and the job's status and event log are kept too.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryosparc.dataset import Dataset

LICENSE = "01234567-89ab-cdef-0123-456789abcdef"
EMAIL = "picker@example.org"
PASSWORD = "not-a-real-password"
USER_ID = "6372a35e821ed2b71d9fe4e3"
PROJECT = "P1"
WORKSPACE = "W1"
SOURCE_JOB = "J2"
SOURCE_OUTPUT = "exposures_accepted"
NEW_JOB = "J3"
DATASET_MIME = "application/x-cryosparc-dataset"
# The particle output's fields as a CryoSPARC server allocates them (location and pick_stats);
# a shaped field's dtype is one string ("2u4" is two uint32), as the server sends it.
SERVER_PARTICLE_FIELDS = [
    ("location/micrograph_uid", "<u8"), ("location/exp_group_id", "<u4"),
    ("location/micrograph_path", "O"), ("location/micrograph_shape", "2u4"),
    ("location/center_x_frac", "<f4"), ("location/center_y_frac", "<f4"),
    ("location/min_dist_A", "<f4"), ("location/micrograph_psize_A", "<f4"),
    ("pick_stats/ncc_score", "<f4"), ("pick_stats/power", "<f4"),
    ("pick_stats/template_idx", "<u4"), ("pick_stats/angle_rad", "<f4"),
]


@dataclass
class Instance:
    """What the fake server holds: the project, the exposures to hand out, the particle output's
    fields, and what the client did (``calls``, ``status``, ``events``, ``saved``)."""

    project_dir: Path
    exposures: Dataset
    output_fields: Sequence[tuple[str, str]] = tuple(SERVER_PARTICLE_FIELDS)
    version: str = "v4.7.1"
    calls: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    inputs: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    saved: dict[str, Dataset] = field(default_factory=dict)
    connected: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: str) -> None:
        with self.lock:
            self.calls.append(call)

    def slot_fields(self) -> dict[str, list[list[str]]]:
        """The output fields by slot, without the slot prefix: 4.x's ``min_fields``."""
        slots: dict[str, list[list[str]]] = {}
        for name, dtype in self.output_fields:
            slot, _, rest = name.partition("/")
            slots.setdefault(slot, []).append([rest, dtype])
        return slots

    def exposures_stream(self) -> bytes:
        return b"".join(self.exposures.stream())


class Handler(BaseHTTPRequestHandler):
    """One request: read the body (plain or chunked), let the service answer, write it back."""

    service: Callable[[Handler, bytes], tuple[int, str, bytes]]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet server)
        pass

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self) -> None:
        status, mime, payload = type(self).service(self, self.body())
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer


def json_reply(value: Any, status: int = 200) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(value).encode()


def load_dataset(body: bytes) -> Dataset:
    return Dataset.load(io.BytesIO(body))


def free_base_port(offsets: Sequence[int]) -> int:
    """A base port whose ``base + offset`` ports are all free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1] - max(offsets)
        if base > 1024 and all(_free(base + offset) for offset in offsets):
            return base
    raise RuntimeError("no free ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def serving(services: dict[int, Callable[[Handler, bytes], tuple[int, str, bytes]]]
            ) -> Iterator[None]:
    """Run one HTTP server per port (127.0.0.1 only) until the block ends."""
    servers = []
    for port, service in services.items():
        handler = type("ServiceHandler", (Handler,), {"service": staticmethod(service)})
        servers.append(ThreadingHTTPServer(("127.0.0.1", port), handler))
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


# ---- cryosparc-tools 4.x: JSON-RPC command services -------------------------------------------

def job_document_v4(instance: Instance) -> dict:
    """The External job as 4.x's ``get_job`` returns what the client reads of it."""
    results = [{"group_name": name, "name": slot, "passthrough": False,
                "min_fields": instance.slot_fields()[slot]}
               for name, output in instance.outputs.items() for slot in output["slots"]]
    return {"uid": NEW_JOB, "project_uid": PROJECT, "job_type": "snowflake",
            "status": instance.status[-1] if instance.status else "building",
            "input_slot_groups": [{"name": name, **spec} for name, spec in instance.inputs.items()],
            "output_result_groups": [{"name": name, "title": name, "type": output["type"],
                                      "contains": []} for name, output in instance.outputs.items()],
            "output_results": results}


def v4_procedures(instance: Instance) -> dict[str, dict[str, Callable[..., Any]]]:
    """The JSON-RPC procedures of each 4.x service that the job calls."""
    def login(email: str, password: str) -> str:
        if (email, password) != (EMAIL, PASSWORD):
            raise PermissionError("Invalid email or password")
        return USER_ID

    def status(project_uid: str, job_uid: str, value: str) -> bool:
        instance.status.append(value)
        return True

    def event(project_uid: str, job_uid: str, message: str, error: bool) -> str:
        instance.events.append(("warning" if error else "text", message))
        return f"event{len(instance.events)}"

    def connect(project_uid: str, source_job_uid: str, source_output: str, target_job_uid: str,
                target_input: str, slots: list, title: str, desc: str) -> bool:
        instance.inputs[target_input] = {"type": "exposure", "slots": slots}
        instance.connected.append((target_input, source_job_uid, source_output))
        return True

    def add_output(project_uid: str, job_uid: str, type: str, name: str, slots: list,  # noqa: A002
                   passthrough: str | None, title: str | None) -> str:
        instance.outputs[name] = {"type": type, "slots": slots}
        return name

    return {
        "command_core": {
            "get_id_by_email_password": login,
            "get_running_version": lambda: instance.version,
            "get_project": lambda uid: {"uid": uid, "title": "fake project"},
            "get_project_dir_abs": lambda uid: str(instance.project_dir),
            "get_job": lambda project_uid, job_uid: job_document_v4(instance),
            "run_external_job": status,
            "set_job_status": status,
            "job_send_streamlog": lambda **kwargs: event(**kwargs),
        },
        "command_vis": {
            "create_external_job": lambda **kwargs: NEW_JOB,
            "connect_external_job": lambda **kwargs: connect(**kwargs),
            "add_external_job_output": lambda **kwargs: add_output(**kwargs),
        },
        "command_rtp": {},
    }


def v4_service(instance: Instance, name: str, procedures: dict[str, Callable[..., Any]]
               ) -> Callable[[Handler, bytes], tuple[int, str, bytes]]:
    def service(request: Handler, body: bytes) -> tuple[int, str, bytes]:
        if request.headers.get("License-ID") != LICENSE:
            return json_reply({"detail": "invalid license"}, 403)
        path = request.path
        if path == "/api":
            call = json.loads(body)
            method, params = call["method"], call["params"]
            instance.record(f"{name} {method}")
            if method == "system.describe":
                return json_reply({"result": {"procs": [{"name": proc} for proc in procedures]}})
            try:
                result = (procedures[method](**params) if isinstance(params, dict)
                          else procedures[method](*params))
            except (KeyError, PermissionError) as error:
                return json_reply({"error": {"name": type(error).__name__,
                                             "message": str(error)}, "id": call["id"]})
            return json_reply({"jsonrpc": "2.0", "result": result, "id": call["id"]})
        instance.record(f"{name} {request.command} {path}")
        if path == "/load_job_input":
            return 200, DATASET_MIME, instance.exposures_stream()
        prefix = f"/external/projects/{PROJECT}/jobs/{NEW_JOB}/outputs/"
        if path.startswith(prefix) and path.endswith("/dataset"):
            instance.saved[path[len(prefix):-len("/dataset")]] = load_dataset(body)
            return 200, "text/plain", b"saved"
        return json_reply({"detail": f"no route {path}"}, 404)

    return service


@contextmanager
def fake_v4(instance: Instance) -> Iterator[int]:
    """Serve 4.x's three command services; yields the base port."""
    offsets = {"command_core": 2, "command_vis": 3, "command_rtp": 5}
    base = free_base_port(list(offsets.values()))
    procedures = v4_procedures(instance)
    with serving({base + offset: v4_service(instance, name, procedures[name])
                  for name, offset in offsets.items()}):
        yield base
