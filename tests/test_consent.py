"""Consent enforced by the server, through a real upstream that sets and reads tracker cookies.

The upstream is the demo site: ``/cookies`` sets ``sessionid`` (necessary), ``_ga``
(analytics), ``_fbp`` (marketing) and ``theme`` (preferences); ``/echo`` reports
the cookies and headers it received. httpx's cookie jar plays the browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.consent.set_cookie import MAX_COOKIE_SECONDS
from gateway.consent.state import CONSENT_COOKIE
from gateway.exceptions import SettingsError
from gateway.signing import CookieSigner
from tests.conftest import TEST_KEY, make_settings
from tests.geo_databases import dbip_folder
from tests.servers import run_server

TRACKERS = {"_ga", "_fbp", "theme"}


@pytest.fixture
def browser(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, headers={"sec-fetch-site": "same-origin"}) as client:
        yield client


def state(client: httpx.Client, **headers: str) -> dict[str, Any]:
    response = client.get("/_consent/state", headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = response.json()
    return data


def choose(client: httpx.Client, body: dict[str, Any] | None) -> httpx.Response:
    token = state(client)["csrf"]
    if body is None:
        return client.delete("/_consent/state", headers={"x-csrf-token": token})
    return client.post("/_consent/state", json=body, headers={"x-csrf-token": token})


def seen_by_upstream(client: httpx.Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/echo").json()
    return data


def set_cookie_names(response: httpx.Response) -> set[str]:
    return {h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")}


def test_before_consent_only_essential_cookies_pass_either_way(browser: httpx.Client) -> None:
    initial = state(browser)
    assert initial["must_show"] is True
    assert initial["reason"] == "no_choice"
    assert initial["categories"] == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "marketing": False,
    }
    response = browser.get("/cookies")
    assert set_cookie_names(response) & TRACKERS == set()
    assert "sessionid" in set_cookie_names(response)

    # A tracker cookie the browser got elsewhere (a script) never reaches the site,
    # and the browser is told to delete it.
    browser.cookies.set("_ga", "GA1.1.1.1", domain="127.0.0.1")
    echoed = browser.get("/echo")
    assert "_ga" not in echoed.json()["cookies"]
    assert any(
        h.startswith("_ga=;") and "Max-Age=0" in h for h in echoed.headers.get_list("set-cookie")
    )
    assert "_ga" not in browser.cookies
    assert echoed.json()["headers"]["x-consent"] == (
        "preferences=0; analytics=0; marketing=0; revision=1"
    )


def test_accept_all_lets_every_category_through_with_capped_lifetimes(
    browser: httpx.Client,
) -> None:
    accepted = choose(browser, {"action": "accept_all"})
    assert accepted.status_code == 200
    assert accepted.json()["must_show"] is False
    assert all(accepted.json()["categories"].values())
    consent_cookie = next(
        h for h in accepted.headers.get_list("set-cookie") if h.startswith(CONSENT_COOKIE)
    )
    assert "HttpOnly" in consent_cookie and "Max-Age=15811200" in consent_cookie  # 183 days

    response = browser.get("/cookies")
    assert set_cookie_names(response) >= TRACKERS
    ga = next(h for h in response.headers.get_list("set-cookie") if h.startswith("_ga="))
    assert f"Max-Age={MAX_COOKIE_SECONDS}" in ga  # two years asked, 13 months given
    upstream = seen_by_upstream(browser)
    assert set(upstream["cookies"]) >= TRACKERS
    assert CONSENT_COOKIE not in upstream["cookies"]
    assert upstream["headers"]["x-consent"] == "preferences=1; analytics=1; marketing=1; revision=1"


def test_custom_choice_passes_exactly_the_granted_categories(browser: httpx.Client) -> None:
    chosen = choose(browser, {"categories": {"analytics": True, "marketing": False}})
    assert chosen.json()["categories"] == {
        "necessary": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }
    response = browser.get("/cookies")
    assert set_cookie_names(response) & TRACKERS == {"_ga"}
    assert set(seen_by_upstream(browser)["cookies"]) & TRACKERS == {"_ga"}


def test_reject_all_is_as_easy_as_accept_all(browser: httpx.Client) -> None:
    rejected = choose(browser, {"action": "reject_all"})
    assert rejected.status_code == 200
    assert rejected.json()["must_show"] is False
    assert not any(v for k, v in rejected.json()["categories"].items() if k != "necessary")
    assert set_cookie_names(browser.get("/cookies")) & TRACKERS == set()


def test_withdrawal_deletes_cookies_and_takes_effect_on_the_next_request(
    browser: httpx.Client,
) -> None:
    choose(browser, {"action": "accept_all"})
    browser.get("/cookies")
    assert set(browser.cookies.keys()) >= TRACKERS
    first_id = browser.cookies[CONSENT_COOKIE].split("~")[0]

    withdrawn = choose(browser, None)
    assert withdrawn.status_code == 200
    assert set_cookie_names(withdrawn) >= TRACKERS  # expiring headers for each
    assert not TRACKERS & set(browser.cookies.keys())
    assert "sessionid" in browser.cookies
    assert browser.cookies[CONSENT_COOKIE].split("~")[0] == first_id  # same consent id
    upstream = seen_by_upstream(browser)
    assert not TRACKERS & set(upstream["cookies"])
    assert upstream["headers"]["x-consent"].startswith("preferences=0; analytics=0; marketing=0")


def test_reducing_consent_deletes_only_the_withdrawn_category(browser: httpx.Client) -> None:
    choose(browser, {"action": "accept_all"})
    browser.get("/cookies")
    reduced = choose(browser, {"categories": {"analytics": True, "preferences": True}})
    assert set_cookie_names(reduced) & TRACKERS == {"_fbp"}
    assert set(browser.cookies.keys()) & TRACKERS == {"_ga", "theme"}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"not json", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b'{"action": "accept_some"}', "'action'"),
        (b'{"action": "accept_all", "extra": 1}', "'extra'"),
        (b'{"action": "accept_all", "categories": {}}', "exactly one"),
        (b'{"categories": {"analytics": "yes"}}', "categories.analytics"),
        (b'{"categories": {"spying": true}}', "'spying'"),
        (b'{"categories": {"necessary": false}}', "necessary"),
        (b'{"categories": [true]}', "'categories'"),
        (b"{}", "exactly one"),
    ],
)
def test_malformed_bodies_get_400_naming_the_problem(
    browser: httpx.Client, body: bytes, names: str
) -> None:
    token = state(browser)["csrf"]
    response = browser.post("/_consent/state", content=body, headers={"x-csrf-token": token})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_body" and names in error["message"]


def test_oversized_body_gets_413(browser: httpx.Client) -> None:
    token = state(browser)["csrf"]
    response = browser.post(
        "/_consent/state", content=b"{" + b" " * 5000 + b"}", headers={"x-csrf-token": token}
    )
    assert response.status_code == 413


def test_cross_site_requests_are_refused(browser: httpx.Client, gateway: str) -> None:
    token = state(browser)["csrf"]
    body = {"action": "accept_all"}
    no_token = browser.post("/_consent/state", json=body)
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    wrong = browser.post("/_consent/state", json=body, headers={"x-csrf-token": token[:-2] + "xx"})
    assert wrong.status_code == 403
    cross = browser.post(
        "/_consent/state",
        json=body,
        headers={"x-csrf-token": token, "sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_site"
    foreign = browser.post(
        "/_consent/state",
        json=body,
        headers={"x-csrf-token": token, "origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    # A token is bound to its session: another visitor's token is worthless.
    with httpx.Client(base_url=gateway) as other:
        stolen = other.post("/_consent/state", json=body, headers={"x-csrf-token": token})
        assert stolen.status_code == 403
    same = browser.post(
        "/_consent/state",
        json=body,
        headers={"x-csrf-token": token, "origin": gateway},
    )
    assert same.status_code == 200
    assert browser.delete("/_consent/state").status_code == 403  # withdrawal needs it too


@pytest.mark.parametrize(
    "bad",
    ["garbage", "a~b~c", "x" * 3000, "forged"],
)
def test_forged_or_garbage_consent_cookies_count_as_no_choice(
    browser: httpx.Client, bad: str
) -> None:
    if bad == "forged":
        real = CookieSigner(["z" * 40], salt="cg.consent").sign("id~1~analytics+marketing")
        bad = real  # well formed, signed with a key the gateway does not have
    browser.cookies.set(CONSENT_COOKIE, bad)
    current = state(browser)
    assert current["must_show"] is True
    assert current["categories"]["analytics"] is False
    assert set_cookie_names(browser.get("/cookies")) & TRACKERS == set()


def test_expired_choice_counts_as_no_choice(demo_site: str, tmp_path: Path) -> None:
    old = CookieSigner([TEST_KEY], salt="cg.consent", clock=lambda: 1_000_000.0).sign(
        "someid~1~analytics"
    )
    with run_server(create_app(make_settings(demo_site, tmp_path))) as gateway:
        current = httpx.get(gateway + "/_consent/state", cookies={CONSENT_COOKIE: old}).json()
    assert current["must_show"] is True and current["categories"]["analytics"] is False


def test_a_new_policy_revision_asks_again(demo_site: str, tmp_path: Path) -> None:
    with run_server(create_app(make_settings(demo_site, tmp_path))) as gateway:
        with httpx.Client(base_url=gateway) as client:
            choose(client, {"action": "accept_all"})
            cookie = client.cookies[CONSENT_COOKIE]
    bumped = make_settings(demo_site, tmp_path, policy_revision="2")
    with run_server(create_app(bumped)) as gateway:
        with httpx.Client(base_url=gateway, cookies={CONSENT_COOKIE: cookie}) as client:
            current = state(client)
            assert current["must_show"] is True and current["reason"] == "revision_changed"
            assert current["revision"] == "2"
            assert set_cookie_names(client.get("/cookies")) & TRACKERS == set()


def test_gpc_denies_marketing_until_an_explicit_opt_in(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(
        demo_site,
        tmp_path,
        geolocation="on",
        geoip_db=str(dbip_folder()),
        trusted_proxies="127.0.0.1",
        consent_regimes="US=opt-out",
    )
    us_visitor = {"x-forwarded-for": "8.8.8.8"}  # a US address in DB-IP
    with run_server(create_app(settings)) as gateway:
        with httpx.Client(base_url=gateway, headers=us_visitor) as client:
            plain = state(client)
            assert plain["regime"] == "opt-out"
            assert plain["categories"]["marketing"] is True  # opt-out: on until refused
            gpc = state(client, **{"sec-gpc": "1"})
            assert gpc["gpc"] is True
            assert gpc["categories"]["marketing"] is False
            assert gpc["categories"]["analytics"] is True  # by default GPC spares analytics
            cookies = set_cookie_names(client.get("/cookies", headers={"sec-gpc": "1"}))
            assert "_fbp" not in cookies and "_ga" in cookies
            client.headers["sec-gpc"] = "1"
            opted_in = choose(client, {"action": "accept_all"})
            assert opted_in.json()["categories"]["marketing"] is True
            assert "_fbp" in set_cookie_names(client.get("/cookies"))
        with httpx.Client(base_url=gateway, headers={"x-forwarded-for": "81.2.69.160"}) as uk:
            assert state(uk)["regime"] == "opt-in"


def test_gpc_well_known_resource(gateway: str) -> None:
    response = httpx.get(gateway + "/.well-known/gpc.json")
    assert response.status_code == 200
    assert response.json()["gpc"] is True


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"consent_lifetime_days": "400"}, "CG_CONSENT_LIFETIME_DAYS"),
        ({"cookie_default_category": "tracking"}, "CG_COOKIE_DEFAULT_CATEGORY"),
        ({"cookie_rules": "_x=spying"}, "CG_COOKIE_RULES"),
        ({"consent_regimes": "USA=opt-out"}, "CG_CONSENT_REGIMES"),
        ({"consent_categories": "analytics,necessary"}, "CG_CONSENT_CATEGORIES"),
    ],
)
def test_bad_consent_settings_stop_start_up(
    demo_site: str, tmp_path: Path, overrides: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError, match=names):
        create_app(make_settings(demo_site, tmp_path, **overrides))
