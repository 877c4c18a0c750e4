"""The dashboard's "Visitor requests" and "Retention" pages, on a real gateway.

Real parts: the demo site as upstream, the public and admin listeners under
uvicorn (tests/servers.py run_gateway), visitors who consent through the
consent API and browse through the proxy, admins and viewers who log in
through the login form, the embedded ClickHouse.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.analytics.events import visitor_key
from gateway.audit import audit_entries
from gateway.consent.proof import LogEntry, load_chain
from gateway.privacy.retention import retention_report
from gateway.settings import Settings
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import add_account, csrf_of, login
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import run_gateway

ADMIN, VIEWER = "admin@example.org", "viewer@example.org"
BROWSER = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin", "x-forwarded-for": "81.2.69.160"}
PAGE = {"accept": "text/html", "sec-fetch-dest": "document"}


@dataclass
class Gateway:
    public: str
    admin: str
    settings: Settings
    storage: Storage

    def count(self, table: str, consent_id: str) -> int:
        """The visitor's rows in ``table`` (``events``, or the ``sessions`` view)."""
        client = self.storage.connect()
        try:
            return int(
                client.command(
                    f"SELECT count() FROM {table} WHERE visitor_key = {{key:UUID}}",
                    parameters={"key": visitor_key(consent_id)},
                )  # type: ignore[arg-type]
            )
        finally:
            client.close()

    def chain(self, consent_id: str) -> list[LogEntry]:
        client = self.storage.connect()
        try:
            return load_chain(client, consent_id)
        finally:
            client.close()


@pytest.fixture
def gateway_(demo_site: str, tmp_path: Path) -> Iterator[Gateway]:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1", flush_interval=0.1)
    with run_gateway(settings) as (public, admin):
        storage = storage_from_settings(settings)
        add_account(storage, ADMIN, "admin")
        add_account(storage, VIEWER, "viewer")
        yield Gateway(public, admin, settings, storage)


def visitor(gateway: Gateway, *paths: str) -> str:
    """A visitor who accepts analytics and views ``paths``; their consent id, once stored."""
    with httpx.Client(base_url=gateway.public, headers=BROWSER) as browser:
        token = browser.get("/_consent/state").json()["csrf"]
        answer = browser.post(
            "/_consent/state",
            json={"categories": {"analytics": True}},
            headers={"x-csrf-token": token},
        )
        assert answer.status_code == 200
        for path in paths:
            assert browser.get(path, headers=PAGE).status_code == 200
        found = re.search(
            r"<code id=consent-id>([^<]+)</code>", browser.get("/_consent/privacy").text
        )
        assert found, "the privacy page shows no consent id"
        consent_id = found.group(1)
    # The writer and the consent log flush on their own (flush interval 0.1 s, log 1 s).
    deadline = time.monotonic() + 30
    while gateway.count("events", consent_id) < len(paths) or not gateway.chain(consent_id):
        assert time.monotonic() < deadline, "the visits never reached ClickHouse"
        time.sleep(0.05)
    return consent_id


def post(client: httpx.Client, page: str, **form: str) -> httpx.Response:
    return client.post("/privacy", data={"csrf": csrf_of(page), **form})


def test_an_admin_exports_then_erases_a_visitor(gateway_: Gateway) -> None:
    gw = gateway_
    consent_id = visitor(gw, "/", "/courses", "/courses/first-aid")
    other = visitor(gw, "/courses")
    key = visitor_key(consent_id)
    admin, answer = login(gw.admin, ADMIN)
    assert answer.status_code == 303
    with closing(admin):
        form = admin.get("/privacy")
        assert form.status_code == 200
        assert 'href="/privacy">Visitor requests</a>' in form.text
        assert 'href="/retention">Retention</a>' in form.text

        exported = post(admin, form.text, consent_id=consent_id, action="export")
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/json")
        assert "attachment" in exported.headers["content-disposition"]
        data: dict[str, Any] = json.loads(exported.text)
        assert data["visitor_key"] == key
        assert sorted(v["path"] for v in data["visits"]) == ["/", "/courses", "/courses/first-aid"]
        history = [(entry["consent_id"], entry["action"]) for entry in data["consent_history"]]
        assert history == [(consent_id, "custom")]

        # Without the CSRF token nothing happens.
        refused = admin.post("/privacy", data={"consent_id": consent_id, "action": "erase"})
        assert refused.status_code == 403 and "expired" in refused.text
        assert gw.count("events", consent_id) == 3

        confirm = post(admin, form.text, consent_id=consent_id, action="confirm")
        assert confirm.status_code == 200
        assert 'id="confirm-erase"' in confirm.text and "events: 3 rows" in confirm.text
        assert gw.count("events", consent_id) == 3  # asking is not erasing

        erased = post(admin, confirm.text, consent_id=consent_id, action="erase")
        assert erased.status_code == 200
        assert f"Erased the visitor with consent id {consent_id}" in erased.text
        assert "events 3" in erased.text

    assert gw.count("events", consent_id) == 0
    assert gw.count("sessions", consent_id) == 0
    assert gw.count("events", other) == 1  # the other visitor is untouched
    chain = gw.chain(consent_id)
    assert chain[-1].action == "erase" and len(chain) == 2
    mine = [e for e in audit_entries(gw.storage, actor=ADMIN) if e.action.startswith("privacy.")]
    assert [(e.action, e.target, e.ip) for e in reversed(mine)] == [
        ("privacy.export", key, "127.0.0.0"),
        ("privacy.erase", key, "127.0.0.0"),
    ]
    assert json.loads(mine[0].detail)["events"] == 3
    assert consent_id not in " ".join(repr(e) for e in mine)


def test_bad_and_unknown_consent_ids_get_a_clear_message(gateway_: Gateway) -> None:
    admin, _ = login(gateway_.admin, ADMIN)
    with closing(admin):
        form = admin.get("/privacy").text
        for action in ("export", "confirm", "erase"):
            bad = post(admin, form, consent_id="x;drop table", action=action)
            assert bad.status_code == 400
            assert "A consent id is 8 to 64 letters" in html.unescape(bad.text)
            unknown = post(admin, form, consent_id="NoSuchVisitor123", action=action)
            assert unknown.status_code == 400
            assert "Nothing is held for the consent id NoSuchVisitor123" in unknown.text
        odd = post(admin, form, consent_id="NoSuchVisitor123", action="drop")
        assert odd.status_code == 400 and "Unknown action" in html.unescape(odd.text)
    assert not [e for e in audit_entries(gateway_.storage) if e.action.startswith("privacy.")]


def test_viewers_get_403_on_both_pages(gateway_: Gateway) -> None:
    viewer, answer = login(gateway_.admin, VIEWER)
    assert answer.status_code == 303
    with closing(viewer):
        home = viewer.get("/sites").text
        assert 'href="/privacy"' not in home and 'href="/retention"' not in home
        assert viewer.get("/privacy").status_code == 403
        assert viewer.get("/retention").status_code == 403
        token = csrf_of(home)
        posted = viewer.post("/privacy", data={"csrf": token, "consent_id": "x" * 10})
        assert posted.status_code == 403
    with httpx.Client(base_url=gateway_.admin) as anonymous:
        assert anonymous.get("/retention").status_code == 303  # to the login page
        assert anonymous.post("/privacy", data={"action": "export"}).status_code == 401


def test_the_retention_page_lists_every_table_with_its_ttl(gateway_: Gateway) -> None:
    visitor(gateway_, "/")
    admin, _ = login(gateway_.admin, ADMIN)
    with closing(admin):
        page = admin.get("/retention")
    assert page.status_code == 200
    report = retention_report(gateway_.storage, gateway_.settings)
    assert {"events", "sessions_agg", "consent_log", "audit_log"} <= {
        t["table"] for t in report["tables"]
    }
    rows = re.findall(
        r'<tr id="table-([^"]+)" class="(ok|over)"><td>[^<]*</td><td>([^<]*)</td>', page.text
    )
    assert [(name, html.unescape(ttl)) for name, _, ttl in rows] == [
        (t["table"], t["ttl"]) for t in report["tables"]
    ]
    assert all(verdict == "ok" for _, verdict, _ in rows)
    assert "Every table is within its limit." in page.text
    assert "one month" in page.text
