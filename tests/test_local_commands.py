"""Local commands: the users CLI while a gateway owns the embedded engine, and without one.

The CLI runs as a real subprocess; the gateway runs in this test process on the
suite's embedded ClickHouse folder, so the subprocess cannot open that folder
itself and must go through the admin listener.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from gateway.admin import accounts
from gateway.admin.passwords import verify
from gateway.audit import audit_entries
from gateway.cli import COMMANDS, build_parser
from gateway.commands import announcement_path
from gateway.settings import Settings
from gateway.storage import storage_from_settings
from tests.conftest import TEST_KEY, make_settings
from tests.servers import run_gateway

PASSWORD = "correct horse battery staple"


def cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``consent-gateway ARGS`` in a fresh process with ``settings``' environment."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CG_UPSTREAM": settings.upstream,
        "CG_SECRET_KEY": TEST_KEY,
        "CG_GEOLOCATION": "off",
        "CG_DATA_DIR": settings.data_dir,
        "CG_CLICKHOUSE_DSN": settings.clickhouse_dsn,
        "CG_ADMIN_PORT": str(settings.admin_port),
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=settings.data_dir,
    )


def test_user_add_while_the_gateway_owns_the_folder_goes_through_it(
    demo_site: str, tmp_path: Path
) -> None:
    settings = make_settings(demo_site, tmp_path)
    with run_gateway(settings) as (_, admin):
        path = announcement_path(settings)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        announced = json.loads(path.read_text())
        assert announced["pid"] == os.getpid()
        assert announced["url"] == admin
        running = make_settings(demo_site, tmp_path, admin_port=admin.rsplit(":", 1)[1])
        running = type(settings)(**{**settings.__dict__, "admin_port": running.admin_port})
        added = cli(
            running,
            "user",
            "add",
            "Ana@Example.org",
            "--role",
            "admin",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert added.returncode == 0, added.stderr
        assert "Added ana@example.org as admin." in added.stdout
        listed = cli(running, "user", "list")
        assert "ana@example.org" in listed.stdout
        twice = cli(
            running,
            "user",
            "add",
            "ana@example.org",
            "--role",
            "viewer",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert twice.returncode == 1
        assert "already an account for ana@example.org" in twice.stderr
        assert "Traceback" not in twice.stderr
    assert not path.exists()  # removed at shutdown
    storage = storage_from_settings(settings)
    user = accounts.get_user(storage, "ana@example.org")
    assert user is not None and user.role == "admin"
    assert verify(user.password_hash, PASSWORD)
    entries = audit_entries(storage, action="user.add")
    assert [(entry.target, entry.detail) for entry in entries] == [("ana@example.org", "admin")]
    assert entries[0].actor.startswith("cli")


def test_the_local_route_wants_the_token(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path)
    with run_gateway(settings) as (_, admin):
        url = f"{admin}/_local/commands/user.list"
        assert httpx.post(url, json={}).status_code == 403
        wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "forbidden"
        token = json.loads(announcement_path(settings).read_text())["token"]
        good = httpx.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
        assert good.status_code == 200
        assert good.json() == {"users": []}
        unknown = httpx.post(
            f"{admin}/_local/commands/nope", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert unknown.status_code == 400
        assert "no local command named 'nope'" in unknown.json()["error"]["message"]


def test_without_a_gateway_the_cli_runs_in_process_and_cleans_a_stale_file(
    tmp_path: Path,
) -> None:
    # Its own embedded folder, which no process holds; a crashed gateway left admin.json.
    settings = make_settings("http://127.0.0.1:9", tmp_path, clickhouse_dsn="")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = {"url": "http://127.0.0.1:9", "pid": int(dead.stdout), "token": "x"}
    announcement_path(settings).write_text(json.dumps(stale))
    added = cli(
        settings,
        "user",
        "add",
        "bo@example.org",
        "--role",
        "viewer",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert not announcement_path(settings).exists()
    # Like a newcomer next to the demo: no settings at all, only the data folder.
    bare = subprocess.run(
        [sys.executable, "-m", "gateway", "user", "set-role", "bo@example.org", "admin",
         "--data-dir", settings.data_dir],
        capture_output=True, text=True, timeout=120, cwd=settings.data_dir,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")},
    )  # fmt: skip
    assert bare.returncode == 0, bare.stderr
    assert "bo@example.org is now admin." in bare.stdout
    changed = cli(settings, "user", "set-role", "bo@example.org", "admin")
    assert "bo@example.org is now admin." in changed.stdout
    last = cli(settings, "user", "remove", "bo@example.org")
    assert last.returncode == 1
    assert "the last admin" in last.stderr
    weak = cli(
        settings, "user", "reset-password", "bo@example.org", "--password-stdin", stdin="short\n"
    )
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr


def test_a_folder_held_without_an_announcement_gets_a_sentence_not_a_lock_error(
    demo_site: str, tmp_path: Path
) -> None:
    # This test process holds the suite's folder; the CLI finds no admin.json for it.
    settings = make_settings(demo_site, tmp_path)
    storage_from_settings(settings).connect().close()
    result = cli(settings, "user", "list")
    assert result.returncode == 1
    # The holder is named: this test process, with its command line.
    assert f"Process {os.getpid()} (" in result.stderr
    assert "holds the embedded ClickHouse" in result.stderr
    assert "Traceback" not in result.stderr


# Commands that never go through a running gateway: they serve, fetch files, print text.
LOCAL_ONLY = {"serve", "demo", "geo"}


def test_every_cli_command_runs_through_the_gateway_or_is_local_only(
    demo_site: str, tmp_path: Path
) -> None:
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert list(choices or ()) == [command.name for command in COMMANDS]
    assert {command.name for command in COMMANDS if command.local_only} == LOCAL_ONLY
    settings = make_settings(demo_site, tmp_path)
    with run_gateway(settings) as (_, admin):
        token = json.loads(announcement_path(settings).read_text())["token"]

        def post(name: str) -> httpx.Response:
            url = f"{admin}/_local/commands/{name}"
            return httpx.post(url, json={}, headers={"Authorization": f"Bearer {token}"})

        for command in COMMANDS:
            for action in command.actions:
                answer = post(action.name)  # an empty payload: refused by the action, or run
                assert answer.status_code in (200, 400), (action.name, answer.text)
                if answer.status_code == 400:
                    assert answer.json()["error"]["code"] == "command_failed"
                    assert "no local command" not in answer.text, action.name
        for name in LOCAL_ONLY:
            refused = post(name)
            assert refused.status_code == 400
            assert f"no local command named {name!r}" in refused.json()["error"]["message"]
