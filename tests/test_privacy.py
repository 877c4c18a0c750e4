"""Visitors' rights through the real gateway: see, export, erase; no one sees anyone else.

Real parts: the demo site as upstream, the gateway under uvicorn, consent given
through the consent API as the banner gives it, page views recorded by the
proxy, the embedded ClickHouse. httpx's cookie jar plays the browser.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.analytics.events import visitor_key
from gateway.app import GatewayApp, create_app
from gateway.consent.proof import load_chain, verify_chain
from gateway.consent.state import CONSENT_COOKIE
from gateway.privacy.store import held_rows
from gateway.settings import Settings
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import run_server

PUBLIC_ADDRESS = "81.2.69.160"
BROWSER = {
    "user-agent": FIREFOX,
    "sec-fetch-site": "same-origin",
    "x-forwarded-for": PUBLIC_ADDRESS,
}
PAGE = {"accept": "text/html", "sec-fetch-dest": "document"}


@dataclass
class Site:
    url: str
    app: GatewayApp
    settings: Settings

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=BROWSER)

    def flush(self) -> None:
        """Write the queued events now, as the writer's thread would within a second."""
        self.app.services.analytics.flush()
        self.app.services.consent.log.flush()

    def db(self) -> Any:
        return Storage(self.settings.clickhouse_dsn).connect()


@pytest.fixture
def site(demo_site: str, tmp_path: Path) -> Iterator[Site]:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1")
    app = create_app(settings)
    with run_server(app) as url:
        yield Site(url, app, settings)


def consent(client: httpx.Client, body: dict[str, Any] | None) -> dict[str, Any]:
    token = client.get("/_consent/state").json()["csrf"]
    if body is None:
        response = client.delete("/_consent/state", headers={"x-csrf-token": token})
    else:
        response = client.post("/_consent/state", json=body, headers={"x-csrf-token": token})
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def visit(client: httpx.Client, *paths: str) -> None:
    for path in paths:
        assert client.get(path, headers=PAGE).status_code == 200
        # Events keep their time to the millisecond: two page views within one have no
        # order, and the export lists them newest first.
        time.sleep(0.005)


def consent_id_of(page: str) -> str:
    found = re.search(r"<code id=consent-id>([^<]+)</code>", page)
    assert found, "the page shows no consent id"
    return found.group(1)


def csrf_of(page: str) -> str:
    found = re.search(r'name=csrf value="([^"]+)"', page)
    assert found
    return found.group(1)


def wait_for_erasure(client: httpx.Client, location: str) -> dict[str, Any]:
    job = location.split("erasure=")[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"/_consent/privacy/erase/{job}").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError("the erasure never finished")


def test_a_visitors_full_cycle_see_export_erase(site: Site) -> None:
    with site.client() as browser:
        before = browser.get("/_consent/privacy").text
        assert "carries no consent of ours" in before and "<form" not in before
        consent(browser, {"categories": {"analytics": True}})
        visit(browser, "/", "/courses", "/courses/first-aid")
        site.flush()

        page = browser.get("/_consent/privacy", headers={"accept-language": "fr-CA,fr;q=0.9"})
        assert page.status_code == 200
        assert page.headers["content-language"] == "fr"
        assert page.headers["cache-control"] == "no-store"
        assert "<html lang=fr>" in page.text and "Votre vie privée" in page.text
        assert page.text.count("<tr>") == 1 + 3  # the header and three page views
        assert "/courses/first-aid" in page.text and "81.2.69.0" in page.text
        assert PUBLIC_ADDRESS not in page.text
        consent_id = consent_id_of(page.text)
        assert consent_id == browser.cookies[CONSENT_COOKIE].split("~")[0]

        exported = browser.get("/_consent/privacy/export?format=json")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        data = exported.json()
        assert data["visitor_key"] == visitor_key(consent_id)
        assert [v["path"] for v in data["visits"]] == ["/courses/first-aid", "/courses", "/"]
        assert {v["ip"] for v in data["visits"]} == {"81.2.69.0"}
        assert [e["action"] for e in data["consent_history"]] == ["custom"]
        visits_csv = list(
            csv.DictReader(
                io.StringIO(browser.get("/_consent/privacy/export?format=csv&part=visits").text)
            )
        )
        assert [row["path"] for row in visits_csv] == ["/courses/first-aid", "/courses", "/"]
        history_csv = list(
            csv.DictReader(
                io.StringIO(browser.get("/_consent/privacy/export?format=csv&part=consent").text)
            )
        )
        assert [row["action"] for row in history_csv] == ["custom"]
        assert history_csv[0]["categories"] == "analytics"

        erased = browser.post(
            "/_consent/privacy/erase",
            data={"csrf": csrf_of(page.text), "confirm": "yes"},
            headers={"origin": site.url},
        )
        assert erased.status_code == 303
        expired = erased.headers.get_list("set-cookie")
        for name in (CONSENT_COOKIE, "cg_session"):
            assert any(h.startswith(f"{name}=;") and "Max-Age=0" in h for h in expired), name
        status = wait_for_erasure(browser, erased.headers["location"])
        assert status["state"] == "done"
        assert status["deleted"]["events"] == 3
        after = browser.get(erased.headers["location"])
        assert 'data-erasure="done"' in after.text
        assert "<table" not in after.text and "consent-id" not in after.text
        assert browser.get("/_consent/privacy/export").status_code == 404

    site.flush()  # the erase entry is journalled; the log's writer inserts it within a second
    db = site.db()
    assert set(held_rows(db, consent_id).values()) == {0}  # every visitor table and the view
    assert db.command("SELECT count() FROM events") == 0  # no one else visited
    assert db.command("SELECT count() FROM sessions") == 0
    assert db.command("SELECT count() FROM sessions_agg") == 0
    chain = load_chain(db, consent_id)
    assert [entry.action for entry in chain] == ["custom", "erase"]
    erasure = chain[-1]
    assert (erasure.ip, erasure.browser, erasure.country, erasure.categories) == ("", "", "", ())
    assert verify_chain(chain, int(time.time())).ok


def test_another_visitors_data_is_never_visible(site: Site) -> None:
    with site.client() as alice, site.client() as bob:
        consent(alice, {"action": "accept_all"})
        consent(bob, {"action": "accept_all"})
        visit(alice, "/courses")
        visit(bob, "/")
        site.flush()
        alice_page = alice.get("/_consent/privacy").text
        alice_id = consent_id_of(alice_page)
        assert "/courses" in alice_page
        bob_page = bob.get(f"/_consent/privacy?consent_id={alice_id}").text  # ignored
        assert "/courses" not in bob_page and consent_id_of(bob_page) != alice_id
        bob_export = bob.get(f"/_consent/privacy/export?consent_id={alice_id}").json()
        assert [v["path"] for v in bob_export["visits"]] == ["/"]

        # Bob swaps Alice's consent id into his own cookie: the signature no longer holds.
        value = bob.cookies[CONSENT_COOKIE]
        bob_id = value.split("~")[0]
        swapped = value.replace(bob_id, alice_id, 1)
        for forged in (swapped, alice_id, value[:-4] + "AAAA", "garbage"):
            with httpx.Client(
                base_url=site.url, headers=BROWSER, cookies={CONSENT_COOKIE: forged}
            ) as mallory:
                page = mallory.get("/_consent/privacy").text
                assert "<table" not in page and "consent-id" not in page
                assert mallory.get("/_consent/privacy/export").status_code == 404
                assert mallory.get("/_consent/privacy/export?format=csv").status_code == 404


def test_erasure_needs_the_token_the_confirmation_and_the_same_origin(site: Site) -> None:
    with site.client() as browser:
        consent(browser, {"action": "accept_all"})
        token = csrf_of(browser.get("/_consent/privacy").text)
        cases = [
            ({"confirm": "yes"}, {}, 403, "csrf_failed"),
            ({"csrf": "forged", "confirm": "yes"}, {}, 403, "csrf_failed"),
            ({"csrf": token}, {}, 400, "not_confirmed"),
            ({"csrf": token, "confirm": "yes"}, {"origin": "https://evil.example"}, 403, None),
            ({"csrf": token, "confirm": "yes"}, {"sec-fetch-site": "cross-site"}, 403, None),
        ]
        for form, headers, status, code in cases:
            answer = browser.post("/_consent/privacy/erase", data=form, headers=headers)
            assert answer.status_code == status, (form, headers)
            assert answer.json()["error"]["code"] == (code or "cross_site")
        assert browser.post("/_consent/privacy/erase", content=b"[1]").status_code == 400
    with site.client() as stranger:  # no consent cookie: nothing to erase
        token = csrf_of_state(stranger)
        answer = stranger.post(
            "/_consent/privacy/erase",
            json={"confirm": True},
            headers={"x-csrf-token": token},
        )
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "no_visitor"


def csrf_of_state(client: httpx.Client) -> str:
    token: str = client.get("/_consent/state").json()["csrf"]
    return token


def test_erasure_by_json_and_withdrawal_offers_it(site: Site) -> None:
    with site.client() as browser:
        assert "erase_offer" not in consent(browser, {"action": "accept_all"})
        visit(browser, "/")
        withdrawn = consent(browser, None)
        assert withdrawn["erase_offer"] == "/_consent/privacy#erase"
        assert withdrawn["categories"]["analytics"] is False
        visit(browser, "/courses")  # not recorded any more
        site.flush()
        page = browser.get("/_consent/privacy").text
        assert "/courses<" not in page and "withdrew your consent to analytics" in page
        answer = browser.post(
            "/_consent/privacy/erase",
            json={"confirm": True},
            headers={"x-csrf-token": csrf_of_state(browser)},
        )
        assert answer.status_code == 202
        status = wait_for_erasure(browser, "erasure=" + answer.json()["erasure"])
        assert status == {
            "erasure": answer.json()["erasure"],
            "state": "done",
            "deleted": status["deleted"],
        }
        assert status["deleted"]["events"] == 1


@pytest.mark.parametrize(
    ("header", "language", "words"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Ihre Privatsphäre"),
        ("es", "es", "Su privacidad"),
        ("cy-GB", "cy", "Eich preifatrwydd"),
        ("ja, fr;q=0.4", "fr", "Votre vie privée"),
        ("ja", "en", "Your privacy"),
        ("", "en", "Your privacy"),
        ("fr;q=abc, de;q=0.2", "de", "Ihre Privatsphäre"),
    ],
)
def test_the_page_speaks_the_visitors_language(
    site: Site, header: str, language: str, words: str
) -> None:
    with site.client() as browser:
        page = browser.get("/_consent/privacy", headers={"accept-language": header})
        assert page.headers["content-language"] == language
        assert f"<html lang={language}>" in page.text and words in page.text
