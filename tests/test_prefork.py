"""The worker supervisor of ``serve --workers``, with real processes on a shared socket.

The gateway itself needs a ClickHouse server for several workers, and none
runs in the tests, so the supervisor runs a small site instead
(``tests/prefork_site.py``): the same ``bind``, ``supervise`` and ``serve_all``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_for_line(process: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert process.stderr is not None
    for line in process.stderr:
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"the supervisor ended without logging {pattern!r}")


def answer(url: str) -> int:
    """The pid of the worker that answers a request on a new connection."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(httpx.get(url, headers={"connection": "close"}).text)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_workers_share_the_port_are_replaced_and_stop_on_sigterm() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.prefork_site", str(port), "2"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listed = wait_for_line(process, r"supervising 2 workers: \[(\d+), (\d+)\]")
        workers = {int(listed.group(1)), int(listed.group(2))}
        assert process.pid not in workers
        first = answer(url)
        assert first in workers  # a worker answers on the port the supervisor bound

        os.kill(first, signal.SIGKILL)  # a worker dies: another takes its place
        replaced = wait_for_line(process, r"worker \d is now pid (\d+)")
        new = int(replaced.group(1))
        assert new not in workers
        survivors = (workers - {first}) | {new}
        for _ in range(10):
            assert answer(url) in survivors

        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        for pid in survivors:  # every worker is gone, none left behind
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            raise AssertionError(f"worker {pid} outlived the supervisor")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
