"""Fuzzing the request bodies the gateway parses itself: the consent API and the beacon,
and the addresses that reach analytics, through the real app and the real ClickHouse.

Invariants: never a 500 or a traceback; every refusal is the one error shape; a
consent choice grants exactly what its body asked; and no full IP address is
ever stored, whatever addresses the visitors come from.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from gateway.app import create_app
from gateway.settings import Settings
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.conftest import TEST_KEY, make_settings
from tests.fuzz_upstream import create_fuzz_upstream
from tests.inprocess import InProcess, in_process
from tests.servers import run_server

CATEGORIES = ("preferences", "analytics", "marketing")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def consent_cookie(*granted: str) -> str:
    signer = TimestampSigner(TEST_KEY, salt="cg.consent", digest_method=hashlib.sha256)
    return "cg_consent=" + signer.sign(f"fuzz-visitor~1~{'+'.join(granted)}").decode()


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code
    assert isinstance(error["message"], str) and "Traceback" not in error["message"]


class Visitor:
    """One visitor with a session cookie and its CSRF token, as the banner holds them."""

    def __init__(self, gateway: InProcess) -> None:
        self.gateway = gateway
        first = gateway.request("GET", "/_consent/state")
        self.cookie = first.headers["set-cookie"].split(";", 1)[0]
        self.token = first.json()["csrf"]

    def choose(self, body: bytes, **headers: str) -> httpx.Response:
        return self.gateway.request(
            "POST",
            "/_consent/state",
            content=body,
            headers={"cookie": self.cookie, "x-csrf-token": self.token, **headers},
        )


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with run_server(create_fuzz_upstream()) as upstream:
        yield make_settings(
            upstream,
            tmp_path_factory.mktemp("fuzz-bodies"),
            rate_limit_consent="off",
            rate_limit_beacon="off",
            flush_interval=0.2,
        )


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[InProcess]:
    with in_process(create_app(settings)) as app:
        yield app


@pytest.fixture(scope="module")
def visitor(gateway: InProcess) -> Visitor:
    return Visitor(gateway)


# -- the consent API -----------------------------------------------------------------------

choice_bodies = st.one_of(
    st.fixed_dictionaries({"action": st.sampled_from(["accept_all", "reject_all"]) | json_values}),
    st.fixed_dictionaries(
        {
            "categories": st.dictionaries(
                st.sampled_from([*CATEGORIES, "necessary"]) | st.text(max_size=10),
                st.booleans() | json_values,
                max_size=5,
            )
            | json_values
        }
    ),
    st.dictionaries(st.sampled_from(["action", "categories", "extra"]), json_values, max_size=3),
    json_values,
)


def granted_by(body: object) -> dict[str, bool] | None:
    """What a well-formed choice grants, worked out from the contract; None if malformed."""
    if not isinstance(body, dict) or len(body) != 1:
        return None
    if body.get("action") == "accept_all":
        return {c: True for c in CATEGORIES}
    if body.get("action") == "reject_all":
        return {c: False for c in CATEGORIES}
    chosen = body.get("categories")
    if not isinstance(chosen, dict):
        return None
    for name, value in chosen.items():
        if name not in (*CATEGORIES, "necessary") or not isinstance(value, bool):
            return None
        if name == "necessary" and not value:
            return None
    return {c: chosen.get(c) is True for c in CATEGORIES}


@given(choice_bodies)
def test_a_consent_choice_grants_exactly_what_it_asked(visitor: Visitor, body: object) -> None:
    response = visitor.choose(json.dumps(body).encode())
    expected = granted_by(body)
    if expected is None:
        assert_error_shape(response, 400, "invalid_body")
        return
    assert response.status_code == 200, response.text
    assert response.json()["categories"] == {"necessary": True, **expected}


@given(st.binary(max_size=6000))
def test_any_bytes_as_a_choice_get_a_clear_answer(visitor: Visitor, body: bytes) -> None:
    response = visitor.choose(body)
    if len(body) > 4096:
        assert_error_shape(response, 413, "body_too_large")
    elif response.status_code != 200:
        assert_error_shape(response, 400, "invalid_body")


@given(
    st.one_of(
        st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
    ),
    st.sampled_from([None, "cross-site", "same-site", "none"]),
    st.sampled_from(["POST", "DELETE"]),
)
def test_without_the_token_or_from_another_site_nothing_changes(
    visitor: Visitor, token: str | None, fetch_site: str | None, method: str
) -> None:
    headers = {"cookie": visitor.cookie}
    if token is not None:
        headers["x-csrf-token"] = token
    if fetch_site is not None:
        headers["sec-fetch-site"] = fetch_site
    response = visitor.gateway.request(
        method, "/_consent/state", headers=headers, json={"action": "accept_all"}
    )
    if fetch_site is not None:
        assert_error_shape(response, 403, "cross_site")
    else:
        assert_error_shape(response, 403, "csrf_failed")
    assert (
        "set-cookie" not in response.headers or "cg_consent" not in response.headers["set-cookie"]
    )


# -- the beacon ----------------------------------------------------------------------------

events = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["pageview", "engagement", "custom"]),
            "path": st.text(max_size=30).map(lambda s: "/" + s) | json_values,
        },
        optional={
            "title": st.text(max_size=40) | json_values,
            "referrer": st.text(max_size=40),
            "engagement_ms": st.integers(-5, 10**11) | json_values,
            "name": st.text(max_size=30),
            "props": st.dictionaries(st.text(max_size=70), st.text(max_size=300) | json_values),
            "extra": json_values,
        },
    ),
    json_values,
)
beacons = st.one_of(
    st.fixed_dictionaries({"events": st.lists(events, max_size=60)}),
    st.dictionaries(st.sampled_from(["events", "other"]), json_values, max_size=2),
    json_values,
)


@given(beacons, st.booleans())
def test_any_beacon_is_accepted_or_refused_in_the_error_shape(
    gateway: InProcess, body: object, consented: bool
) -> None:
    headers = {"user-agent": FIREFOX, "content-type": "application/json"}
    if consented:
        headers["cookie"] = consent_cookie("analytics")
    response = gateway.request(
        "POST", "/_consent/collect", content=json.dumps(body).encode(), headers=headers
    )
    if response.status_code == 400:
        assert_error_shape(response, 400, "invalid_beacon")
    else:
        assert response.status_code == (202 if consented else 204), response.text


@given(st.binary(max_size=20000))
def test_any_bytes_as_a_beacon_get_a_clear_answer(gateway: InProcess, body: bytes) -> None:
    response = gateway.request("POST", "/_consent/collect", content=body)
    if response.status_code != 204:
        assert_error_shape(response, 400, "invalid_beacon")


# -- addresses: never a full IP stored -----------------------------------------------------

addresses = st.one_of(
    st.ip_addresses(v=4),
    st.ip_addresses(v=6),
    st.ip_addresses(v=4).map(lambda a: ipaddress.IPv6Address(f"::ffff:{a}")),
)


def test_no_full_ip_is_ever_stored(tmp_path: Path) -> None:
    seen: list[str] = []

    with run_server(create_fuzz_upstream()) as upstream:
        settings = make_settings(
            upstream, tmp_path, rate_limit_beacon="off", rate_limit_consent="off"
        )
        with in_process(create_app(settings)) as gateway:

            @given(addresses)
            def visit(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
                seen.append(str(address))
                headers = {"user-agent": FIREFOX, "cookie": consent_cookie("analytics")}
                page = gateway.request("GET", "/page", client=str(address), headers=headers)
                assert page.status_code == 200
                beacon = gateway.request(
                    "POST",
                    "/_consent/collect",
                    client=str(address),
                    headers=headers,
                    json={"events": [{"type": "engagement", "path": "/page", "engagement_ms": 5}]},
                )
                assert beacon.status_code == 202

            visit()
        # Leaving in_process ran the shutdown: the writer flushed everything accepted.
    rows = Storage(settings.clickhouse_dsn).connect().query("SELECT DISTINCT ip FROM events")
    stored = {row[0] for row in rows.result_rows}
    assert stored, "nothing was stored: the check below would prove nothing"
    assert all(ip == network_of(ip) for ip in stored), stored
    # No visitor's own address is among them, unless it was a network address itself.
    full = {str(plain(a)) for a in seen if str(plain(a)) != network_of(a)}
    assert not full & stored


def plain(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def network_of(text: str) -> str:
    """The /24 or /48 network address of ``text``, computed here by ipaddress itself."""
    address = plain(text)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
