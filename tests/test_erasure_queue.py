"""Erasure abuse: the erase route is rate-limited per network, and erasures queue, one at a time.

Real parts: the demo site as upstream, the gateway app with its real lifespan
driven in-process (tests/inprocess.py) so that many visitors can ask at the
same moment, visitors who consent through the consent API as the banner does,
page views recorded by the proxy, the embedded ClickHouse.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.consent.proof import load_chain
from gateway.consent.state import CONSENT_COOKIE
from gateway.privacy.jobs import MAX_QUEUED
from gateway.settings_parsers import Rate
from gateway.storage import storage_from_settings
from tests.conftest import make_settings
from tests.inprocess import InProcess, in_process
from tests.test_privacy import BROWSER, PAGE
from tests.test_ratelimit import ManualClock

ERASE = "/_consent/privacy/erase"


def test_the_erase_route_shares_the_consent_apis_rate_per_network(
    demo_site: str, tmp_path: Path
) -> None:
    clock = ManualClock()
    settings = make_settings(demo_site, tmp_path, rate_limit_consent="3/minute")
    app = create_app(settings, clock=clock)
    assert app.services.rate_limits[ERASE].rate == Rate(3, 60.0)
    with in_process(app) as gateway:
        # Refused or not, every request counts: a flood without a token costs the same.
        for _ in range(3):
            assert gateway.request("POST", ERASE, client="198.51.100.7").status_code != 429
        refused = gateway.request(
            "POST", ERASE, client="198.51.100.200", headers={"accept": "application/json"}
        )
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"
        assert refused.json()["error"] == {
            "status": 429,
            "code": "rate_limited",
            "message": "Too many requests from your network; try again in 20 s.",
        }
        # A budget of its own: the consent API and other networks are not affected.
        assert gateway.request("GET", "/_consent/state", client="198.51.100.7").status_code == 200
        assert gateway.request("POST", ERASE, client="198.51.101.7").status_code != 429
        # The status of a job is not limited.
        assert (
            gateway.request("GET", f"{ERASE}/nosuchjob", client="198.51.100.7").status_code == 404
        )
        clock.now += 20
        assert gateway.request("POST", ERASE, client="198.51.100.7").status_code != 429


class Visitor:
    """One browser: its own cookie jar, on the app's event loop."""

    def __init__(self, gateway: InProcess) -> None:
        transport = httpx.ASGITransport(gateway.app, client=("192.0.2.10", 40000))
        self.http = httpx.AsyncClient(
            transport=transport, base_url="http://gateway.test", headers=BROWSER
        )

    async def consent(self) -> None:
        token = (await self.http.get("/_consent/state")).json()["csrf"]
        answer = await self.http.post(
            "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
        )
        assert answer.status_code == 200

    async def erase(self) -> httpx.Response:
        token = (await self.http.get("/_consent/state")).json()["csrf"]
        return await self.http.post(ERASE, json={"confirm": True}, headers={"x-csrf-token": token})

    @property
    def consent_id(self) -> str:
        return self.http.cookies[CONSENT_COOKIE].split("~")[0]


def hold_the_visitors_parts(settings: Any, seconds: int) -> threading.Thread:
    """A dashboard-like query that reads ``events`` for ``seconds``.

    ClickHouse never removes a part a running query reads, so an erasure that
    rewrites it stays ``running`` (waiting for the replaced part to leave the
    disk) until the query ends: a slow erasure, made by the engine itself.
    """
    storage = storage_from_settings(settings)

    def run() -> None:
        client = storage.connect()
        try:
            client.command(
                f"SELECT count() FROM events WHERE NOT ignore(sleepEachRow({seconds})) "
                f"SETTINGS function_sleep_max_microseconds_per_block = {seconds * 2_000_000}"
            )
        finally:
            client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    client = storage.connect()
    try:
        while not client.command(
            "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow%' "
            "AND query NOT LIKE '%system.processes%'"
        ):
            assert thread.is_alive(), "the reading query ended before it was seen"
            time.sleep(0.01)
    finally:
        client.close()
    return thread


def test_erasures_queue_one_at_a_time_and_a_full_queue_answers_429(
    demo_site: str, tmp_path: Path
) -> None:
    settings = make_settings(demo_site, tmp_path)
    app = create_app(settings)
    with in_process(app) as gateway:
        visitors = [Visitor(gateway) for _ in range(MAX_QUEUED + 3)]
        first = visitors[0]

        def state(job: str) -> str:
            status: str = gateway.run(first.http.get(f"{ERASE}/{job}")).json()["state"]
            return status

        for visitor in visitors:
            gateway.run(visitor.consent())
        page = gateway.run(first.http.get("/courses", headers=PAGE))
        assert page.status_code == 200
        app.services.analytics.flush()
        reader = hold_the_visitors_parts(settings, 4)
        running = gateway.run(first.erase())
        assert running.status_code == 202

        async def everyone_else() -> list[httpx.Response]:
            return list(await asyncio.gather(*(v.erase() for v in visitors[1:])))

        answers = gateway.run(everyone_else())
        assert state(running.json()["erasure"]) == "running", (
            "the first erasure ended before the others were asked for"
        )
        accepted = [a for a in answers if a.status_code == 202]
        refused = [
            (v, a) for v, a in zip(visitors[1:], answers, strict=True) if a.status_code == 429
        ]
        assert len(accepted) == MAX_QUEUED and len(refused) == 2
        assert {a.json()["state"] for a in accepted} == {"queued"}
        for visitor, answer in refused:
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.headers["cache-control"] == "no-store"
            error = answer.json()["error"]
            assert (error["status"], error["code"]) == (429, "erasure_queue_full")
            assert "nothing was changed" in error["message"]
            # Nothing was done: the visitor keeps their consent, and no erasure is logged.
            assert CONSENT_COOKIE in visitor.http.cookies
            assert gateway.run(visitor.http.get("/_consent/state")).json()["categories"][
                "analytics"
            ]

        # The queue drains in order, never two at once. The states are read last job
        # first: a job starts only after every earlier one ended and no state goes back,
        # so an earlier job read later is never behind a later one read earlier.
        jobs = [running.json()["erasure"]] + [a.json()["erasure"] for a in accepted]
        seen: list[list[str]] = []
        while True:
            states = [state(job) for job in reversed(jobs)][::-1]
            seen.append(states)
            assert states.count("running") + states.count("retrying") <= 1, states
            finished = [each == "done" for each in states]
            assert finished == sorted(finished, reverse=True), states  # in the order asked
            if set(states) == {"done"}:
                break
            gateway.run(asyncio.sleep(0.05))
        reader.join()
        assert any(s[0] == "running" and s[1] == "queued" for s in seen)
        # Refused visitors ask again once there is room.
        refused_ids = [visitor.consent_id for visitor, _ in refused]
        for visitor, _ in refused:
            assert gateway.run(visitor.erase()).status_code == 202
        app.services.consent.log.flush()
        client = storage_from_settings(settings).connect()
        try:
            for consent_id in refused_ids:
                actions = [entry.action for entry in load_chain(client, consent_id)]
                assert actions == ["accept_all", "erase"]  # one erasure, the one accepted
        finally:
            client.close()
        for visitor in visitors:
            gateway.run(visitor.http.aclose())
