"""The gateway killed with SIGKILL under load and started again on the same data folder.

Real processes throughout: ``consent-gateway serve`` on an embedded ClickHouse
folder, a real upstream, beacons over loopback. What lands in ClickHouse is
read afterwards by a process of its own.

What is shown: no event is ever stored twice (journal files and spooled
batches keep their deduplication tokens across the restart); every event the
gateway acknowledged survives the kill, including those still in the writer's
memory queue (they were journalled before the 202); the restarted gateway
serves at once and writes what the dead one left without help.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.demo.site import create_demo_site
from tests.gateway_process import STORED_IDS, BeaconLoad, GatewayProcess, gateway_process
from tests.servers import run_server

pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> Iterator[str]:
    with run_server(create_demo_site()) as url:
        yield url


def stored(gateway: GatewayProcess) -> dict[str, int]:
    return {str(row[0]): int(row[1]) for row in gateway.query(STORED_IDS)}


def test_sigkill_mid_load_then_restart_stores_each_acknowledged_event_exactly_once(
    site: str, tmp_path: Path
) -> None:
    load = BeaconLoad("kill")
    try:
        with gateway_process(site, tmp_path, flush_interval="0.3") as gateway:
            load.resume(gateway.url)
            load.wait_for(300)
            # A point where everything acknowledged so far is durable.
            load.pause()
            gateway.wait_until_written()
            durable = set(load.accepted)
            load.resume(gateway.url)
            load.wait_for(len(durable) + 300)
            gateway.kill()  # mid-load: requests are in flight
            load.pause()
            before_kill = set(load.accepted)

            gateway.start()  # the same data folder: the spool is replayed
            load.resume(gateway.url)
            load.wait_for(len(before_kill) + 200)
            load.pause()
            after_restart = set(load.accepted) - before_kill
            assert gateway.stop() == 0
    finally:
        load.close()

    copies = stored(gateway)
    assert copies, "nothing stored: the checks below would prove nothing"
    assert max(copies.values()) == 1, "an event was stored twice"
    assert durable <= copies.keys(), "events that were written before the kill were lost"
    assert before_kill <= copies.keys(), "events acknowledged before the kill were lost"
    assert after_restart <= copies.keys()
    assert copies.keys() <= load.attempted, "rows no visitor sent"


def test_sigkill_loses_no_acknowledged_event(site: str, tmp_path: Path) -> None:
    load = BeaconLoad("queued", threads=1)
    try:
        # The writer never wakes on its own: every acknowledged event is still queued.
        with gateway_process(
            site, tmp_path, flush_interval="3600", flush_batch_size="1000000"
        ) as gateway:
            load.resume(gateway.url)
            load.wait_for(50)
            load.pause()
            gateway.kill()
            gateway.start()
            assert gateway.stop() == 0
    finally:
        load.close()
    assert load.accepted <= stored(gateway).keys()
