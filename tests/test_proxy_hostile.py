"""Hostile requests at the proxy: foreign upgrades, spoofed identity headers, forged Hosts,
absolute-form websocket targets. Real sockets to a real gateway and upstream."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.app import create_app
from gateway.exceptions import SettingsError
from tests.conftest import make_settings
from tests.servers import run_server


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """The reporting upstream, shared by the module (a gateway's start-up is the slow part)."""
    from tests.upstreams import create_upstream

    with run_server(create_upstream()) as url:
        yield url


@pytest.fixture(scope="module")
def proxy(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway with default settings, shared by the module."""
    settings = make_settings(upstream, tmp_path_factory.mktemp("proxy"))
    with run_server(create_app(settings)) as url:
        yield url


def raw_exchange(url: str, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` and read until the gateway closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as stream:
        stream.sendall(data)
        received = b""
        while chunk := stream.recv(65536):
            received += chunk
        return received


def seen_headers(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.text
    seen: dict[str, list[str]] = {}
    for key, value in response.json()["headers"]:
        seen.setdefault(key, []).append(value)
    return seen


# -- an Upgrade that is not a websocket ------------------------------------------------


def test_a_foreign_upgrade_with_a_body_is_refused_at_once(proxy: str) -> None:
    body = b"x" * 10
    answer = raw_exchange(
        proxy,
        b"POST /echo HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: foo\r\n"
        b"Content-Length: 10\r\n\r\n" + body,
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(payload)["error"]["code"] == "unsupported_upgrade"


def test_a_foreign_upgrade_with_a_chunked_body_is_refused(proxy: str) -> None:
    answer = raw_exchange(
        proxy,
        b"POST /echo HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_a_foreign_upgrade_without_a_body_is_served_plainly_then_closed(proxy: str) -> None:
    answer = raw_exchange(
        proxy,
        b"GET /echo HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in head.lower()
    seen = {key: value for key, value in json.loads(payload)["headers"]}
    assert "upgrade" not in seen
    assert "http2-settings" not in seen  # named in Connection: hop-by-hop


# -- identity headers only the gateway may set ------------------------------------------

SPOOFED = {
    "X-Real-IP": "203.0.113.9",
    "True-Client-IP": "203.0.113.9",
    "CF-Connecting-IP": "203.0.113.9",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/admin",
    "X-Original-URL": "/admin/",
    "X-Rewrite-URL": "/admin/",
    "X-Client-IP": "203.0.113.9",
    "X-Forwarded-Ssl": "on",
    "X_Consent": "analytics=1; marketing=1",
    "X_Forwarded_For": "203.0.113.9",
    "X_Forwarded_Proto": "https",
    "X_Real_IP": "203.0.113.9",
    "Proxy_Authorization": "Basic Zm9vOmJhcg==",
}


def test_identity_headers_are_the_gateways_alone(proxy: str) -> None:
    seen = seen_headers(httpx.get(proxy + "/echo", headers=SPOOFED))
    for name in SPOOFED:
        if name.lower() not in ("x-real-ip",):
            assert name.lower() not in seen, name
    assert seen["x-real-ip"] == ["127.0.0.1"]  # the gateway's, from the trusted-proxy rule
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert len(seen["x-consent"]) == 1
    assert "analytics=0" in seen["x-consent"][0]


def test_x_real_ip_comes_from_the_trusted_proxy_rule(upstream: str, tmp_path: Path) -> None:
    settings = make_settings(upstream, tmp_path, trusted_proxies="127.0.0.1/32")
    with run_server(create_app(settings)) as gateway:
        response = httpx.get(
            gateway + "/echo",
            headers={"x-forwarded-for": "198.51.100.7", "x-real-ip": "203.0.113.9"},
        )
    assert seen_headers(response)["x-real-ip"] == ["198.51.100.7"]


@pytest.mark.parametrize(
    "nominated",
    ["Host", "Cookie", "X-Forwarded-For", "X-Consent", "X-Real-IP", "Sec-GPC", "Content-Length"],
)
def test_a_connection_token_cannot_remove_what_the_gateway_sets(proxy: str, nominated: str) -> None:
    response = httpx.post(
        proxy + "/echo",
        content=b"hello",
        headers={"connection": f"keep-alive, {nominated}", "sec-gpc": "1", "cookie": "a=1"},
    )
    seen = seen_headers(response)
    assert response.json()["size"] == 5
    for name in ("host", "x-forwarded-for", "x-consent", "x-real-ip", "sec-gpc"):
        assert len(seen[name]) == 1, name
    assert seen["content-length"] == ["5"]


# -- Host --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_hosts(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(
        upstream, tmp_path_factory.mktemp("hosts"), allowed_hosts="www.school.test,.trust.test"
    )
    with run_server(create_app(settings)) as url:
        yield url


@pytest.mark.parametrize(
    "host",
    ["www.school.test", "WWW.School.Test:8080", "trust.test", "a.b.trust.test", "trust.test."],
)
def test_allowed_hosts_pass(strict_hosts: str, host: str) -> None:
    response = httpx.get(strict_hosts + "/echo", headers={"host": host})
    assert response.status_code == 200
    assert seen_headers(response)["x-forwarded-host"] == [host]


@pytest.mark.parametrize(
    "host", ["evil.test", "school.test", "eviltrust.test", "www.school.test.evil.test"]
)
def test_a_host_not_listed_gets_400(strict_hosts: str, host: str) -> None:
    response = httpx.get(strict_hosts + "/redirect?to=/x", headers={"host": host})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "host_not_allowed"
    assert "location" not in response.headers


def test_a_host_not_listed_cannot_reach_the_gateways_own_routes(strict_hosts: str) -> None:
    response = httpx.get(strict_hosts + "/_consent/state", headers={"host": "evil.test"})
    assert response.status_code == 400


@pytest.mark.parametrize("host", ["a@evil.test", "evil.test/x", "site test", "site.test:99999"])
def test_a_malformed_host_is_refused_even_without_a_list(proxy: str, host: str) -> None:
    answer = raw_exchange(
        proxy, f"GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    )
    if answer.startswith(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain"):
        return  # uvicorn's parser refused it first, which is as good
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(payload)["error"]["code"] == "host_not_allowed"


def test_a_second_host_header_is_refused(strict_hosts: str) -> None:
    # The Host the upstream receives must be the one checked (RFC 9112 section 3.2).
    answer = raw_exchange(
        strict_hosts,
        b"GET /echo HTTP/1.1\r\nHost: www.school.test\r\nHost: evil.test\r\n"
        b"Connection: close\r\n\r\n",
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(payload)["error"]["code"] == "bad_host"


def test_http_1_0_without_a_host_reaches_the_upstream_by_its_own_name(
    proxy: str, upstream: str
) -> None:
    answer = raw_exchange(proxy, b"GET /echo HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    seen = dict(json.loads(answer.partition(b"\r\n\r\n")[2])["headers"])
    assert seen["host"] == upstream.removeprefix("http://")


def test_an_empty_list_keeps_answering_any_well_formed_host(proxy: str) -> None:
    assert httpx.get(proxy + "/echo", headers={"host": "anything.test"}).status_code == 200


async def test_a_websocket_for_a_host_not_listed_is_refused(strict_hosts: str) -> None:
    url = strict_hosts.replace("http://", "ws://") + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers={"host": "evil.test"}):
            pass
    assert refused.value.response.status_code == 400


def test_a_bad_pattern_stops_start_up(upstream: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CG_ALLOWED_HOSTS"):
        make_settings(upstream, tmp_path, allowed_hosts="https://www.school.test/")


# -- websocket handshakes with an absolute-form target ---------------------------------


def handshake(target: str, host: str = "gw.test") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def first_answer(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as stream:
        stream.sendall(data)
        return stream.recv(65536)


@pytest.mark.parametrize(
    "target", ["http://example.com/ws", "http://gw.test.evil.test/ws", "ftp://gw.test/ws", "*"]
)
def test_an_absolute_form_websocket_target_naming_another_host_is_a_400(
    proxy: str, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = first_answer(proxy, handshake(target))
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(payload)["error"]["code"] == "bad_target"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_an_absolute_form_websocket_target_on_the_same_host_is_relayed(proxy: str) -> None:
    answer = first_answer(proxy, handshake("http://gw.test:80/ws?x=1"))
    assert answer.startswith(b"HTTP/1.1 101 "), answer


def test_an_absolute_form_target_cannot_reach_past_the_reserved_prefix(proxy: str) -> None:
    # Once the target is a path again, the reserved prefix is the gateway's, never proxied.
    answer = first_answer(proxy, handshake("http://gw.test/_consent/ws"))
    assert not answer.startswith(b"HTTP/1.1 101 "), answer
