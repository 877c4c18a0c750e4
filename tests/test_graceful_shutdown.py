"""SIGTERM to a real ``consent-gateway serve``: the request in flight completes, queued events land.

It logs in JSON (``CG_LOG_FORMAT=json``), so the same run shows that every line a real
``serve`` writes, uvicorn's too, is a JSON object.

The gateway runs as its own process on the embedded ClickHouse, with a flush
interval of an hour, so every event is still queued when the signal comes. The
upstream holds one request until the gateway says it is shutting down, then
answers. Afterwards another process opens the data folder and reads the rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.analytics_helpers import FIREFOX
from tests.conftest import TEST_KEY
from tests.servers import free_port, run_server

BROWSER = {
    "user-agent": FIREFOX,
    "accept": "text/html,application/xhtml+xml",
    "sec-fetch-dest": "document",
    "sec-fetch-site": "same-origin",
}
SLOW_PAGE = "<!doctype html><title>slow</title><p>" + "x" * 50_000


class SlowUpstream:
    """A site whose /slow page waits for ``release`` after telling ``arrived``."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    def app(self) -> Starlette:
        async def home(request: Request) -> HTMLResponse:
            return HTMLResponse("<!doctype html><title>home</title><p>home")

        async def slow(request: Request) -> HTMLResponse:
            self.arrived.set()
            for _ in range(600):  # at most a minute, so a failing test cannot hang
                if self.release.is_set():
                    break
                await asyncio.sleep(0.1)
            return HTMLResponse(SLOW_PAGE)

        return Starlette(routes=[Route("/", home), Route("/slow", slow)])


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, SlowUpstream]]:
    upstream = SlowUpstream()
    with run_server(upstream.app()) as upstream_url:
        port, admin_port = free_port(), free_port()
        env = {
            "PATH": os.environ["PATH"],
            "CG_UPSTREAM": upstream_url,
            "CG_SECRET_KEY": TEST_KEY,
            "CG_DATA_DIR": str(tmp_path),
            "CG_GEOLOCATION": "off",
            "CG_FLUSH_INTERVAL": "3600",
            "CG_FLUSH_BATCH_SIZE": "1000000",
            "CG_QUEUE_MAX_EVENTS": "1000000",
            "CG_LOG_FORMAT": "json",
        }
        command = [sys.executable, "-m", "gateway", "serve", "--env-file", ""]
        command += ["--host", "127.0.0.1", "--port", str(port), "--admin-port", str(admin_port)]
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    # Ready on the admin port, and the public port listening (it binds
                    # just after the start-up that readyz waits for).
                    ready = httpx.get(f"http://127.0.0.1:{admin_port}/_consent/readyz")
                    if ready.status_code == 200:
                        httpx.get(f"http://127.0.0.1:{port}/_consent/state")
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway did not start: {process.stderr.read()}")  # type: ignore[union-attr]
                time.sleep(0.1)
            yield process, f"http://127.0.0.1:{port}", upstream
        finally:
            upstream.release.set()
            if process.poll() is None:
                process.kill()
            process.wait(30)


def stored_paths(data_dir: Path) -> list[str]:
    """The paths of the stored events, read by a process of its own (chdb: one folder each)."""
    code = (
        "import sys\n"
        "from gateway.storage import Storage, embedded_dsn\n"
        "client = Storage(embedded_dsn(sys.argv[1])).connect()\n"
        "rows = client.query('SELECT path FROM events ORDER BY time').result_rows\n"
        "print('\\n'.join(row[0] for row in rows))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.split()


def test_sigterm_drains_the_request_in_flight_and_flushes_queued_events(
    gateway_process: tuple[subprocess.Popen[str], str, SlowUpstream], tmp_path: Path
) -> None:
    process, url, upstream = gateway_process
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True)
    reader.start()

    with httpx.Client(base_url=url, headers=BROWSER) as client:
        token = client.get("/_consent/state").json()["csrf"]
        accepted = client.post(
            "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
        )
        assert accepted.status_code == 200
        assert client.get("/").status_code == 200  # a page view, queued (flush: hourly)
        cookies = dict(client.cookies)

    answers: list[httpx.Response] = []

    def slow_visit() -> None:
        with httpx.Client(base_url=url, headers=BROWSER, cookies=cookies, timeout=60) as visitor:
            answers.append(visitor.get("/slow"))

    visit = threading.Thread(target=slow_visit)
    visit.start()
    assert upstream.arrived.wait(30), "the slow request never reached the upstream"

    process.send_signal(signal.SIGTERM)
    # Let the upstream answer only once the gateway is shutting down.
    seen = []
    while True:
        line = lines.get(timeout=30)
        seen.append(line)
        if "Shutting down" in line:
            break
    upstream.release.set()

    visit.join(60)
    assert process.wait(60) == 0, "".join(seen)
    # Every line the gateway logged, uvicorn's included, is one JSON object.
    reader.join(30)  # the process is gone: its stderr is at its end
    while not lines.empty():
        seen.append(lines.get())
    records = []
    for line in seen:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    assert {"uvicorn.error", "gateway.storage"} <= {record["logger"] for record in records}
    assert len(answers) == 1
    assert answers[0].status_code == 200
    # The whole body, not cut off (the banner may have been added to its head).
    assert answers[0].text.endswith(SLOW_PAGE.split("<title>")[1])
    # Both page views, the one queued before the signal and the one recorded while
    # draining, were written at shutdown; nothing was left in the spool.
    assert stored_paths(tmp_path) == ["/", "/slow"]
    spool = list((tmp_path / "spool").glob("*.spool"))
    assert all(path.stat().st_size == 0 for path in spool)
