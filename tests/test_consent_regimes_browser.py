"""The opt-out notice and its Object button in a real Chromium (``GB.analytics=opt-out``).

The visitor's address comes through ``CG_TRUSTED_PROXIES`` and ``X-Forwarded-For``
and the real DB-IP database: a GB visitor sees what runs without asking and objects
in one click, after which nothing more is recorded; a US visitor (opt-in) never
loads ``object.js``. The demo's /consent-demo page sends a strict CSP, so a console
error would show a script the policy blocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.analytics.events import visitor_key
from gateway.app import GatewayApp, create_app
from gateway.consent.state import CONSENT_COOKIE
from gateway.demo.site import create_demo_site
from tests.browser import axe_violations, screenshot
from tests.conftest import make_settings
from tests.geo_databases import dbip_folder
from tests.servers import run_server

pytestmark = pytest.mark.browser

GB_ADDRESS = "81.2.69.160"
US_ADDRESS = "8.8.8.8"
DEMO = "/consent-demo"
FREE = "Object here, free of charge, or later in Cookie settings."
# A person's Chrome: the bot step drops HeadlessChrome's own user agent.
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


@dataclass
class Site:
    url: str
    app: GatewayApp

    def page_views(self, consent_id: str) -> int:
        self.app.services.analytics.flush()
        client = self.app.services.storage.connect()
        try:
            rows = client.query(
                "SELECT count() FROM events WHERE kind = 'pageview' "
                "AND visitor_key = toUUID({key:String})",
                parameters={"key": visitor_key(consent_id)},
            ).result_rows
        finally:
            client.close()
        return int(rows[0][0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp: Path = tmp_path_factory.mktemp("regimes-browser")
    with run_server(create_demo_site()) as demo:
        settings = make_settings(
            demo,
            tmp,
            geolocation="on",
            geoip_db=str(dbip_folder()),
            trusted_proxies="127.0.0.1",
            consent_regimes="GB.analytics=opt-out,GB.preferences=opt-out",
            banner_texts=json.dumps({"en": {"free": FREE}}),  # the notice's texts override too
        )
        app = create_app(settings)
        with run_server(app) as url:
            yield Site(url, app)


def visit(browser: Browser, address: str) -> tuple[Page, list[str], list[str]]:
    """A fresh visitor from ``address``: its tab, the scripts it loaded, its errors."""
    context = browser.new_context(
        viewport={"width": 1024, "height": 768},
        user_agent=CHROME,
        extra_http_headers={"X-Forwarded-For": address},
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    scripts: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    # As tests/browser.py: failed loads count by their address, the favicon aside.
    tab.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    return tab, scripts, errors


def consent_id(site: Site, tab: Page) -> str:
    raw = next(c["value"] for c in tab.context.cookies() if c["name"] == CONSENT_COOKIE)
    choice: Any = site.app.services.consent.policy.decode(raw)
    return str(choice.consent_id)


def test_a_gb_visitor_objects_in_one_click(browser: Browser, site: Site) -> None:
    tab, scripts, errors = visit(browser, GB_ADDRESS)
    tab.goto(site.url + DEMO)
    banner = tab.locator(".cg")
    object_button = banner.get_by_role("button", name="Object", exact=True)
    expect(object_button).to_be_visible()
    notice = banner.locator("#cg-object")
    expect(notice).to_contain_text("Without asking")
    expect(notice).to_contain_text(f"display choices: Preferences, Analytics. {FREE}")
    assert "marketing" not in (notice.text_content() or "").lower()
    assert banner.get_attribute("aria-describedby") == "cg-desc cg-object"
    assert [src for src in scripts if "/object.js" in src]
    banner.evaluate("(b) => Promise.all(b.getAnimations().map((a) => a.finished))")
    assert axe_violations(tab, ".cg") == []
    screenshot(tab, "banner-object")
    key = consent_id(site, tab)
    assert site.page_views(key) == 1  # counted before any choice

    with tab.expect_response("**/_consent/state") as answer:
        object_button.click()
    assert answer.value.request.post_data_json == {"action": "object"}
    assert answer.value.status == 200
    # The demo page's analytics script ran before the objection: the banner reloads the
    # page to stop it, and the banner stays closed.
    expect(tab.locator(".cg-open")).to_be_visible()
    expect(banner).to_be_hidden()
    tab.goto(site.url + "/")
    tab.goto(site.url + DEMO)
    expect(tab.locator(".cg-open")).to_be_visible()  # the choice stands: no banner
    assert consent_id(site, tab) == key  # the objection kept the visitor's id
    assert site.page_views(key) == 1  # nothing more after "Object"
    assert errors == []
    tab.context.close()


def test_an_opt_in_visitor_never_loads_the_notice(browser: Browser, site: Site) -> None:
    tab, scripts, errors = visit(browser, US_ADDRESS)
    tab.goto(site.url + DEMO)
    banner = tab.locator(".cg")
    expect(banner.get_by_role("button", name="Accept all", exact=True)).to_be_visible()
    assert banner.get_by_role("button", name="Object", exact=True).count() == 0
    assert not [src for src in scripts if "/object.js" in src]
    assert errors == []
    tab.context.close()
