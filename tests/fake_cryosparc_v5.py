"""The 5.x side of :mod:`fake_cryosparc`: CryoSPARC v5's REST API under ``/api/cmd``.

cryosparc-tools 5.x builds its functions from the server's ``/api/cmd/openapi.json``: each
operation's ``summary`` is the function's name (``jobs.find_one``), its path and query
parameters and body are the function's arguments, and responses that ``$ref`` a schema are
parsed into the client's own pydantic models (``User``, ``Project``, ``Job``, ``TextEvent``,
``Token``). The operations below are the ones ``cryostream-cryosparc`` reaches, with the
argument names of the client's ``api.pyi``; the documents carry the fields those models require.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fake_cryosparc import (
    DATASET_MIME,
    EMAIL,
    NEW_JOB,
    PASSWORD,
    PROJECT,
    SOURCE_JOB,
    SOURCE_OUTPUT,
    USER_ID,
    WORKSPACE,
    Handler,
    Instance,
    free_base_port,
    json_reply,
    load_dataset,
    serving,
)

API = "/api/cmd"
TOKEN = "fake-session-token"
WHEN = "2025-01-01T00:00:00Z"
JOB_PATH = "/projects/{project_uid}/jobs/{job_uid}"
# (HTTP method, path, summary, query parameters, request body, response): the body is None,
# "json", "form" or "dataset"; the response a schema name, "string", "fields" or "dataset".
OPERATIONS = [
    ("post", "/login", "login", (), "form", "Token"),
    ("get", "/users/me", "users.me", (), None, "User"),
    ("get", "/config/version", "config.get_version", (), None, "string"),
    ("get", "/projects/{project_uid}", "projects.find_one", (), None, "Project"),
    ("get", "/projects/{project_uid}/directory", "projects.get_directory", (), None, "string"),
    ("post", "/projects/{project_uid}/workspaces/{workspace_uid}/jobs", "jobs.create",
     ("type", "title", "description", "created_by_job_uid", "enable_bench"), "json", "Job"),
    ("get", JOB_PATH, "jobs.find_one", (), None, "Job"),
    ("post", JOB_PATH + "/external/inputs/{input_name}", "jobs.add_external_input", (), "json",
     "Job"),
    ("post", JOB_PATH + "/connect/{input_name}", "jobs.connect",
     ("source_job_uid", "source_output_name"), None, "Job"),
    ("post", JOB_PATH + "/external/outputs/{output_name}", "jobs.add_external_output", (),
     "json", "Job"),
    ("post", JOB_PATH + "/mark_running", "jobs.mark_running", ("status",), None, "Job"),
    ("get", JOB_PATH + "/inputs/{input_name}/dataset", "jobs.load_input",
     ("force_join", "slots"), None, "dataset"),
    ("post", JOB_PATH + "/events/text", "jobs.add_event_log", ("type",), "json", "TextEvent"),
    ("post", JOB_PATH + "/outputs/{output_name}/fields", "jobs.get_output_fields", (), "json",
     "fields"),
    ("post", JOB_PATH + "/outputs/{output_name}/dataset", "jobs.save_output",
     ("filename", "version"), "dataset", "Job"),
    ("post", JOB_PATH + "/mark_completed", "jobs.mark_completed", (), None, "Job"),
    ("post", JOB_PATH + "/mark_failed", "jobs.mark_failed", ("error",), None, "Job"),
]


def response_schema(kind: str) -> dict:
    if kind == "dataset":
        return {DATASET_MIME: {"schema": {"title": "Dataset"}}}
    schema: dict[str, Any] = {"type": "string"}
    if kind == "fields":
        schema = {"type": "array", "items": {"type": "array", "prefixItems": [
            {"type": "string"}, {"type": "string"}]}}
    elif kind != "string":
        schema = {"$ref": f"#/components/schemas/{kind}"}
    return {"application/json": {"schema": schema}}


def openapi() -> dict:
    """The OpenAPI document the client reads its functions from."""
    paths: dict[str, dict] = {}
    for method, path, summary, query, body, response in OPERATIONS:
        parameters = [{"name": name, "in": "path", "required": True}
                      for name in re.findall(r"{([^}]*)}", path)]
        parameters += [{"name": name, "in": "query", "required": name in ("type",)}
                       for name in query]
        operation: dict[str, Any] = {"summary": summary, "parameters": parameters,
                                     "responses": {"200": {"content": response_schema(response)}}}
        if body:
            mime = {"json": "application/json", "form": "application/x-www-form-urlencoded",
                    "dataset": DATASET_MIME}[body]
            operation["requestBody"] = {"content": {mime: {"schema": {"title": "Body"}}}}
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "fake CryoSPARC", "version": "v5.0.3"},
            "paths": paths, "components": {"schemas": {}}}


def job_document(instance: Instance, uid: str) -> dict:
    """A ``Job`` with the fields the model requires: the exposures job or the External job."""
    if uid == SOURCE_JOB:
        spec = {"type": "patch_ctf_estimation_multi", "inputs": {}, "outputs": {SOURCE_OUTPUT: {
            "type": "exposure", "title": "Accepted exposures",
            "results": [{"name": "micrograph_blob", "dtype": "micrograph_blob"}]}}}
        status = "completed"
    else:
        spec = {"type": "snowflake", "inputs": instance.inputs, "outputs": instance.outputs}
        status = instance.status[-1] if instance.status else "building"
    return {"_id": f"{int(uid[1:]):024x}", "uid": uid, "uid_num": int(uid[1:]),
            "project_uid": PROJECT, "project_uid_num": 1, "workspace_uids": [WORKSPACE],
            "job_dir": uid, "status": status, "status_num": 5, "created_by_user_id": USER_ID,
            "spec": {**spec, "params": {}, "ui_tile_width": 1, "ui_tile_height": 1,
                     "resource_spec": {}},
            "build_errors": [], "job_dir_size_last_updated": WHEN}


def handlers(instance: Instance) -> dict[str, Callable[..., Any]]:
    """What each operation does, by summary; each takes the path parameters, the query and the
    request body."""
    def job(*_: Any) -> dict:
        return job_document(instance, NEW_JOB)

    def login(query: dict, body: bytes) -> dict:
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if (form.get("username"), form.get("password")) != (
                EMAIL, hashlib.sha256(PASSWORD.encode()).hexdigest()):
            raise PermissionError("Incorrect email or password")
        return {"access_token": TOKEN, "token_type": "bearer"}

    def add_input(project: str, job_uid: str, name: str, query: dict, body: bytes) -> dict:
        spec = json.loads(body)
        instance.inputs[name] = {key: spec[key] for key in (
            "type", "title", "description", "slots", "count_min", "count_max")}
        return job()

    def connect(project: str, job_uid: str, name: str, query: dict, body: bytes) -> dict:
        instance.connected.append((name, query["source_job_uid"], query["source_output_name"]))
        return job()

    def add_output(project: str, job_uid: str, name: str, query: dict, body: bytes) -> dict:
        spec = json.loads(body)
        slots = [slot if isinstance(slot, dict) else {"name": slot, "dtype": slot}
                 for slot in spec["slots"]]
        instance.outputs[name] = {"type": spec["type"], "title": spec["title"], "slots": slots,
                                  "results": slots}
        return job()

    def status(value: str) -> Callable[..., dict]:
        def mark(project: str, job_uid: str, query: dict, body: bytes) -> dict:
            instance.status.append(query.get("status", value))
            if "error" in query:
                instance.events.append(("error", query["error"]))
            return job()
        return mark

    def event(project: str, job_uid: str, query: dict, body: bytes) -> dict:
        instance.events.append((query.get("type", "text"), json.loads(body)))
        return {"_id": f"{len(instance.events):024x}", "project_uid": project,
                "job_uid": job_uid, "type": query.get("type", "text"), "text": json.loads(body)}

    def fields(project: str, job_uid: str, name: str, query: dict, body: bytes) -> list:
        slots = {slot["name"] for slot in instance.outputs[name]["slots"]}
        return [[field, dtype] for field, dtype in instance.output_fields
                if field.partition("/")[0] in slots]

    def save(project: str, job_uid: str, name: str, query: dict, body: bytes) -> dict:
        instance.saved[name] = load_dataset(body)
        return job()

    return {
        "login": login,
        "users.me": lambda query, body: {
            "_id": USER_ID, "name": "picker", "first_name": "Pat", "last_name": "Picker",
            "emails": [{"address": EMAIL, "verified": True}], "roles": {},
            "register_token": None, "created_at": WHEN},
        "config.get_version": lambda query, body: instance.version,
        "projects.find_one": lambda uid, query, body: {
            "_id": "67292e95282b26b45d0e8fae", "uid": uid, "uid_num": 1, "title": "fake project",
            "project_dir": str(instance.project_dir), "owner_user_id": USER_ID,
            "size_last_updated": WHEN},
        "projects.get_directory": lambda uid, query, body: str(instance.project_dir),
        "jobs.create": job,
        "jobs.find_one": lambda project, uid, query, body: job_document(instance, uid),
        "jobs.add_external_input": add_input,
        "jobs.connect": connect,
        "jobs.add_external_output": add_output,
        "jobs.mark_running": status("running"),
        "jobs.load_input": lambda *arguments: instance.exposures_stream(),
        "jobs.add_event_log": event,
        "jobs.get_output_fields": fields,
        "jobs.save_output": save,
        "jobs.mark_completed": status("completed"),
        "jobs.mark_failed": status("failed"),
    }


def routes() -> list[tuple[str, re.Pattern, str, str]]:
    return [(method.upper(), re.compile("^" + API + re.sub(r"{[^}]*}", "([^/]+)", path) + "$"),
             summary, response) for method, path, summary, _, _, response in OPERATIONS]


def v5_service(instance: Instance) -> Callable[[Handler, bytes], tuple[int, str, bytes]]:
    table, actions = routes(), handlers(instance)

    def service(request: Handler, body: bytes) -> tuple[int, str, bytes]:
        url = urlsplit(request.path)
        instance.record(f"{request.command} {url.path}")
        if (request.command, url.path) == ("GET", API + "/openapi.json"):
            return json_reply(openapi())
        for method, pattern, summary, response in table:
            match = pattern.match(url.path)
            if method != request.command or not match:
                continue
            if summary != "login" and request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return json_reply({"detail": "Not authenticated"}, 401)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            try:
                result = actions[summary](*match.groups(), query, body)
            except PermissionError as error:
                return json_reply({"detail": str(error)}, 401)
            if response == "dataset":
                return 200, DATASET_MIME, result
            return json_reply(result)
        return json_reply({"detail": f"no route {request.command} {url.path}"}, 404)

    return service


@contextmanager
def fake_v5(instance: Instance) -> Iterator[int]:
    """Serve v5's API; yields the base port (the base URL is ``http://127.0.0.1:PORT``)."""
    instance.version = "v5.0.3"
    port = free_base_port([0])
    with serving({port: v5_service(instance)}):
        yield port
