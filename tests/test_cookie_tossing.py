"""Cookie tossing: a cookie planted in the visitor's browser never stands for the gateway's own.

A sibling subdomain or a plain-HTTP page of the host can plant cookies, but not
``__Host-`` ones. Behind HTTPS the gateway's cookies are ``__Host-cg_*`` and the
unprefixed names are ignored and deleted; two cookies of the name the gateway
reads are both distrusted and deleted; no ``cg_*`` cookie, prefixed or not, goes
to the site or comes from it. The real app runs in-process behind a trusted
proxy (the client address is in ``CG_TRUSTED_PROXIES``) in front of a real
upstream that reports the ``Cookie`` and ``X-Consent`` headers it receives; the
test keeps the browser's cookies itself, as a browser on a secure page would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import make_settings
from tests.fuzz_upstream import create_fuzz_upstream
from tests.inprocess import InProcess, in_process
from tests.servers import run_server

PROXY = "192.0.2.10"  # InProcess's default peer: inside CG_TRUSTED_PROXIES below
STRANGER = "198.51.100.20"  # a peer outside it, whose X-Forwarded-Proto counts for nothing
HOST = "www.school.example"
HTTPS = {"host": HOST, "x-forwarded-proto": "https"}
HTTP = {"host": HOST}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with run_server(create_fuzz_upstream()) as upstream:
        settings = make_settings(
            upstream,
            tmp_path_factory.mktemp("tossing"),
            trusted_proxies="192.0.2.0/24",
            cookie_rules="keep_*=necessary",
            rate_limit_consent="off",
        )
        with in_process(create_app(settings)) as app:
            yield app


def attributes(header: str) -> dict[str, str]:
    """A ``Set-Cookie`` value's attributes, by lower-case name (flags map to "")."""
    found = {}
    for part in header.split(";")[1:]:
        key, _, value = part.partition("=")
        found[key.strip().lower()] = value.strip()
    return found


def pair(header: str) -> tuple[str, str]:
    name, _, value = header.split(";", 1)[0].partition("=")
    return name.strip(), value.strip()


def deletions(response: httpx.Response) -> set[tuple[str, str, str]]:
    """``(name, path, domain)`` of every cookie the response deletes."""
    found = set()
    for header in response.headers.get_list("set-cookie"):
        attrs = attributes(header)
        if attrs.get("max-age") == "0":
            found.add((pair(header)[0], attrs.get("path", ""), attrs.get("domain", "")))
    return found


class Browser:
    """The cookies one visitor's browser holds for the host, kept by name as it sends them."""

    def __init__(self, gateway: InProcess, headers: dict[str, str], client: str = PROXY) -> None:
        self.gateway = gateway
        self.headers = headers
        self.client = client
        self.jar: dict[str, str] = {}
        self.set: list[str] = []  # every Set-Cookie received, in order

    def request(self, method: str, path: str, *, cookie: str = "", **kwargs: Any) -> httpx.Response:
        sent = "; ".join(
            [*(f"{k}={v}" for k, v in self.jar.items()), *([cookie] if cookie else [])]
        )
        headers = {**self.headers, **kwargs.pop("headers", {}), "cookie": sent}
        response = self.gateway.request(method, path, client=self.client, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set.append(header)
            name, value = pair(header)
            if attributes(header).get("max-age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def choose(self, action: str) -> httpx.Response:
        token = self.request("GET", "/_consent/state").json()["csrf"]
        answer = self.request(
            "POST",
            "/_consent/state",
            json={"action": action},
            headers={"x-csrf-token": token, "sec-fetch-site": "same-origin"},
        )
        assert answer.status_code == 200, answer.text
        return answer


def test_behind_https_the_gateway_cookies_carry_the_host_prefix(gateway: InProcess) -> None:
    visitor = Browser(gateway, HTTPS)
    visitor.choose("accept_all")
    assert set(visitor.jar) == {"__Host-cg_session", "__Host-cg_consent"}
    for header in visitor.set:
        attrs = attributes(header)
        assert "secure" in attrs and attrs["path"] == "/" and "domain" not in attrs, header
    seen = visitor.request("GET", "/echo", cookie="keep_cart=1").json()
    assert seen["cookies"] == "keep_cart=1"  # the gateway's cookies never reach the site
    assert "analytics=1" in seen["consent"]
    # Erasing from the privacy page deletes them under the names they have.
    token = visitor.request("GET", "/_consent/state").json()["csrf"]
    erased = visitor.request(
        "POST",
        "/_consent/privacy/erase",
        json={"confirm": True},
        headers={"x-csrf-token": token, "sec-fetch-site": "same-origin"},
    )
    assert erased.status_code == 202, erased.text
    assert {("__Host-cg_consent", "/", ""), ("__Host-cg_session", "/", "")} <= deletions(erased)
    assert visitor.jar == {}

    # Over plain HTTP, and from a peer that only claims HTTPS, the names stay as they were.
    for headers, client in ((HTTP, PROXY), (HTTPS, STRANGER)):
        plain = Browser(gateway, headers, client)
        plain.choose("accept_all")
        assert set(plain.jar) == {"cg_session", "cg_consent"}
        assert not any("secure" in attributes(header) for header in plain.set)


def test_behind_https_a_tossed_unprefixed_consent_cookie_counts_for_nothing(
    gateway: InProcess,
) -> None:
    # The attacker gets a consent cookie of their own (a plain-HTTP page of the site
    # gives one without the prefix) and plants it in the victim's browser from a
    # sibling subdomain, before the victim has chosen anything.
    attacker = Browser(gateway, HTTP)
    attacker.choose("accept_all")
    theirs = attacker.jar["cg_consent"]
    victim = Browser(gateway, HTTPS)
    victim.jar["cg_consent"] = theirs
    page = victim.request("GET", "/echo")
    assert "analytics=0" in page.json()["consent"]
    assert ("cg_consent", "/", "") in deletions(page)
    assert ("cg_consent", "/", "school.example") in deletions(page)
    assert "cg_consent" not in victim.jar
    victim.jar["cg_consent"] = theirs
    state = victim.request("GET", "/_consent/state").json()
    assert state["must_show"] is True and state["categories"]["analytics"] is False


@pytest.mark.parametrize("headers", [HTTP, HTTPS], ids=["http", "https"])
def test_two_cookies_of_one_gateway_name_are_both_distrusted_and_deleted(
    gateway: InProcess, headers: dict[str, str]
) -> None:
    attacker = Browser(gateway, headers)
    attacker.choose("accept_all")
    victim = Browser(gateway, headers)
    victim.choose("reject_all")
    name = "__Host-cg_consent" if headers is HTTPS else "cg_consent"
    # A cookie at a longer path is sent first: the tossed one comes before the victim's.
    both = f"{name}={attacker.jar[name]}; {name}={victim.jar.pop(name)}"
    visited = "/shop/basket/item"
    page = victim.request("GET", visited, cookie=both)
    assert page.status_code == 404  # the upstream's own answer: the request went through
    deleted = deletions(page)
    if headers is HTTPS:
        assert deleted >= {(name, "/", "")}  # a __Host- cookie can only be there
        assert not any(n == name and (p, d) != ("/", "") for n, p, d in deleted)
    else:
        for path in ("/", "/shop", "/shop/basket", "/shop/basket/item"):
            for domain in ("", HOST, "school.example"):
                assert (name, path, domain) in deleted
    assert "analytics=0" in victim.request("GET", "/echo", cookie=both).json()["consent"]
    state = victim.request("GET", "/_consent/state", cookie=both).json()
    assert state["must_show"] is True  # neither choice is believed

    # The same for the session: the new one is set after the deletions, so it stays.
    session = "__Host-cg_session" if headers is HTTPS else "cg_session"
    doubled = f"{session}={victim.jar[session]}"  # a second copy of the victim's own
    answer = victim.request("GET", "/echo", cookie=doubled)
    lines = [h for h in answer.headers.get_list("set-cookie") if pair(h)[0] == session]
    assert (session, "/", "") in deletions(answer)
    assert attributes(lines[-1])["max-age"] != "0"
    assert pair(lines[-1])[1] != pair(doubled)[1]


def test_no_gateway_cookie_reaches_the_site_or_comes_from_it(gateway: InProcess) -> None:
    visitor = Browser(gateway, HTTPS)
    visitor.request("GET", "/_consent/state")
    planted = "__Secure-cg_consent=x; __host-cg_session=y; __Host-cg_admin=z; keep_cart=1"
    seen = visitor.request("GET", "/echo", cookie=planted).json()
    assert seen["cookies"] == "keep_cart=1"
    forged = [
        "__Host-cg_consent=forged; Path=/; Secure",
        "__Host-cg_session=forged; Path=/; Secure",
        "__Secure-cg_consent=forged; Path=/; Secure",
        "keep_cart=2; Path=/",
    ]
    answer = visitor.request("POST", "/set-cookies", json=forged)
    assert [h for h in answer.headers.get_list("set-cookie") if "forged" in h] == []
    assert "keep_cart=2; Path=/" in answer.headers.get_list("set-cookie")
