"""``__Host-`` and ``__Secure-`` are prefixes, not categories: ``__Host-_ga`` is ``_ga``.

A prefix only says how a browser let a cookie be set, so a prefixed tracker
needs the consent its bare name needs, both ways through the real app in front
of a real upstream; an operator's rule may still name a prefixed cookie as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.consent.cookie_rules import CookieClassifier
from tests.conftest import TEST_KEY, make_settings
from tests.fuzz_upstream import create_fuzz_upstream
from tests.inprocess import InProcess, in_process
from tests.servers import run_server
from tests.test_fuzz_cookies import sign

HTTPS = {"host": "www.school.example", "x-forwarded-proto": "https"}
OPERATOR_RULES = "__Host-app_state=necessary,__Secure-keep_*=analytics"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with run_server(create_fuzz_upstream()) as upstream:
        settings = make_settings(
            upstream,
            tmp_path_factory.mktemp("prefixes"),
            trusted_proxies="192.0.2.0/24",
            cookie_rules=f"keep_*=necessary,{OPERATOR_RULES}",
        )
        with in_process(create_app(settings)) as app:
            yield app


def site_cookies_set(response: httpx.Response) -> list[str]:
    """The response's ``Set-Cookie`` values but the gateway's session cookie."""
    return [h for h in response.headers.get_list("set-cookie") if "cg_session=" not in h]


def test_a_prefixed_name_is_classified_by_the_name_after_its_prefix() -> None:
    rules = CookieClassifier(
        [("__Host-app_state", "necessary"), ("x_*", "preferences")], "marketing"
    )
    assert rules.category("__Host-_ga") == "analytics"
    assert rules.category("__Secure-_ga_X1") == "analytics"
    assert rules.category("__host-_fbp") == "marketing"  # browsers read prefixes in any case
    assert rules.category("__Secure-__Host-sessionid") == "necessary"
    assert rules.category("__Host-x_layout") == "preferences"
    assert rules.category("__Host-unknown") == "marketing"
    assert rules.category("__Host-app_state") == "necessary"  # named as it is by the operator
    assert rules.category("app_state") == "marketing"


def test_prefixed_trackers_wait_for_consent_both_ways(gateway: InProcess) -> None:
    sent = "__Host-_ga=GA1.1.1; __Secure-_fbp=fb.1; __Host-app_state=1; __Host-keep_cart=2"
    seen = gateway.request("GET", "/echo", headers={**HTTPS, "cookie": sent})
    assert seen.json()["cookies"] == "__Host-app_state=1; __Host-keep_cart=2"
    deleted = [h for h in seen.headers.get_list("set-cookie") if "Max-Age=0" in h]
    assert any(h.startswith("__Host-_ga=;") and "Domain" not in h for h in deleted)
    assert any(h.startswith("__Secure-_fbp=;") for h in deleted)

    set_by_site = [
        "__Host-_ga=GA1.1.2; Path=/; Secure",
        "__Secure-_fbp=fb.2; Path=/; Secure",
        "__Secure-keep_x=1; Path=/; Secure",
        "__Host-app_state=2; Path=/; Secure",
    ]
    before = gateway.request("POST", "/set-cookies", json=set_by_site, headers=HTTPS)
    assert site_cookies_set(before) == ["__Host-app_state=2; Path=/; Secure"]

    consent = sign(TEST_KEY, "cg.consent", "prefix-visitor~1~analytics~0~")
    granted = {**HTTPS, "cookie": f"__Host-cg_consent={consent}"}
    after = gateway.request("POST", "/set-cookies", json=set_by_site, headers=granted)
    assert site_cookies_set(after) == [
        "__Host-_ga=GA1.1.2; Path=/; Secure",
        "__Secure-keep_x=1; Path=/; Secure",  # the operator's rule: analytics
        "__Host-app_state=2; Path=/; Secure",
    ]
