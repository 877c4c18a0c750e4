"""The demo's synthetic visitors, through a real gateway that trusts loopback as a proxy."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from gateway.admin import accounts
from gateway.admin.passwords import verify
from gateway.demo.account import DEMO_ADMIN, ensure_demo_admin
from gateway.demo.browser import Browser
from gateway.demo.traffic import ENTRIES, drive, plan_visits
from gateway.proxy.pool import ConnectionPool
from gateway.storage import storage_from_settings
from tests.conftest import make_settings
from tests.servers import run_gateway, run_server


def test_the_plan_mixes_pages_places_devices_and_choices() -> None:
    visits = plan_visits(2000, random.Random(7))
    assert visits == plan_visits(2000, random.Random(7))  # reproducible
    choices = Counter(visit.choice.get("action", "custom") for visit in visits)
    assert set(choices) == {"accept_all", "reject_all", "custom"}
    assert choices["accept_all"] > choices["reject_all"] > choices["custom"] > 100
    assert {visit.pages[0] for visit in visits} == set(ENTRIES)
    assert len({visit.ip.rsplit(".", 1)[0] for visit in visits}) > 10  # many networks
    assert len({visit.user_agent for visit in visits}) > 5
    assert 0.03 < sum(visit.gpc for visit in visits) / len(visits) < 0.15
    assert any(visit.query.startswith("utm_source=") for visit in visits)


def test_visits_go_through_the_real_gateway_with_forwarded_public_addresses(
    demo_site: str, tmp_path: Path
) -> None:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1")
    visits = plan_visits(40, random.Random(3))
    out = io.StringIO()
    with run_gateway(settings) as (public, _):
        # Its own thread and loop, as the demo runs it (and as the test runner may
        # already have a loop in this thread: the browser tests' Playwright does).
        with ThreadPoolExecutor(1) as pool:
            tally = pool.submit(asyncio.run, drive(public, visits, out=out)).result()
    assert tally.visits == 40 and tally.failures == 0
    assert "Synthetic visits: [####################] 40/40" in out.getvalue()
    assert "Sent 40 synthetic visits" in out.getvalue()
    client = storage_from_settings(settings).connect()
    (shown,) = client.query(
        "SELECT sum(count) FROM consent_counts WHERE outcome = 'shown'"
    ).result_rows[0]
    assert shown == 40
    stored_networks = {row[0] for row in client.query("SELECT DISTINCT ip FROM events").result_rows}
    planned = {visit.ip.rsplit(".", 1)[0] + ".0" for visit in visits}
    assert stored_networks and stored_networks <= planned  # truncated, never 127.0.0.x
    consented = [v for v in visits if v.choice.get("action") == "accept_all"]
    (pageviews,) = client.query("SELECT countIf(kind = 'pageview') FROM events").result_rows[0]
    assert pageviews >= sum(len(v.pages) for v in consented)
    (sources,) = client.query("SELECT groupUniqArray(referrer_host) FROM events").result_rows[0]
    assert "www.google.com" in sources or "m.facebook.com" in sources


def test_the_demo_admin_gets_a_fresh_password_at_every_start(tmp_path: Path) -> None:
    settings = make_settings("http://127.0.0.1:9", tmp_path)
    email, first = ensure_demo_admin(settings)
    _, second = ensure_demo_admin(settings)
    user = accounts.get_user(storage_from_settings(settings), email)
    assert email == DEMO_ADMIN and user is not None and user.is_admin
    assert first != second
    assert verify(user.password_hash, second) and not verify(user.password_hash, first)


async def _set(request: Request) -> PlainTextResponse:
    response = PlainTextResponse("set")
    response.set_cookie("a", "1", httponly=True)
    response.set_cookie("b", "2", max_age=3600)
    response.set_cookie("c", "3")
    return response


async def _delete(request: Request) -> PlainTextResponse:
    response = PlainTextResponse("deleted")
    response.delete_cookie("a")  # Max-Age=0
    response.headers.append("set-cookie", "b=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    return response


async def _echo(request: Request) -> JSONResponse:
    headers = request.headers
    return JSONResponse(
        {
            "cookie": headers.get("cookie"),
            "agent": headers.get("user-agent"),
            "type": headers.get("content-type"),
            "body": (await request.body()).decode(),
        }
    )


async def test_each_synthetic_browser_keeps_its_own_cookies_until_deleted() -> None:
    routes = [
        Route("/set", _set),
        Route("/delete", _delete),
        Route("/echo", _echo, methods=["GET", "POST"]),
    ]
    with run_server(Starlette(routes=routes)) as url:
        pool = ConnectionPool(url, connect_timeout=5, read_timeout=5)
        one, other = Browser(pool, url, {"User-Agent": "one"}), Browser(pool, url, {})
        assert await one.request("GET", "/set") == (200, b"set")
        status, body = await one.request("POST", "/echo", json_body={"x": 1})
        assert status == 200
        assert json.loads(body) == {
            "cookie": "a=1; b=2; c=3",
            "agent": "one",
            "type": "application/json",
            "body": '{"x": 1}',
        }
        assert json.loads((await other.request("GET", "/echo"))[1])["cookie"] is None
        await one.request("GET", "/delete")
        assert json.loads((await one.request("GET", "/echo"))[1])["cookie"] == "c=3"
        pool.close()
