"""Local commands: the CLI's way in while a gateway owns the embedded ClickHouse.

The embedded engine lets one process open a data folder. While a gateway runs
on it, ``consent-gateway user add`` (or ``token create``, ``erase``...) cannot
open it too, so the command goes through the running gateway instead:

1. At start-up a gateway on the embedded engine writes ``<data_dir>/admin.json``
   (mode 0600) with its admin listener's URL, its pid and a random token, and
   removes it at shutdown.
2. :func:`run_command` reads that file. When its pid is alive, it POSTs the
   command's JSON payload to ``/_local/commands/{name}`` on the admin listener
   with ``Authorization: Bearer <token>``; the route accepts only peers on this
   machine that show the token, and runs the command there.
3. Otherwise (no file, a stale one, or a ClickHouse server DSN, where any number
   of processes may connect) it runs the command in this process.

It never ends with a lock error: if the folder is held by a process that left
no ``admin.json``, or the gateway does not answer, it says what to do.

A command is a function ``(storage, settings, payload) -> dict`` registered by
name with :func:`register_command`; payload and result are JSON objects.
Modules that register commands are listed in :data:`COMMAND_MODULES`, so the
gateway knows every command without importing the CLI.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import logging
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import error_response
from gateway.exceptions import CommandError, SettingsError, StorageError
from gateway.json_body import parse_json
from gateway.processes import process_alive
from gateway.settings import Settings
from gateway.storage import Storage, storage_from_settings
from gateway.storage.migrator import migrate

logger = logging.getLogger("gateway.admin")

Payload = dict[str, Any]
Command = Callable[[Storage, Settings, Payload], Payload]

# Every module that registers local commands; add yours here.
COMMAND_MODULES: tuple[str, ...] = (
    "gateway.admin.users_cli",
    "gateway.stats.cli",
    "gateway.privacy.commands",
)
ANNOUNCEMENT = "admin.json"
MAX_PAYLOAD_BYTES = 64 * 1024
ROUTE = "/_local/commands/"

_commands: dict[str, Command] = {}


def register_command(name: str) -> Callable[[Command], Command]:
    """Decorator: make ``fn`` runnable as the local command ``name``."""

    def add(fn: Command) -> Command:
        _commands[name] = fn
        return fn

    return add


def command_settings(env_file: str | None, data_dir: str | None = None) -> Settings:
    """The settings a local command runs with: the gateway's own, from the same sources.

    Commands never use the upstream or the secret key, so when those are not
    set (an operator typing ``consent-gateway user list --data-dir ./demo-data``)
    harmless placeholders stand in; every other setting, ``CG_DATA_DIR`` and
    ``CG_CLICKHOUSE_DSN`` first, is read as ``serve`` reads it.
    """
    from gateway.settings import load_settings

    placeholders = {"CG_UPSTREAM": ("upstream", "http://127.0.0.1"),
                    "CG_SECRET_KEY": ("secret_key", secrets.token_urlsafe(48))}  # fmt: skip
    overrides: dict[str, object] = {"data_dir": data_dir}
    for _ in placeholders:
        try:
            return load_settings(env_file=env_file, overrides=overrides)
        except SettingsError as error:
            missing = [name for name in placeholders if f"{name} is not set" in str(error)]
            if not missing:
                raise
            attribute, value = placeholders[missing[0]]
            overrides[attribute] = value
    return load_settings(env_file=env_file, overrides=overrides)


def lookup(name: str) -> Command:
    """The command registered as ``name``, importing :data:`COMMAND_MODULES` first."""
    if name not in _commands:
        for module in COMMAND_MODULES:
            importlib.import_module(module)
    try:
        return _commands[name]
    except KeyError:
        raise CommandError(f"There is no local command named {name!r}.") from None


@dataclass(frozen=True)
class Announcement:
    """What a running gateway leaves in ``admin.json``."""

    url: str
    pid: int
    token: str


def announcement_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / ANNOUNCEMENT


def _admin_url(settings: Settings) -> str:
    host = settings.admin_host
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.admin_port}"


def announce(settings: Settings) -> str:
    """Write ``admin.json`` for this process (owner-only) and return its token."""
    token = secrets.token_urlsafe(32)
    path = announcement_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"url": _admin_url(settings), "pid": os.getpid(), "token": token})
    temporary = path.with_name(f".{ANNOUNCEMENT}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(body)
    os.replace(temporary, path)
    return token


def withdraw(settings: Settings, token: str) -> None:
    """Remove ``admin.json`` if it is still this process's (at shutdown)."""
    found = read_announcement(settings)
    if found is not None and compare_digest(found.token, token):
        announcement_path(settings).unlink(missing_ok=True)


def read_announcement(settings: Settings) -> Announcement | None:
    """The announcement in the data folder, or ``None`` if absent or unreadable."""
    try:
        data = json.loads(announcement_path(settings).read_text())
        return Announcement(str(data["url"]), int(data["pid"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_command(settings: Settings, name: str, payload: Payload) -> Payload:
    """Run the local command ``name``: through the running gateway, or here.

    Raises :class:`CommandError` with a sentence for the operator on any failure.
    """
    storage = storage_from_settings(settings)
    if storage.embedded:
        found = read_announcement(settings)
        if found is not None and found.pid != os.getpid():
            if process_alive(found.pid):
                return _post(found, name, payload, settings)
            announcement_path(settings).unlink(missing_ok=True)  # left by a crashed gateway
    return _run_here(storage, settings, name, payload)


def _run_here(storage: Storage, settings: Settings, name: str, payload: Payload) -> Payload:
    command = lookup(name)
    if storage.embedded and held_by_another_process(storage):
        raise CommandError(
            f"Another process holds the embedded ClickHouse in {_folder(storage)} and left no "
            f"{announcement_path(settings)}. If it is a gateway, check that it runs with this "
            "CG_DATA_DIR (it then takes commands through its admin listener); otherwise stop "
            "that process and run this command again."
        )
    try:
        migrate(storage)
        return command(storage, settings, payload)
    except StorageError as error:
        raise CommandError(str(error)) from None


def _folder(storage: Storage) -> Path:
    return Path(urlsplit(storage.dsn).path)


def held_by_another_process(storage: Storage) -> bool:
    """Whether another process has the embedded engine's folder open.

    ClickHouse holds an exclusive ``flock`` on ``<folder>/status`` while it runs;
    probing that lock tells, without opening the engine (which would print its
    own error to stderr). A process that has opened chdb itself may hold that very
    lock, so then the answer is left to the engine.
    """
    if "chdb" in sys.modules:
        return False
    try:
        descriptor = os.open(_folder(storage) / "status", os.O_RDONLY)
    except OSError:
        return False  # a new folder: nobody has it
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False
    finally:
        os.close(descriptor)


def _post(found: Announcement, name: str, payload: Payload, settings: Settings) -> Payload:
    request = urllib.request.Request(  # noqa: S310 (the URL is our own admin listener's)
        f"{found.url}{ROUTE}{name}",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {found.token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            result: Payload = json.loads(answer.read())
            return result
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"the gateway answered {error.code}"
        raise CommandError(message) from None
    except (urllib.error.URLError, OSError) as error:
        raise CommandError(
            f"The gateway with pid {found.pid} owns the data folder {settings.data_dir}, but its "
            f"admin listener at {found.url} does not answer ({error}). Wait until it has "
            f"started, or stop it (kill {found.pid}) and run this command again."
        ) from None


def _from_this_machine(request: Request) -> bool:
    """Loopback, or a connection from this host to its own address."""
    peer = request.client.host if request.client else ""
    server = request.scope.get("server") or ("", 0)
    return peer in ("127.0.0.1", "::1", "::ffff:127.0.0.1") or (bool(peer) and peer == server[0])


def local_routes(settings: Settings) -> list[BaseRoute]:
    """The admin listener's route that runs local commands for the CLI."""

    async def endpoint(request: Request) -> Response:
        token: str | None = getattr(request.app.state, "local_token", None)
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not _from_this_machine(request) or not token or not compare_digest(given, token):
            return error_response(403, "forbidden", "Local commands come from this machine only.")
        body = await request.body()
        try:
            payload = parse_json(body) if len(body) <= MAX_PAYLOAD_BYTES else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return error_response(400, "bad_payload", "The payload must be a JSON object.")
        storage: Storage = request.app.state.analytics.storage
        try:
            command = lookup(request.path_params["name"])
            result = await storage.run(lambda: command(storage, settings, payload))
        except CommandError as error:
            return error_response(400, "command_failed", str(error))
        return JSONResponse(result)

    return [Route(ROUTE + "{name}", endpoint, methods=["POST"])]


def lifespan_hooks(settings: Settings, state: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Start-up and shutdown hooks that write and remove ``admin.json``.

    Only the embedded engine needs them; with a server DSN the CLI connects itself.
    """

    async def start() -> None:
        state.local_token = secrets.token_urlsafe(32)
        if state.analytics.storage.embedded:
            state.local_token = announce(settings)

    async def stop() -> None:
        if state.analytics.storage.embedded:
            withdraw(settings, state.local_token)

    return start, stop
