"""docs/deployment.md's systemd unit, drop-in and environment file, as written there.

systemd itself checks the unit and the drop-in (``systemd-analyze verify``) and rates its
hardening (``systemd-analyze security``); then what the
unit starts is run with the documented environment: the single-worker unit on the embedded
engine serves and stops gracefully on SIGTERM, the four-worker drop-in is refused without a
server DSN and accepted with one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY
from tests.servers import free_port, run_server
from tests.upstreams import create_upstream

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
INSTALLED = "/opt/consent-gateway/.venv/bin/consent-gateway"
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "consent-gateway")


def section() -> str:
    return DOC.read_text().split("## Running it under systemd\n", 1)[1].split("\n## ", 1)[0]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.DOTALL)


def environment(
    tmp_path: Path, upstream: str = "http://127.0.0.1:9", **changes: str
) -> dict[str, str]:
    """The documented environment file, with this machine's upstream, key and folder."""
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    for line in blocks("sh")[0].splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            environ[name] = value
    assert environ["CG_DATA_DIR"] == "/var/lib/consent-gateway"  # the unit's StateDirectory
    assert len(environ["CG_SECRET_KEY"]) < 32  # a placeholder that cannot start a gateway
    environ |= {
        "CG_UPSTREAM": upstream,
        "CG_SECRET_KEY": TEST_KEY,
        "CG_DATA_DIR": str(tmp_path),
        "CG_ALLOWED_HOSTS": "127.0.0.1",
        "CG_GEOLOCATION": "off",
        "CG_HOST": "127.0.0.1",
        "CG_PORT": str(free_port()),
        "CG_ADMIN_PORT": str(free_port()),
    }
    return environ | changes


def exec_start(unit: str) -> list[str]:
    """The last ``ExecStart=`` of ``unit`` (a drop-in clears, then sets it), as a command."""
    line = [x for x in unit.splitlines() if x.startswith("ExecStart=") and x != "ExecStart="][-1]
    command = line.removeprefix("ExecStart=").split()
    assert command[0] == INSTALLED
    return [CONSOLE_SCRIPT, *command[1:]]


def test_systemd_accepts_the_unit_and_the_drop_in(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail(
            "systemd-analyze is missing: scripts/test installs it (apt-get install systemd)."
        )
    unit, drop_in = blocks("ini")
    path = tmp_path / "consent-gateway.service"
    path.write_text(unit.replace(INSTALLED, CONSOLE_SCRIPT))
    (tmp_path / "consent-gateway.service.d").mkdir()
    (tmp_path / "consent-gateway.service.d" / "override.conf").write_text(
        drop_in.replace(INSTALLED, CONSOLE_SCRIPT)
    )
    checked = subprocess.run(
        [analyze, "verify", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
    )
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    assert "TimeoutStopSec=30" in unit and "EnvironmentFile=/etc/consent-gateway/env" in unit


def test_the_unit_is_hardened(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "scripts/test installs systemd-analyze (apt-get install systemd)"
    path = tmp_path / "consent-gateway.service"
    path.write_text(blocks("ini")[0].replace(INSTALLED, CONSOLE_SCRIPT))
    # systemd's own rating, 0 (locked down) to 10 (unsafe), times ten: at most 3.0, "OK".
    rated = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=30", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
    )
    assert rated.returncode == 0, rated.stdout[-600:]
    assert "ProtectSystem=strict" in path.read_text()


def test_the_four_worker_drop_in_needs_the_documented_server_dsn(tmp_path: Path) -> None:
    command = exec_start(blocks("ini")[1])
    assert command[-2:] == ["--workers", "4"]  # refused on the embedded engine: test_workers.py
    (dsn_line,) = next(b for b in blocks("sh") if b.startswith("CG_CLICKHOUSE_DSN=")).split()
    name, _, dsn = dsn_line.partition("=")
    assert name == "CG_CLICKHOUSE_DSN" and dsn.startswith("http://")
    closed = dsn.replace("clickhouse.internal:8123", f"127.0.0.1:{free_port()}")
    accepted = subprocess.run(
        command,
        env=environment(tmp_path, CG_CLICKHOUSE_DSN=closed),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Past the workers check, it stops where no ClickHouse server answers.
    assert "4 workers" in accepted.stdout, accepted.stderr
    assert "needs a ClickHouse server" not in accepted.stderr
    assert accepted.returncode == 1 and "CG_CLICKHOUSE_DSN" in accepted.stderr


@pytest.mark.slow  # a new embedded engine, its migrations, then `migrate` again: about 10 s
def test_the_single_worker_unit_serves_on_the_embedded_engine_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    command = exec_start(blocks("ini")[0])
    with run_server(create_upstream()) as upstream:
        environ = environment(tmp_path, upstream)
        errors = serve_then_stop(command, environ)
    assert "Traceback" not in errors
    assert '"level": "info"' in errors  # CG_LOG_FORMAT=json, from the environment file

    # The upgrade's migrate step, on the stopped gateway's folder, with the file as written.
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in environ.items() if k.startswith("CG_")))
    upgrade = DOC.read_text().split("## Installing and upgrading\n", 1)[1].split("\n## ")[0]
    (line,) = [x for x in upgrade.splitlines() if x.startswith("sudo -u consent-gateway ")]
    command = line.split("#")[0].removeprefix("sudo -u consent-gateway ").split()
    assert command[:2] == [".venv/bin/consent-gateway", "migrate"]
    command = [CONSOLE_SCRIPT, "migrate", *command[2:]]
    command[command.index("/etc/consent-gateway/env")] = str(env_file)
    path_only = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    migrated = subprocess.run(
        command, env=path_only, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "Traceback" not in migrated.stderr


def serve_then_stop(command: list[str], environ: dict[str, str]) -> str:
    """Start ``command``, wait until it is ready and serves a page, SIGTERM it; its log."""
    folder = Path(environ["CG_DATA_DIR"])
    admin, public = (f"http://127.0.0.1:{environ[name]}" for name in ("CG_ADMIN_PORT", "CG_PORT"))
    with (folder / "stderr.log").open("w+") as log:
        process = subprocess.Popen(
            command, env=environ, cwd=folder, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            deadline = time.monotonic() + 90
            # readyz answers on the admin listener a moment before the public one listens.
            while (page := fetch(f"{public}/echo/through")) is None or not ready(admin):
                assert process.poll() is None, "the gateway stopped"
                assert time.monotonic() < deadline, "the gateway did not become ready"
                time.sleep(0.2)
            assert page.status_code == 200 and page.json()["path"] == "/echo/through"
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)  # the unit's TimeoutStopSec
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
        log.seek(0)
        errors = log.read()
    assert process.returncode == 0, errors
    return errors


def fetch(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, headers={"host": "127.0.0.1"})
    except httpx.TransportError:
        return None


def ready(admin: str) -> bool:
    answer = fetch(f"{admin}/_consent/readyz")
    return answer is not None and answer.status_code == 200
