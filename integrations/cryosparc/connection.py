"""Connecting to a CryoSPARC instance with cryosparc-tools 4.x (CryoSPARC v4) or 5.x (CryoSPARC v5).

The two majors differ in how they are called, not in what the job does:

- 4.x: ``CryoSPARC(license, host, base_port, email, password)``; it talks JSON-RPC to the
  command services at base port + 2, + 3 and + 5 and needs the license ID, an email and a password.
  ``project.dir`` is a method.
- 5.x: ``CryoSPARC(base_url, *, host, base_port, email, password, license)``; it talks to the
  REST API under ``base_url``, takes an email and password or a stored ``python -m
  cryosparc.tools login`` session, and refuses a base URL together with a host or base port.
  ``project.dir`` is a property.

Both read their defaults from the environment when the module is imported, so the settings are
resolved here (options first, then the variables CryoSPARC users already set) and every argument
is passed explicitly.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryostream.session.errors import UsageError

ENV_BASE_URL = "CRYOSPARC_BASE_URL"
ENV_HOST = "CRYOSPARC_MASTER_HOSTNAME"
ENV_BASE_PORT = "CRYOSPARC_BASE_PORT"
ENV_LICENSE = "CRYOSPARC_LICENSE_ID"
ENV_EMAIL = "CRYOSPARC_EMAIL"
ENV_PASSWORD = "CRYOSPARC_PASSWORD"
DEFAULT_HOST = "localhost"
DEFAULT_BASE_PORT = 39000
SUPPORTED_MAJORS = (4, 5)


@dataclass(frozen=True)
class Instance:
    """Where a CryoSPARC instance is and who logs in: its base URL (``http://host:port``), host
    and base port (None when the URL has no port), license ID, email and password."""

    url: str
    host: str
    base_port: int | None
    license: str | None
    email: str | None
    password: str | None


def add_connection_arguments(group: argparse._ArgumentGroup) -> None:
    """The options that say which instance to connect to and as whom."""
    group.add_argument("--url", help=f"CryoSPARC base URL, e.g. http://cryosparc.example:39000 "
                       f"(default: ${ENV_BASE_URL}, else --host and --base-port).")
    group.add_argument("--host", help=f"CryoSPARC master host name (default: ${ENV_HOST}, else "
                       f"{DEFAULT_HOST}).")
    group.add_argument("--base-port", type=int, help=f"CryoSPARC base port (default: "
                       f"${ENV_BASE_PORT}, else {DEFAULT_BASE_PORT}).")
    group.add_argument("--license", help=f"CryoSPARC license ID, needed by cryosparc-tools 4.x "
                       f"(default: ${ENV_LICENSE}).")
    group.add_argument("--email", help=f"CryoSPARC user email (default: ${ENV_EMAIL}).")
    group.add_argument("--password", help=f"CryoSPARC password (default: ${ENV_PASSWORD}; prefer "
                       "the variable: a password on the command line is visible to other users).")


def instance_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Instance:
    """The instance from the options, else the environment: ``--url`` or ``--host``/
    ``--base-port``; then ``$CRYOSPARC_BASE_URL``, then ``$CRYOSPARC_MASTER_HOSTNAME``/
    ``$CRYOSPARC_BASE_PORT``, then localhost:39000."""
    if args.url and (args.host or args.base_port):
        raise UsageError("give --url or --host/--base-port, not both")
    url = args.url
    host, port = args.host, args.base_port
    if not (url or host or port):
        url = environ.get(ENV_BASE_URL)
        host, port = environ.get(ENV_HOST), environ.get(ENV_BASE_PORT)
        if url and (host or port):
            url = None  # the host and port variables are the ones CryoSPARC itself sets
    if url:
        host, base_port = _url_location(url)
    else:
        host, base_port = host or DEFAULT_HOST, _port(port or DEFAULT_BASE_PORT)
        url = f"http://{host}:{base_port}"
    return Instance(url.rstrip("/"), host, base_port, args.license or environ.get(ENV_LICENSE),
                    args.email or environ.get(ENV_EMAIL),
                    args.password or environ.get(ENV_PASSWORD))


def instance_from_environment(environ: Mapping[str, str]) -> Instance:
    """The instance from the ``CRYOSPARC_*`` variables alone."""
    return instance_from(argparse.Namespace(url=None, host=None, base_port=None, license=None,
                                            email=None, password=None), environ)


def _url_location(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must look like http://host:port, got {url!r}")
    try:
        return parts.hostname, parts.port
    except ValueError as error:
        raise UsageError(f"--url has a bad port: {url!r}") from error


def _port(value: int | str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise UsageError(f"${ENV_BASE_PORT} must be a port number, got {value!r}") from error


def tools_major() -> int:
    """The major version of the installed cryosparc-tools (4 or 5)."""
    version = metadata.version("cryosparc-tools")
    major = int(version.split(".")[0])
    if major not in SUPPORTED_MAJORS:
        raise UsageError(f"cryosparc-tools {version} is not supported; install 4.x for CryoSPARC "
                         "v4 or 5.x for CryoSPARC v5 (its major.minor should match the server's)")
    return major


def client_errors() -> tuple[type[BaseException], ...]:
    """What the installed client raises when the server refuses or fails a call."""
    from cryosparc import errors

    names = ("CommandError", "APIError", "ExternalJobError", "InvalidSlotsError")
    found: list[type[BaseException]] = [getattr(errors, name) for name in names
                                        if hasattr(errors, name)]
    try:
        import httpx  # the 5.x transport
    except ImportError:
        return tuple(found)
    return (*found, httpx.HTTPError)


@dataclass(frozen=True)
class Connection:
    """A logged-in ``cryosparc.tools.CryoSPARC`` and the major version of its client."""

    cs: Any
    major: int
    instance: Instance

    def project_dir(self, project: Any) -> Path:
        """The project directory as the server reports it (a method on 4.x, a property on 5.x)."""
        return Path(str(project.dir() if self.major == 4 else project.dir))

    def optional_slot(self, name: str) -> dict[str, Any]:
        """An input slot that may be missing from the connected output."""
        key = "prefix" if self.major == 4 else "name"
        return {key: name, "dtype": name, "required": False}


def connect(instance: Instance, major: int | None = None) -> Connection:
    """Log in to ``instance`` with the installed cryosparc-tools; a missing setting or a refused
    login is a :class:`UsageError` naming the instance."""
    from cryosparc.tools import CryoSPARC

    major = major or tools_major()
    arguments = (_arguments_4x(instance) if major == 4 else
                 {"base_url": instance.url, "host": None, "base_port": None,
                  "email": instance.email, "password": instance.password,
                  "license": instance.license})
    # 4.x asserts the license, email and password; 5.x raises TypeError or ValueError for missing
    # settings; both wrap a failed login in RuntimeError.
    refusals: tuple[type[BaseException], ...] = (AssertionError, TypeError, ValueError,
                                                 RuntimeError, *client_errors())
    try:
        cs = CryoSPARC(**arguments)
    except refusals as error:
        raise UsageError(f"cannot connect to CryoSPARC at {instance.url} with cryosparc-tools "
                         f"{major}.x ({' '.join(str(error).split())})") from error
    return Connection(cs, major, instance)


def _arguments_4x(instance: Instance) -> dict[str, Any]:
    missing = [f"{option} or ${variable}" for value, option, variable in (
        (instance.license, "--license", ENV_LICENSE), (instance.email, "--email", ENV_EMAIL),
        (instance.password, "--password", ENV_PASSWORD)) if not value]
    if instance.base_port is None:
        missing.append("a base port (--base-port, or a --url with the port)")
    if missing:
        raise UsageError(f"cryosparc-tools 4.x needs {', '.join(missing)} to connect to "
                         f"{instance.url}")
    return {"license": instance.license, "host": instance.host, "base_port": instance.base_port,
            "email": instance.email, "password": instance.password}
