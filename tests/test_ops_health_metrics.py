"""Health endpoints and Prometheus metrics, through a real gateway and its admin listener."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.analytics.pageviews import BATCH_SECONDS
from gateway.analytics.steps import DropReason
from gateway.app import create_gateway
from gateway.cli import COMMANDS
from gateway.histograms import Buckets, cumulative
from gateway.ops.health import CHECK_TIMEOUT
from gateway.ops.metrics import merge
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import free_port, run_gateway, run_raw_server, run_server
from tests.test_upstream_client import self_signed
from tests.upstreams import create_upstream

BROWSER = {
    "user-agent": FIREFOX,
    "accept": "text/html,application/xhtml+xml",
    "sec-fetch-dest": "document",
    "sec-fetch-site": "same-origin",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_health_answers_on_admin_only_by_default(demo_site: str, tmp_path: Path) -> None:
    with run_gateway(make_settings(demo_site, tmp_path)) as (public, admin):
        assert httpx.get(f"{admin}/_consent/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{admin}/_consent/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["checks"]["upstream"]["ok"] is True
        assert body["checks"]["clickhouse"] == {"ok": True}
        assert body["events"] == {"queued": 0, "spooled": 0}
        # Not on the public port: there the reserved prefix answers 404 in the error shape.
        missing = httpx.get(f"{public}/_consent/healthz")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"


def test_public_health_by_setting(demo_site: str, tmp_path: Path) -> None:
    with run_gateway(make_settings(demo_site, tmp_path, public_health="on")) as (public, _):
        assert httpx.get(f"{public}/_consent/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{public}/_consent/readyz").json()["status"] == "ready"


def test_readyz_is_503_when_the_upstream_is_down(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with run_gateway(make_settings(dead, tmp_path, connect_timeout=1)) as (_, admin):
        assert httpx.get(f"{admin}/_consent/healthz").status_code == 200
        ready = httpx.get(f"{admin}/_consent/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["checks"]["upstream"]["ok"] is False


async def _answers_500(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
) -> None:
    seen.append(await reader.readuntil(b"\r\n\r\n"))
    writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\n")
    await writer.drain()
    with contextlib.suppress(ConnectionError):
        await reader.read()


def test_readyz_sends_head_under_the_base_path_and_any_status_answers(tmp_path: Path) -> None:
    with run_raw_server(_answers_500) as (upstream, seen):
        with run_gateway(make_settings(upstream + "/app", tmp_path)) as (_, admin):
            ready = httpx.get(f"{admin}/_consent/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"]["upstream"] == {"ok": True, "status": 500}
    host = upstream.removeprefix("http://").encode()
    assert seen == [b"HEAD /app/ HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"]


async def _silent(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
) -> None:
    seen.append(await reader.readuntil(b"\r\n\r\n"))
    with contextlib.suppress(ConnectionError):
        await reader.read()
    seen.append(b"closed")


def test_readyz_gives_up_on_an_upstream_that_never_answers(tmp_path: Path) -> None:
    with run_raw_server(_silent) as (upstream, seen):
        with run_gateway(make_settings(upstream, tmp_path)) as (_, admin):
            started = time.monotonic()
            ready = httpx.get(f"{admin}/_consent/readyz", timeout=30)
            took = time.monotonic() - started
            deadline = time.monotonic() + 5
            while b"closed" not in seen and time.monotonic() < deadline:
                time.sleep(0.02)
    assert ready.status_code == 503
    assert ready.json()["checks"]["upstream"] == {"ok": False, "detail": "TimeoutError"}
    assert took < CHECK_TIMEOUT + 3
    assert b"closed" in seen  # the probe's connection is closed, not left to linger


def test_readyz_verifies_an_https_upstream_as_the_proxy_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = self_signed(tmp_path)
    tls = {"ssl_keyfile": str(key), "ssl_certfile": str(cert)}
    with run_server(create_upstream(), **tls) as url:
        secure = url.replace("http://", "https://")
        with run_gateway(make_settings(secure, tmp_path)) as (_, admin):
            unknown = httpx.get(f"{admin}/_consent/readyz", timeout=10)
        # The operator's own CA, the way OpenSSL reads it from the environment.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with run_gateway(make_settings(secure, tmp_path)) as (_, admin):
            known = httpx.get(f"{admin}/_consent/readyz", timeout=10)
    assert unknown.status_code == 503
    assert unknown.json()["checks"]["upstream"] == {"ok": False, "detail": "UpstreamUnreachable"}
    assert known.status_code == 200
    assert known.json()["checks"]["upstream"] == {"ok": True, "status": 404}


def test_metrics_count_responses_latency_events_and_consent(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path, flush_interval=3600)
    with run_gateway(settings) as (public, admin):
        with httpx.Client(base_url=public, headers=BROWSER) as client:
            assert client.get("/").status_code == 200  # no consent yet: dropped, no_consent
            assert client.get("/no-such-page").status_code == 404
            token = client.get("/_consent/state").json()["csrf"]
            client.post(
                "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
            )
            for _ in range(3):
                assert client.get("/").status_code == 200
            # A crawler with consent cookies is still a bot.
            client.get("/", headers={"user-agent": "Googlebot/2.1 (+http://www.google.com/bot)"})
        # Page views meet the ingest steps in batches, a tenth of a second after their
        # response: scrape until the last of them (the crawler's) has been dropped.
        deadline = time.monotonic() + 10
        while True:
            page = httpx.get(f"{admin}/metrics")
            assert page.status_code == 200
            found = samples(page.text)
            bots = found[("cg_events_dropped_total", (("reason", "bot"),))]
            if bots or time.monotonic() > deadline:
                break
            time.sleep(BATCH_SECONDS)
        assert page.headers["content-type"].startswith("text/plain; version=0.0.4")

    assert found[("cg_http_responses_total", (("route", "proxy"), ("status", "200")))] == 5
    assert found[("cg_http_responses_total", (("route", "proxy"), ("status", "404")))] == 1
    assert found[("cg_http_responses_total", (("route", "own"), ("status", "200")))] == 2
    assert found[("cg_upstream_latency_seconds_count", ())] == 6
    assert found[("cg_upstream_latency_seconds_bucket", (("le", "+Inf"),))] == 6
    assert found[("cg_upstream_latency_seconds_sum", ())] > 0
    assert found[("cg_events_accepted_total", ())] == 3
    assert found[("cg_events_dropped_total", (("reason", "no_consent"),))] == 1
    assert found[("cg_events_dropped_total", (("reason", "bot"),))] == 1
    for reason in DropReason:  # every reason is exported, even at zero
        assert ("cg_events_dropped_total", (("reason", reason.value),)) in found
    assert found[("cg_writer_queue_events", ())] == 3  # flush interval: an hour
    assert found[("cg_spool_events", ())] == 0
    assert found[("cg_writer_events_total", (("outcome", "written"),))] == 0
    assert found[("cg_http_requests_in_flight", ())] == 0
    assert found[("cg_processes", ())] == 1
    assert found[("cg_consent_outcomes_total", (("outcome", "shown"),))] == 1
    assert found[("cg_consent_outcomes_total", (("outcome", "accept_all"),))] == 1
    assert found[("cg_consent_outcomes_total", (("outcome", "reject_all"),))] == 0


def test_writer_batch_sizes_after_a_flush(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path, flush_interval=3600)
    public_app, admin_app = create_gateway(settings, COMMANDS)
    with run_server(public_app) as public, run_server(admin_app) as admin:
        with httpx.Client(base_url=public, headers=BROWSER) as client:
            token = client.get("/_consent/state").json()["csrf"]
            client.post(
                "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
            )
            for _ in range(4):
                client.get("/")
        # The writer thread sleeps for an hour; flush from here, as the benchmarks do.
        public_app.services.analytics.flush()
        found = samples(httpx.get(f"{admin}/metrics").text)
    assert found[("cg_writer_events_total", (("outcome", "written"),))] == 4
    assert found[("cg_writer_batch_events_count", ())] == 1
    assert found[("cg_writer_batch_events_sum", ())] == 4
    assert found[("cg_writer_batch_events_bucket", (("le", "1.0"),))] == 0
    assert found[("cg_writer_batch_events_bucket", (("le", "10.0"),))] == 1


def test_buckets_are_cumulative_with_prometheus_le_semantics() -> None:
    buckets = Buckets((1.0, 10.0))
    for value in (0.5, 1.0, 1.5, 10.0, 11.0):
        buckets.observe(value)
    assert buckets.counts == [2, 2, 1]  # a value equal to a bound counts in that bucket
    assert cumulative((1.0, 10.0), buckets.counts) == [("1.0", 2), ("10.0", 4), ("+Inf", 5)]


def test_merging_workers_keeps_exited_counters_but_not_their_gauges() -> None:
    live = {"pid": 1, "responses": {"proxy": {"200": 2}}, "queued": 5, "spool_events": 1}
    other = {"pid": 2, "responses": {"proxy": {"200": 3, "502": 1}}, "queued": 7}
    gone = {"pid": 3, "responses": {"proxy": {"200": 10}}, "queued": 100, "in_flight": 4}
    total = merge([live, other], [gone])
    assert total["responses"] == {"proxy": {"200": 15, "502": 1}}
    assert total["queued"] == 12
    assert total["spool_events"] == 1
    assert "in_flight" not in total
    assert total["processes"] == 2


def test_with_workers_metrics_add_up_every_workers_file(demo_site: str, tmp_path: Path) -> None:
    """Each worker publishes its counters to a file; any worker's /metrics adds them up."""
    import json
    import os
    import subprocess
    import sys

    from gateway.ops.metrics import publish

    settings = make_settings(demo_site, tmp_path)
    folder = tmp_path / "metrics"
    folder.mkdir()
    public_app, admin_app = create_gateway(settings, COMMANDS, metrics_dir=folder)
    with run_server(public_app) as public, run_server(admin_app) as admin:
        with httpx.Client(base_url=public, headers=BROWSER) as client:
            for _ in range(3):
                assert client.get("/").status_code == 200
        publish(public_app.services, folder)
        mine = json.loads((folder / f"{os.getpid()}.json").read_text())
        assert mine["responses"]["proxy"] == {"200": 3}
        # Two more workers: one alive (this test's parent process stands in for its pid),
        # one that has exited (a finished child's pid), each with the same counters.
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        for pid in (os.getppid(), int(gone.stdout)):
            (folder / f"{pid}.json").write_text(json.dumps({**mine, "pid": pid, "queued": 7}))
        found = samples(httpx.get(f"{admin}/metrics").text)
    assert found[("cg_http_responses_total", (("route", "proxy"), ("status", "200")))] == 9
    assert found[("cg_processes", ())] == 2  # this one and the live one
    assert found[("cg_writer_queue_events", ())] == 7 + mine.get("queued", 0)  # not the exited
