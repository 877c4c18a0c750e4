"""A real ``consent-gateway serve`` process on a data folder, for the fault tests.

It can be killed (SIGKILL) and started again on the same folder, as a crash
and a restart would do, and its stored rows are read afterwards by a process
of their own (chdb opens one data folder per process). Beacon load with
unique event ids comes from :class:`BeaconLoad`, which remembers exactly which
events the gateway acknowledged (202).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from itsdangerous import TimestampSigner

from tests.analytics_helpers import FIREFOX
from tests.conftest import TEST_KEY
from tests.servers import free_port


class GatewayProcess:
    """One ``consent-gateway serve`` subprocess; :meth:`start` may be called again after a kill."""

    def __init__(self, upstream: str, data_dir: Path, **settings: str) -> None:
        self.data_dir = data_dir
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(data_dir)),
            # A checkout run with PYTHONPATH (a second work tree) serves its own code.
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "CG_UPSTREAM": upstream,
            "CG_SECRET_KEY": TEST_KEY,
            "CG_DATA_DIR": str(data_dir),
            "CG_GEOLOCATION": "off",
            "CG_RATE_LIMIT_BEACON": "off",
            **{f"CG_{key.upper()}": value for key, value in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.url = self.admin = ""
        self.stderr: Path | None = None  # where the process's log goes, when set

    def start(self, timeout: float = 90) -> None:
        port, admin_port = free_port(), free_port()
        self.url, self.admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
        command = [sys.executable, "-m", "gateway", "serve", "--env-file", ""]
        command += ["--host", "127.0.0.1", "--port", str(port), "--admin-port", str(admin_port)]
        command += ["--log-level", "warning"]
        log = self.stderr.open("ab") if self.stderr else None
        self.process = subprocess.Popen(
            command, env=self.env, cwd=self.data_dir, stdout=subprocess.DEVNULL, stderr=log
        )
        if log is not None:
            log.close()  # the process has its own copy
        deadline = time.monotonic() + timeout
        while self.ready() is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start (exit {self.process.poll()})")
            time.sleep(0.1)

    def ready(self) -> dict[str, Any] | None:
        """The admin listener's readiness report, or ``None`` while it does not answer."""
        try:
            response = httpx.get(self.admin + "/_consent/readyz", timeout=5)
        except httpx.TransportError:
            return None
        data: dict[str, Any] = response.json()
        return data

    def wait_until_written(self, timeout: float = 180) -> None:
        """Until nothing is queued or spooled: everything accepted is in ClickHouse."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.ready()
            if report and report["events"] == {"queued": 0, "spooled": 0}:
                return
            time.sleep(0.2)
        raise AssertionError(f"events still waiting after {timeout} s: {self.ready()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash or the OOM killer would do."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM and wait: the graceful shutdown flushes the writer."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def query(self, sql: str) -> list[list[Any]]:
        """Rows of ``sql`` on the stopped gateway's embedded ClickHouse."""
        assert self.process is None or self.process.poll() is not None
        code = (
            "import json, sys\n"
            "from gateway.storage import Storage, embedded_dsn\n"
            "client = Storage(embedded_dsn(sys.argv[1])).connect()\n"
            "print(json.dumps(client.query(sys.argv[2]).result_rows, default=str))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(self.data_dir), sql],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        rows: list[list[Any]] = json.loads(result.stdout.strip().splitlines()[-1])
        return rows


@contextmanager
def gateway_process(upstream: str, data_dir: Path, **settings: str) -> Iterator[GatewayProcess]:
    """A started :class:`GatewayProcess`, killed at the end if a test left it running."""
    gateway = GatewayProcess(upstream, data_dir, **settings)
    gateway.start()
    try:
        yield gateway
    finally:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait(30)


def consent_cookie() -> str:
    """A visitor who accepted analytics, signed as the gateway signs it."""
    signer = TimestampSigner(TEST_KEY, salt="cg.consent", digest_method=hashlib.sha256)
    return "cg_consent=" + signer.sign("fault-visitor~1~analytics").decode()


class BeaconLoad:
    """Threads that send beacons of uniquely numbered events and note which were accepted."""

    def __init__(self, run: str, threads: int = 2, per_beacon: int = 5) -> None:
        self.run = run
        self.per_beacon = per_beacon
        self.accepted: set[str] = set()
        self.attempted: set[str] = set()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._in_flight = 0
        self._go = threading.Event()
        self._stop = threading.Event()
        self.url = ""
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def resume(self, url: str) -> None:
        self.url = url
        self._go.set()

    def pause(self) -> None:
        """Stop sending and wait for the requests in flight to finish."""
        self._go.clear()
        while self._in_flight:
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        self._go.set()
        for thread in self._threads:
            thread.join(30)

    def wait_for(self, accepted: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < accepted:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.accepted)} events accepted: {self.failures}")
            time.sleep(0.05)

    def _ids(self) -> list[str]:
        with self._lock:
            self._counter += 1
            number = self._counter
        return [f"{self.run}-{number}-{k}" for k in range(self.per_beacon)]

    def _loop(self) -> None:
        headers = {"user-agent": FIREFOX, "cookie": consent_cookie()}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                self._go.wait()
                if self._stop.is_set():
                    return
                with self._lock:
                    self._in_flight += 1
                try:
                    self._send(client, headers)
                finally:
                    with self._lock:
                        self._in_flight -= 1

    def _send(self, client: httpx.Client, headers: dict[str, str]) -> None:
        if not self._go.is_set():
            return  # paused between the wait and the count
        ids = self._ids()
        events = [
            {"type": "custom", "path": "/fault", "name": "fault", "props": {"id": i}} for i in ids
        ]
        with self._lock:
            self.attempted.update(ids)
        try:
            response = client.post(
                self.url + "/_consent/collect", json={"events": events}, headers=headers
            )
        except httpx.TransportError as error:
            self.failures.append(type(error).__name__)
            time.sleep(0.05)
            return
        if response.status_code == 202:
            with self._lock:
                self.accepted.update(ids)
        else:
            self.failures.append(f"{response.status_code} {response.text[:200]}")


STORED_IDS = (
    "SELECT props['id'] AS id, count() AS copies FROM events WHERE name = 'fault' GROUP BY id"
)
