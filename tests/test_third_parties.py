"""Third-party tags held back in pages, the operator's rules, and a service always allowed.

The browser side (release, placeholders, withdrawal) is tests/test_third_parties_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.banner.csp_report import PagePolicy
from gateway.banner.holdback import HoldBack
from gateway.consent.third_parties import ThirdParties
from gateway.demo.site import create_demo_site
from gateway.exceptions import SettingsError
from tests.conftest import make_settings
from tests.servers import run_server

PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8>"
    b'<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
    b"<link rel=stylesheet href='https://fonts.googleapis.com/css?family=Roboto'>"
    b'<link rel="stylesheet" href="/site.css"><link rel="canonical" href="https://youtube.com/x">'
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b'<script type="module">import("//connect.facebook.net/en_US/fbevents.js")</script>'
    b'<script type="application/ld+json">{"video": "https://youtube.com/watch?v=1"}</script>'
    b'<script type="text/plain" data-consent="analytics" src="https://www.clarity.ms/t"></script>'
    b'<script src="https://www.google.com/recaptcha/api.js"></script>'
    b"</head><body><p>See https://www.youtube.com/ for more.</p>"
    b'<iframe src="https://www.youtube.com/embed/x" width=560 height=315></iframe>'
    b'<iframe src="https://www.google.com/maps/embed?pb=1"></iframe>'
    b'<noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=1&amp;ev=PageView"/>'
    b"</noscript><img src=/logo.png></body></html>"
)


def test_known_tags_are_held_and_everything_else_is_left_as_it_was() -> None:
    page, held = HoldBack(ThirdParties()).rewrite(PAGE)
    text = page.decode()
    assert [(h.tag, h.party.provider) for h in held] == [
        ("link", "Google Fonts"),
        ("link", "Google Fonts"),
        ("script", "Google Tag Manager"),
        ("script", "Meta"),
        ("iframe", "YouTube"),
        ("iframe", "Google Maps"),
        ("img", "Meta"),
    ]
    assert (
        '<link rel="preconnect" crossorigin data-consent="preferences" '
        'data-cg-service="google-fonts" data-cg-href="https://fonts.gstatic.com">'
    ) in text
    assert (
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1" type="text/plain" '
        'data-consent="analytics" data-cg-service="google-tag-manager"></script>'
    ) in text
    assert (
        '<script type="text/plain" data-consent="marketing" data-cg-service="meta" '
        'data-type="module">import("//connect.facebook.net/en_US/fbevents.js")</script>'
    ) in text
    assert (
        '<iframe width=560 height=315 data-consent="marketing" data-cg-service="youtube" '
        'data-cg-embed="video" data-cg-provider="YouTube" '
        'data-cg-src="https://www.youtube.com/embed/x"></iframe>'
    ) in text
    assert 'data-cg-embed="map" data-cg-provider="Google Maps"' in text
    assert (
        '<img height="1" width="1" data-consent="marketing" data-cg-service="meta" '
        'data-cg-src="https://www.facebook.com/tr?id=1&amp;ev=PageView" />'
    ) in text
    for untouched in (
        '<link rel="stylesheet" href="/site.css">',
        '<link rel="canonical" href="https://youtube.com/x">',
        '<script type="application/ld+json">',
        '<script type="text/plain" data-consent="analytics" src="https://www.clarity.ms/t">',
        '<script src="https://www.google.com/recaptcha/api.js">',  # necessary
        "<p>See https://www.youtube.com/ for more.</p>",
        "<img src=/logo.png>",
    ):
        assert untouched in text


def test_a_page_without_third_parties_is_not_rewritten() -> None:
    page = b"<html><head></head><body><a href='https://example.org/'>x</a></body></html>"
    assert HoldBack(ThirdParties())(page) is None


def test_the_operators_rules_come_first() -> None:
    parties = ThirdParties(
        (("fonts.googleapis.com", "necessary"), ("cdn.tracker.example", "analytics")),
        {"necessary", "analytics", "marketing"},
    )
    page = (
        b'<link rel=stylesheet href="https://fonts.googleapis.com/css">'
        b'<script src="https://eu.cdn.tracker.example/t.js"></script>'
    )
    changed, held = HoldBack(parties).rewrite(page)
    assert [(h.party.provider, h.party.category) for h in held] == [
        ("cdn.tracker.example", "analytics")
    ]
    assert b'<link rel=stylesheet href="https://fonts.googleapis.com/css">' in changed


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ((("https://x.example", "marketing"),), "must name hosts"),
        ((("localhost", "marketing"),), "must name hosts"),
        ((("cdn.example.org", "ads"),), "not a consent category"),
    ],
)
def test_bad_rules_stop_start_up(rules: tuple[tuple[str, str], ...], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        ThirdParties(rules, {"necessary", "marketing"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_server(create_demo_site()) as site:
        settings = make_settings(site, tmp_path_factory.mktemp("third-parties"))
        with run_server(create_app(settings)) as gateway:
            yield gateway


def test_the_demos_open_day_is_held_back_and_loads_the_release_script(demo: str) -> None:
    page = httpx.get(f"{demo}/open-day").text
    assert 'type="text/plain" data-consent="analytics" data-cg-service="google-tag-manager"' in page
    assert 'data-cg-src="https://www.youtube-nocookie.com/embed/' in page
    assert "/_consent/third-parties.js?v=" in page
    assert "/_consent/third-parties.js" not in httpx.get(f"{demo}/courses").text
    script = httpx.get(f"{demo}/_consent/third-parties.js")
    assert script.status_code == 200 and "cg-ph" in script.text


def test_the_release_script_carries_the_pages_nonce(tmp_path: Path) -> None:
    async def strict(request: Request) -> HTMLResponse:
        return HTMLResponse(
            '<html><head><script nonce="r4nd0m" async '
            'src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></head></html>',
            headers={"Content-Security-Policy": "script-src 'nonce-r4nd0m' 'strict-dynamic'"},
        )

    with run_server(Starlette(routes=[Route("/", strict)])) as site:
        with run_server(create_app(make_settings(site, tmp_path))) as gateway:
            page = httpx.get(gateway).text
    assert '<script nonce="r4nd0m" async src="/_consent/third-parties.js?v=' in page


def consent(client: httpx.Client, method: str, body: Any = None) -> httpx.Response:
    token = client.get("/_consent/state").json()["csrf"]
    return client.request(method, "/_consent/state", json=body, headers={"x-csrf-token": token})


def test_always_allow_a_service_is_a_choice_kept_beside_the_categories(demo: str) -> None:
    with httpx.Client(base_url=demo, headers={"sec-fetch-site": "same-origin"}) as client:
        assert client.get("/_consent/state").json()["services"] == []
        answer = consent(client, "POST", {"services": {"youtube": True}})
        assert answer.status_code == 200
        assert answer.json()["services"] == ["youtube"]
        assert answer.json()["must_show"] is False
        assert answer.json()["categories"]["marketing"] is False
        answer = consent(client, "POST", {"categories": {"analytics": True}})
        assert answer.json()["services"] == ["youtube"]
        assert answer.json()["categories"]["analytics"] is True
        answer = consent(client, "POST", {"services": {"youtube": False, "vimeo": True}})
        assert answer.json()["services"] == ["vimeo"]
        assert answer.json()["categories"]["analytics"] is True
        for body, words in (
            ({"services": {"doubleclick": True}}, "Unknown service"),
            ({"services": {"youtube": "yes"}}, "must be true or false"),
            ({"services": []}, "must be an object"),
            ({"services": {"youtube": True}, "action": "accept_all"}, "exactly one"),
        ):
            refused = consent(client, "POST", body)
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "invalid_body"
            assert words in refused.json()["error"]["message"]
        assert consent(client, "DELETE").json()["services"] == []


STRICT = "script-src 'nonce-r4nd0m' 'strict-dynamic'; object-src 'none'; base-uri 'none'"


async def strict_page(request: Request) -> HTMLResponse:
    """A page with a strict policy of its own and a report-only one, and a Google tag."""
    return HTMLResponse(
        '<html><head><script nonce="r4nd0m" async '
        'src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></head>'
        '<body><p>Timetables</p><img src="https://cdn.unknown-example.org/pixel.png" alt="">'
        "</body></html>",
        headers={
            "Content-Security-Policy": STRICT,
            "Content-Security-Policy-Report-Only": "img-src 'self'; report-uri /their-reports",
        },
    )


@pytest.mark.parametrize("enforce", ["off", "on"])
def test_the_gateways_policy_goes_beside_the_sites_and_follows_consent(
    tmp_path: Path, enforce: str
) -> None:
    with run_server(Starlette(routes=[Route("/", strict_page)])) as site:
        settings = make_settings(site, tmp_path, csp_enforce=enforce)
        with run_server(create_app(settings)) as gateway:
            with httpx.Client(base_url=gateway, headers={"sec-fetch-site": "same-origin"}) as c:
                before = c.get("/").headers
                consent(c, "POST", {"categories": {"analytics": True}})
                after = c.get("/").headers
    enforced = before.get_list("content-security-policy")
    reported = before.get_list("content-security-policy-report-only")
    # The site's own policies are still there, as they were (the inline tag's nonce allowed).
    assert enforced[0] == STRICT
    assert reported[0] == "img-src 'self'; report-uri /their-reports"
    ours = (enforced if enforce == "on" else reported)[1]
    assert len(enforced) + len(reported) == 3
    assert ours.startswith("default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob: ")
    assert ours.endswith("; report-uri /_consent/csp-report")
    assert " www.google.com/recaptcha/ " in ours  # necessary: always
    assert "googletagmanager.com" not in ours
    mine = (
        after.get_list("content-security-policy")
        if enforce == "on"
        else after.get_list("content-security-policy-report-only")
    )[1]
    assert " googletagmanager.com *.googletagmanager.com " in mine
    assert "youtube.com" not in mine


def test_reports_are_read_bounded_and_refused_in_the_error_shape(demo: str) -> None:
    url = f"{demo}/_consent/csp-report"
    classic = {"csp-report": {"blocked-uri": "https://cdn.unknown-example.org/x.png"}}
    assert httpx.post(url, json=classic).status_code == 204
    modern = [{"type": "csp-violation", "body": {"blockedURL": "https://www.clarity.ms/t"}}]
    assert httpx.post(url, json=modern).status_code == 204
    for body, status, code in (
        (b"not json", 400, "invalid_report"),
        (b'{"report": 1}', 400, "invalid_report"),
        (b"[" * 5000, 400, "invalid_report"),
        (b"x" * 20_000, 413, "body_too_large"),
    ):
        refused = httpx.post(url, content=body, headers={"content-type": "application/csp-report"})
        assert refused.status_code == status
        assert refused.json()["error"]["code"] == code


def test_the_readmes_rules_work_as_it_says() -> None:
    readme = Path(__file__).resolve().parent.parent / "static" / "consent-banner" / "README.md"
    found = re.search(r"`CG_THIRD_PARTY_RULES=(\S+)`", readme.read_text(encoding="utf-8"))
    assert found is not None, "the README lost its CG_THIRD_PARTY_RULES example"
    settings = make_settings("http://127.0.0.1:9", third_party_rules=found.group(1))
    parties = ThirdParties(settings.third_party_rules, {"necessary", *settings.consent_categories})
    assert HoldBack(parties)(b'<link rel=stylesheet href="https://fonts.googleapis.com/c">') is None
    held = parties.held("eu.cdn.chat.example")
    assert held is not None and held.category == "preferences"


def test_the_cookie_databases_tracker_hosts_come_after_the_list_and_the_rules() -> None:
    parties = ThirdParties((("pixel.quantserve.com", "analytics"),), {"necessary", "analytics"})
    # Hosts only the Open Cookie Database names, with its platform as the provider.
    held = ThirdParties().held("secure.quantserve.com")
    assert held is not None and (held.provider, held.category) == ("Quantcast", "marketing")
    # A host whose rows include functional ones (PayPal's buttons) is left alone.
    assert ThirdParties().lookup("www.paypal.com") is None
    # The package's list wins over the database (which calls hotjar.com "Beamer").
    hotjar = ThirdParties().lookup("static.hotjar.com")
    assert hotjar is not None and hotjar.provider == "Hotjar"
    # The operator's rules win over both.
    rule = parties.lookup("pixel.quantserve.com")
    assert rule is not None and rule.category == "analytics"
    page = b'<script src="https://secure.quantserve.com/quant.js"></script>'
    assert b'type="text/plain" data-consent="marketing"' in (HoldBack(ThirdParties())(page) or b"")


def test_a_visitor_who_granted_everything_gets_a_policy_that_allows_any_host() -> None:
    categories = frozenset({"preferences", "analytics", "marketing"})
    policy = PagePolicy(ThirdParties(), "/_consent/", False, categories)
    _, everything = policy.for_granted(categories)
    assert everything == (
        b"default-src * 'unsafe-inline' 'unsafe-eval' data: blob:; report-uri /_consent/csp-report"
    )
    _, some = policy.for_granted(frozenset({"analytics"}))
    assert b" quantserve.com " not in some and b" amplitude.com *.amplitude.com" in some
