"""``serve --workers N``: accepted with a ClickHouse server DSN, refused on the embedded engine.

No ClickHouse server runs in the tests, so acceptance is shown twice without
faking one: the validation itself, and the real command getting past it to the
migration, where the unreachable server stops it with a message naming the DSN.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.exceptions import SettingsError
from gateway.workers import check_workers
from tests.conftest import TEST_KEY, make_settings
from tests.servers import free_port

UPSTREAM = "http://127.0.0.1:9"


def test_several_workers_are_accepted_with_a_server_dsn(tmp_path: Path) -> None:
    settings = make_settings(UPSTREAM, tmp_path, clickhouse_dsn="http://u:p@clickhouse:8123/cg")
    check_workers(settings, 2)
    check_workers(settings, 64)


@pytest.mark.parametrize("dsn", ["", "chdb:///srv/cg/clickhouse"])
def test_several_workers_are_refused_on_the_embedded_engine(tmp_path: Path, dsn: str) -> None:
    settings = make_settings(UPSTREAM, tmp_path, clickhouse_dsn=dsn)
    check_workers(settings, 1)  # one worker is always fine
    with pytest.raises(SettingsError) as caught:
        check_workers(settings, 2)
    message = str(caught.value)
    assert "only one process can open" in message
    assert "CG_CLICKHOUSE_DSN=http://" in message  # what to use instead
    assert "Run one worker" in message


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": os.environ["PATH"],
        "CG_UPSTREAM": UPSTREAM,
        "CG_SECRET_KEY": TEST_KEY,
        "CG_DATA_DIR": str(tmp_path),
        "CG_GEOLOCATION": "off",
        **env,
    }
    command = [sys.executable, "-m", "gateway", "serve", "--env-file", "", *args]
    command += ["--host", "127.0.0.1", "--port", str(free_port())]
    command += ["--admin-port", str(free_port())]
    return subprocess.run(
        command, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_the_command_refuses_workers_on_the_embedded_engine(tmp_path: Path) -> None:
    result = _serve(tmp_path, "--workers", "2")
    assert result.returncode == 2
    assert "--workers 2 needs a ClickHouse server" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_accepts_workers_with_a_server_dsn(tmp_path: Path) -> None:
    dsn = f"http://default:hunter2secret@127.0.0.1:{free_port()}/gateway"
    result = _serve(tmp_path, "--workers", "2", CG_CLICKHOUSE_DSN=dsn)
    # Past the workers check: it announces two workers and stops at the migration,
    # because no ClickHouse server listens there, naming the DSN without its password.
    assert "2 workers" in result.stdout
    assert "needs a ClickHouse server" not in result.stderr
    assert result.returncode == 1
    assert "CG_CLICKHOUSE_DSN" in result.stderr
    assert f"127.0.0.1:{dsn.rsplit(':', 1)[1].split('/')[0]}/gateway" in result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_workers_setting_and_flag(tmp_path: Path) -> None:
    assert make_settings(UPSTREAM, tmp_path).workers == 1
    assert make_settings(UPSTREAM, tmp_path, workers=4).workers == 4
    with pytest.raises(SettingsError, match="CG_WORKERS must be between 1 and 64"):
        make_settings(UPSTREAM, tmp_path, workers=0)
