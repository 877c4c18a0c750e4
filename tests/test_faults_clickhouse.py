"""ClickHouse failing under a running gateway, and missing at start-up.

There is no ClickHouse server on this machine, only the embedded engine, which
lives inside the gateway's process. So the outage is made where it is real:
the engine itself loses the ``events`` table (``DETACH TABLE``, as a dropped
disk or a broken part would make it refuse inserts) while a real gateway serves
beacons over real sockets, and gets it back later (``ATTACH TABLE``). The
writer must spool, answer every visitor at once, and replay by itself. The
outage lasts a few seconds by default and a minute with ``--fuzz-long``.

At start-up, an ``http://`` DSN to a port where nothing listens is a real
unreachable server: ``serve`` must stop with a message naming the setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.storage import Storage
from tests.conftest import TEST_KEY, make_settings
from tests.gateway_process import STORED_IDS, BeaconLoad
from tests.servers import free_port, run_gateway

pytestmark = pytest.mark.slow


def readiness(admin: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(admin + "/_consent/readyz", timeout=10).json()
    return data


def wait_for(admin: str, done: Any, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = readiness(admin)
        if done(report):
            return report
        time.sleep(0.2)
    raise AssertionError(f"not reached in {timeout} s: {readiness(admin)}")


def change_consent(public: str) -> int:
    with httpx.Client(base_url=public, headers={"sec-fetch-site": "same-origin"}) as browser:
        token = browser.get("/_consent/state").json()["csrf"]
        response = browser.post(
            "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
        )
        return response.status_code


def test_an_outage_under_load_is_spooled_and_replayed_exactly_once(
    demo_site: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    outage_seconds = 60.0 if request.config.getoption("--fuzz-long") else 3.0
    settings = make_settings(demo_site, tmp_path, flush_interval=0.2, rate_limit_beacon="off")
    engine = Storage(settings.clickhouse_dsn).connect()
    load = BeaconLoad("outage")
    try:
        with run_gateway(settings) as (public, admin):
            load.resume(public)
            load.wait_for(100)
            engine.command("DETACH TABLE events")
            try:
                outage_ends = time.monotonic() + outage_seconds
                while time.monotonic() < outage_ends:
                    assert change_consent(public) == 200
                    time.sleep(0.2)
                report = wait_for(admin, lambda r: r["events"]["spooled"] > 0, timeout=60)
                assert report["status"] == "degraded"
            finally:
                engine.command("ATTACH TABLE events")
            load.wait_for(len(load.accepted) + 100)
            load.pause()
            wait_for(admin, lambda r: r["events"] == {"queued": 0, "spooled": 0})
            assert readiness(admin)["status"] == "ready"
    finally:
        load.close()

    assert load.failures == [], "a request failed or hung during the outage"
    copies = {str(row[0]): int(row[1]) for row in engine.query(STORED_IDS).result_rows}
    assert copies.keys() == load.accepted
    assert max(copies.values()) == 1


def test_serve_stops_at_start_up_when_clickhouse_is_unreachable(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/analytics"
    env = {
        "PATH": os.environ["PATH"],
        "CG_UPSTREAM": "http://127.0.0.1:9",
        "CG_SECRET_KEY": TEST_KEY,
        "CG_DATA_DIR": str(tmp_path),
        "CG_GEOLOCATION": "off",
        "CG_CLICKHOUSE_DSN": dead,
    }
    command = [sys.executable, "-m", "gateway", "serve", "--env-file", ""]
    command += ["--host", "127.0.0.1", "--port", str(free_port())]
    command += ["--admin-port", str(free_port())]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "CG_CLICKHOUSE_DSN" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
