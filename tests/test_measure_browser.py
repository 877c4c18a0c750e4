"""``consentGateway.track()`` and outbound link clicks in a real Chromium, before and after consent.

Real parts: a small upstream page, the gateway with its banner, Debian's Chromium,
and the embedded ClickHouse where the events land.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Request, expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import run_server

pytestmark = pytest.mark.browser

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
PAGE = """<!doctype html><html lang="en"><head><title>Open evening</title></head><body>
<main><h1>Open evening</h1>
<a id="out" href="https://partner.example/brochure?ref=school#top"
   onclick="return false">Partner</a>
<a id="in" href="/apply" onclick="return false">Apply</a></main>
<script>consentGateway.track("Page script", {at: "parse"})</script></body></html>"""


async def page(request: Any) -> HTMLResponse:
    return HTMLResponse(PAGE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A gateway in front of the page: its URL and its app."""
    upstream = Starlette(routes=[Route("/{path:path}", page)])
    with run_server(upstream) as origin:
        app = create_app(make_settings(origin, tmp_path_factory.mktemp("measure")))
        with run_server(app) as url:
            yield url, app


def visit(browser: Browser, url: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    """A fresh visitor on the page: the page, the beacons it sends, the scripts it loads."""
    context = browser.new_context(user_agent=CHROME)
    tab = context.new_page()
    beacons: list[dict[str, Any]] = []
    scripts: list[str] = []

    def seen(request: Request) -> None:
        if request.url.endswith("/_consent/collect"):
            beacons.append(json.loads(request.post_data or "{}"))
        if request.resource_type == "script":
            scripts.append(request.url)

    tab.on("request", seen)
    tab.goto(url + "/open-evening")
    expect(tab.locator(".cg")).to_be_visible()
    return tab, beacons, scripts


def test_nothing_is_sent_or_loaded_without_analytics(
    browser: Browser, site: tuple[str, Any]
) -> None:
    url, _ = site
    tab, beacons, scripts = visit(browser, url)
    assert tab.evaluate("typeof consentGateway.track") == "function"
    tab.evaluate("consentGateway.track('Before a choice', {step: 1})")
    tab.locator(".cg").get_by_role("button", name="Reject all", exact=True).click()
    expect(tab.locator(".cg-open")).to_be_visible()
    tab.evaluate("consentGateway.track('After refusing')")
    tab.locator("#out").click()
    tab.wait_for_timeout(300)
    assert beacons == []
    assert not [src for src in scripts if "measure.js" in src]
    assert tab.evaluate("Array.isArray(window.cgq)") is False  # the queue was dropped
    tab.context.close()


def test_track_and_outbound_clicks_after_consent(browser: Browser, site: tuple[str, Any]) -> None:
    url, app = site
    tab, beacons, scripts = visit(browser, url)
    # Before a choice analytics is not granted: the page script's call is dropped.
    with tab.expect_response("**/_consent/collect"):
        tab.locator(".cg").get_by_role("button", name="Accept all", exact=True).click()
    tab.wait_for_function("window.cgq && !Array.isArray(window.cgq)")  # measure.js is in
    assert [src for src in scripts if "measure.js" in src]
    with tab.expect_response("**/_consent/collect") as sent:
        tab.evaluate(
            "consentGateway.track('Booking made', {evening: 'March', seats: 2,"
            " nested: {no: 1}, long: 'x'.repeat(300)})"
        )
    assert sent.value.status == 202
    with tab.expect_response("**/_consent/collect") as sent:
        tab.locator("#out").click()
    assert sent.value.status == 202
    tab.locator("#in").click()  # same site: not an outbound link
    # The next page: its script calls track() before banner.js is there; the call waits
    # in the queue and goes once the banner knows analytics is granted.
    with tab.expect_request(
        lambda r: r.url.endswith("/collect") and "Page script" in (r.post_data or "")
    ):
        tab.goto(url + "/open-evening")
    custom = [e for b in beacons for e in b["events"] if e["type"] == "custom"]
    assert [e["name"] for e in custom] == ["Booking made", "Outbound Link: Click", "Page script"]
    assert custom[0]["props"] == {"evening": "March", "seats": "2", "long": "x" * 256}
    assert custom[1]["props"] == {"url": "https://partner.example/brochure"}
    assert custom[2]["props"] == {"at": "parse"}
    assert all(e["path"] == "/open-evening" for e in custom)
    tab.context.close()
    app.services.analytics.flush()  # the writer's 5 s interval need not pass
    rows = (
        app.services.storage.connect()
        .query("SELECT name, props FROM events WHERE kind = 'custom' ORDER BY time")
        .result_rows
    )
    assert [row[0] for row in rows][-3:] == [e["name"] for e in custom]
