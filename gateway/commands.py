"""What a ``consent-gateway`` command is, the registry of them, and where their work runs.

Each package declares its commands in its ``commands`` module as :class:`Command`
values; :mod:`gateway.cli` lists them once in a :class:`Registry`, which both the
parser and the admin local-commands route (:mod:`gateway.admin.local`) read.
Nothing registers itself on import. The embedded engine lets one process open a
data folder, so while a gateway runs on it :func:`run_command` POSTs the action
to that gateway, found through ``<data_dir>/admin.json`` (its URL and a token);
otherwise the action runs in the CLI's own process, and a held folder gets a
sentence saying what to do, never a lock error.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from hmac import compare_digest
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.exceptions import CommandError, StorageError
from gateway.processes import process_alive
from gateway.settings import Settings, load_settings
from gateway.storage import Storage, storage_from_settings
from gateway.storage.folder_lock import held_elsewhere, holder
from gateway.storage.migrator import migrate

Payload = dict[str, Any]

ANNOUNCEMENT = "admin.json"
ROUTE = "/_local/commands/"


@dataclass(frozen=True)
class Context:
    """What an action runs with, in the CLI's process or inside the running gateway.

    ``flush_events`` writes every analytics event and consent log entry this
    process holds, or raises
    :class:`~gateway.exceptions.StorageError` when some stay spooled; it is
    ``None`` where the process has no event writer (the CLI), so that work which
    must follow the writer (an erasure) knows whose events it can wait for.
    """

    storage: Storage
    settings: Settings
    flush_events: Callable[[], None] | None = None


@dataclass(frozen=True)
class Action:
    """Work on the data that a command runs where the data is, by a name the gateway accepts.

    ``name`` is the last part of the admin listener's ``/_local/commands/{name}``;
    ``run`` takes and returns JSON objects, because the payload may travel there.
    Run in the CLI's process, an action finds the schema migrated first, unless
    ``migrate_first`` is false (``migrate`` itself, which reports what it applied).
    """

    name: str
    run: Callable[[Context, Payload], Payload]
    migrate_first: bool = True


@dataclass(frozen=True)
class Command:
    """One subcommand of ``consent-gateway``.

    ``arguments`` adds the subcommand's arguments (and its own subcommands, if
    any) to the parser made with ``help`` and ``description``; ``handler`` gets
    the parsed arguments and returns the exit status. ``actions`` are the pieces
    of work the handler runs through :func:`run_command`, so through the gateway
    that owns the embedded ClickHouse; a command without any runs in the CLI's
    process only.
    """

    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    actions: tuple[Action, ...] = ()

    @property
    def local_only(self) -> bool:
        """Whether the command never goes through a running gateway."""
        return not self.actions

    def action(self, name: str) -> Action:
        """This command's action called ``name``."""
        for action in self.actions:
            if action.name == name:
                return action
        raise CommandError(f"The command {self.name!r} has no action named {name!r}.")


class Registry:
    """Every command, in the order ``consent-gateway --help`` lists them, and their actions."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self.commands = tuple(commands)
        self._actions: dict[str, Action] = {}
        names: set[str] = set()
        for command in self.commands:
            if command.name in names:
                raise ValueError(f"Two commands are named {command.name!r}.")
            names.add(command.name)
            for action in command.actions:
                if action.name in self._actions:
                    raise ValueError(f"Two actions are named {action.name!r}.")
                self._actions[action.name] = action

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands)

    def action(self, name: str) -> Action:
        """The action called ``name``, or :class:`CommandError` saying there is none."""
        try:
            return self._actions[name]
        except KeyError:
            raise CommandError(f"There is no local command named {name!r}.") from None


def command_settings(
    env_file: str | None, data_dir: str | None = None, **overrides: str | None
) -> Settings:
    """The settings an action runs with: the gateway's own, from the same sources.

    Actions never use the upstream or the secret key, so when those are not set
    (an operator typing ``consent-gateway user list --data-dir ./demo-data``)
    harmless placeholders stand in; every other setting, ``CG_DATA_DIR`` and
    ``CG_CLICKHOUSE_DSN`` first, is read as ``serve`` reads it. ``overrides``
    (a command's options, by setting name) win where given.
    """
    placeholders = {"upstream": "http://127.0.0.1", "secret_key": secrets.token_urlsafe(48)}
    return load_settings(
        env_file=env_file,
        overrides={"data_dir": data_dir, **overrides},
        fallbacks=placeholders,
    )


def run_command(settings: Settings, action: Action, payload: Payload) -> Payload:
    """Run ``action``: through the running gateway that owns the data folder, or here.

    Raises :class:`CommandError` with a sentence for the operator on any failure.
    """
    storage = storage_from_settings(settings)
    if storage.embedded:
        found = read_announcement(settings)
        if found is not None and found.pid != os.getpid():
            if process_alive(found.pid):
                return _post(found, action.name, payload, settings)
            announcement_path(settings).unlink(missing_ok=True)  # left by a crashed gateway
    if storage.embedded and held_by_another_process(storage):
        folder = _folder(storage)
        raise CommandError(
            f"{holder(folder)} holds the embedded ClickHouse in {folder} and left "
            f"no {announcement_path(settings)}. If it is a gateway, check that it runs with "
            "this CG_DATA_DIR (it then takes commands through its admin listener); otherwise "
            "stop that process and run this command again."
        )
    try:
        if action.migrate_first:
            migrate(storage)
        return action.run(Context(storage, settings), payload)
    except StorageError as error:
        raise CommandError(str(error)) from None


def folder_in_use(settings: Settings) -> str | None:
    """Why this process cannot open the embedded engine's folder, or ``None`` if it can.

    ``serve`` asks before it starts: one process owns an embedded folder, and a
    second gateway on it would fail deep in its start-up instead.
    """
    storage = storage_from_settings(settings)
    if not storage.embedded:
        return None
    found = read_announcement(settings)
    if found is not None and found.pid != os.getpid() and process_alive(found.pid):
        return (
            f"The gateway with pid {found.pid} already serves the data folder "
            f"{settings.data_dir} (admin listener {found.url}), and one process owns an "
            f"embedded ClickHouse folder. Stop that gateway first (kill {found.pid}), or give "
            "this one another CG_DATA_DIR; several processes on one database need a "
            "ClickHouse server (CG_CLICKHOUSE_DSN=http://...)."
        )
    if held_by_another_process(storage):
        folder = _folder(storage)
        return (
            f"{holder(folder)} holds the embedded ClickHouse in {folder}, and one "
            "process owns an embedded ClickHouse folder. Stop that process first, or give "
            "this gateway another CG_DATA_DIR."
        )
    return None


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


def _folder(storage: Storage) -> Path:
    return Path(urlsplit(storage.dsn).path)


def held_by_another_process(storage: Storage) -> bool:
    """Whether another process has the embedded engine's folder open (its lock,
    :mod:`gateway.storage.folder_lock`), told without opening the engine."""
    return held_elsewhere(_folder(storage))


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
