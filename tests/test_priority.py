"""The serving process keeps its event loop first for the CPU (``gateway/ops/priority.py``).

A real ``consent-gateway serve`` under beacon load, so the event writer and the
embedded engine's threads exist and work: every thread but the event loop's
reaches ``CG_BACKGROUND_NICE``, the loop's stays at 0, and every acknowledged
event is still stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.demo.site import create_demo_site
from tests.gateway_process import STORED_IDS, BeaconLoad, gateway_process
from tests.servers import run_server

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux only")


@pytest.fixture
def site() -> Iterator[str]:
    with run_server(create_demo_site()) as url:
        yield url


def niceness(pid: int) -> dict[int, int]:
    """Each live thread of ``pid`` and its nice value."""
    found = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        try:
            found[int(name)] = os.getpriority(os.PRIO_PROCESS, int(name))
        except OSError:
            continue  # the thread ended meanwhile
    return found


def test_every_thread_but_the_event_loop_runs_at_the_background_niceness(
    site: str, tmp_path: Path
) -> None:
    load = BeaconLoad("nice")
    try:
        with gateway_process(site, tmp_path, flush_interval="0.2", background_nice="7") as gateway:
            assert gateway.process is not None
            pid = gateway.process.pid
            load.resume(gateway.url)
            load.wait_for(200)  # the writer has inserted: the engine's threads exist
            deadline = time.monotonic() + 10
            threads = niceness(pid)
            while time.monotonic() < deadline:
                threads = niceness(pid)
                others = {tid: nice for tid, nice in threads.items() if tid != pid}
                if len(others) >= 3 and set(others.values()) == {7}:
                    break
                time.sleep(0.2)
            load.pause()
            gateway.wait_until_written()
            assert gateway.stop() == 0
            stored = {str(row[0]) for row in gateway.query(STORED_IDS)}
    finally:
        load.close()
    assert threads[pid] == 0, "the event loop's thread must keep the normal priority"
    others = {tid: nice for tid, nice in threads.items() if tid != pid}
    assert len(others) >= 3, others  # writers and engine threads, not just the loop
    assert set(others.values()) == {7}, others
    assert set(load.accepted) <= stored
