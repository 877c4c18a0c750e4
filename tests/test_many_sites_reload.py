"""``consent-gateway serve`` reloads its sites file on SIGHUP, in a real process.

A broken file keeps the sites in service and logs why in one line; a good one adds a
site and changes another while the visitors' connections and requests carry on. The
supervisor of ``serve --workers`` passes SIGHUP on, and a gateway without a sites file
is not stopped by one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.gateway_process import GatewayProcess
from tests.servers import run_server
from tests.test_many_sites import COLLEGE, PRIMARY, school_site

PRIMARY_ONLY = """
[sites.primary]
hosts = ["{host}"]
upstream = "{upstream}"
"""
WITH_COLLEGE = """
[sites.college]
hosts = ["{host}"]
upstream = "{upstream}"
cookie_rules = "{rules}"
"""


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(0.1)


@pytest.mark.slow
def test_sighup_reloads_the_sites_file_and_a_broken_one_keeps_the_sites_in_service(
    tmp_path: Path,
) -> None:
    with (
        run_server(school_site("Primary")) as primary,
        run_server(school_site("College")) as college,
    ):
        path = tmp_path / "sites.toml"
        first = PRIMARY_ONLY.format(host=PRIMARY, upstream=primary)
        path.write_text(first)
        gateway = GatewayProcess("", tmp_path, sites_file=str(path))
        del gateway.env["CG_UPSTREAM"]  # each site names its own
        gateway.stderr = log = tmp_path / "gateway.log"
        gateway.start()
        try:
            visitor = httpx.Client(base_url=gateway.url, timeout=10)  # one kept-alive connection

            def site_of(host: str) -> str | int:
                answer = visitor.get("/sent", headers={"host": host})
                return answer.json()["site"] if answer.status_code == 200 else answer.status_code

            def public_listening() -> bool:
                try:
                    return site_of(PRIMARY) == "Primary"
                except httpx.TransportError:  # the admin listener answers first
                    return False

            wait_for(public_listening, "the public listener", timeout=60)
            assert site_of(PRIMARY) == "Primary" and site_of(COLLEGE) == 400
            assert gateway.process is not None

            broken = WITH_COLLEGE.format(host=COLLEGE, upstream=college, rules="no category")
            path.write_text(first + broken)
            gateway.process.send_signal(signal.SIGHUP)
            wait_for(lambda: "not reloaded" in log.read_text(), "the reload's refusal logged")
            line = next(x for x in log.read_text().splitlines() if "not reloaded" in x)
            assert "[sites.college] cookie_rules" in line and "name=category" in line
            assert site_of(PRIMARY) == "Primary" and site_of(COLLEGE) == 400

            def cart_passes() -> bool:
                answer = visitor.get("/cart", headers={"host": PRIMARY})
                return "_shop_cart" in " ".join(answer.headers.get_list("set-cookie"))

            assert not cart_passes()  # no rule: _shop_cart is marketing
            # The primary school's rules change and the college joins, while a request to
            # the primary school is in flight on a connection of its own.
            in_flight: list[httpx.Response] = []
            slow = threading.Thread(
                target=lambda: in_flight.append(
                    httpx.get(f"{gateway.url}/slow?seconds=2", headers={"host": PRIMARY})
                )
            )
            slow.start()
            time.sleep(0.5)
            good = WITH_COLLEGE.format(host=COLLEGE, upstream=college, rules="_shop_*=necessary")
            path.write_text(first + 'cookie_rules = "_shop_*=necessary"\n' + good)
            gateway.process.send_signal(signal.SIGHUP)
            wait_for(lambda: site_of(COLLEGE) == "College", "the college site served")
            assert site_of(PRIMARY) == "Primary" and cart_passes()
            slow.join(10)
            assert [(r.status_code, r.text) for r in in_flight] == [(200, "Primary")]
            assert gateway.ready() is not None  # the admin listener never went away
            visitor.close()
        finally:
            assert gateway.stop() == 0


SUPERVISED = """
import os, signal, sys, time
from pathlib import Path
from gateway.workers import supervise

folder = Path(sys.argv[1])

def worker(number: int) -> int:
    signal.signal(signal.SIGHUP, lambda *_: (folder / f"hup-{os.getpid()}").touch())
    (folder / f"ready-{os.getpid()}").touch()
    while True:
        time.sleep(0.05)

sys.exit(supervise(2, worker))
"""


def test_the_supervisor_of_serve_workers_passes_sighup_on_to_every_worker(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen([sys.executable, "-c", SUPERVISED, str(tmp_path)])
    try:
        wait_for(lambda: len(list(tmp_path.glob("ready-*"))) == 2, "two workers")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(list(tmp_path.glob("hup-*"))) == 2, "SIGHUP in both workers")
        assert process.poll() is None  # the supervisor itself goes on
        workers = {path.name.split("-")[1] for path in tmp_path.glob("ready-*")}
        assert {path.name.split("-")[1] for path in tmp_path.glob("hup-*")} == workers
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


@pytest.mark.slow
def test_sighup_does_not_stop_a_gateway_without_a_sites_file(tmp_path: Path) -> None:
    with run_server(school_site("Primary")) as primary:
        gateway = GatewayProcess(primary, tmp_path)
        gateway.stderr = log = tmp_path / "gateway.log"
        gateway.start()
        try:

            def answers() -> bool:
                try:
                    return httpx.get(f"{gateway.url}/sent", timeout=5).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(answers, "the public listener", timeout=60)
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGHUP)
            wait_for(lambda: "nothing reloaded" in log.read_text(), "the SIGHUP noted")
            assert answers() and gateway.process.poll() is None
        finally:
            assert gateway.stop() == 0


def test_serve_stops_on_a_bad_sites_file_with_the_site_the_key_and_the_fix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(
        PRIMARY_ONLY.format(host=PRIMARY, upstream="http://127.0.0.1:9")
        + WITH_COLLEGE.format(host=COLLEGE, upstream="http://127.0.0.1:9", rules="no category")
    )
    gateway = GatewayProcess("", tmp_path, sites_file=str(path))
    del gateway.env["CG_UPSTREAM"]
    command = [sys.executable, "-m", "gateway", "serve", "--env-file", "", "--port", "1"]
    result = subprocess.run(
        command, env=gateway.env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"consent-gateway: {path}: [sites.college] cookie_rules ")
    assert "name=category pairs" in result.stderr and "Traceback" not in result.stderr
