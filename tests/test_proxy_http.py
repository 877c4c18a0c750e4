"""Requests and responses cross the gateway as they should: methods, bodies, headers."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.exceptions import SettingsError
from tests.conftest import make_settings
from tests.servers import run_server
from tests.upstreams import GZIPPED


def echo(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def upstream_headers(data: dict[str, object]) -> dict[str, str]:
    headers = data["headers"]
    assert isinstance(headers, list)
    return {key: value for key, value in headers}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_upstream(proxy: str, method: str) -> None:
    body = b"payload" if method in ("POST", "PUT", "PATCH") else None
    data = echo(httpx.request(method, proxy + "/echo/a%20b?x=1&y=%2F", content=body))
    assert data["method"] == method
    assert data["path"] == "/echo/a%20b"  # the raw path is kept, not re-encoded
    assert data["query"] == "x=1&y=%2F"
    assert data["size"] == (len(body) if body else 0)


def test_fixed_length_and_chunked_uploads_arrive_whole(proxy: str) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256(payload).hexdigest()
    fixed = echo(httpx.post(proxy + "/echo", content=payload))
    assert (fixed["size"], fixed["sha256"]) == (len(payload), digest)
    assert upstream_headers(fixed)["content-length"] == str(len(payload))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 100_000):
            yield payload[start : start + 100_000]

    chunked = echo(httpx.post(proxy + "/echo", content=chunks()))
    assert (chunked["size"], chunked["sha256"]) == (len(payload), digest)
    assert upstream_headers(chunked)["transfer-encoding"] == "chunked"


def test_head_204_and_304_have_no_body(proxy: str) -> None:
    with httpx.Client() as client:
        head = client.head(proxy + "/big?size=5000&fixed=1")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == "5000"
        for code in (204, 304):
            response = client.get(proxy + f"/status/{code}")
            assert response.status_code == code
            assert response.content == b""
        # the connection is still usable: no stray body bytes were left on it
        assert client.get(proxy + "/status/200").status_code == 200


def test_compressed_body_passes_byte_for_byte(upstream: str, tmp_path: Path) -> None:
    # The banner changes HTML pages on purpose (tests/test_banner_inject.py); without it
    # nothing is decompressed.
    settings = make_settings(upstream, tmp_path, banner="off")
    with (
        run_server(create_app(settings)) as proxy,
        httpx.stream("GET", proxy + "/gzip", headers={"accept-encoding": "gzip"}) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert raw == GZIPPED
    assert gzip.decompress(raw).startswith(b"<html>")


def test_hop_by_hop_headers_are_dropped_both_ways(proxy: str) -> None:
    data = echo(
        httpx.get(
            proxy + "/echo",
            headers={
                "connection": "keep-alive, x-hop",
                "x-hop": "1",
                "keep-alive": "timeout=5",
                "te": "trailers",
                "proxy-authorization": "Basic Zm9vOmJhcg==",
                "x-end-to-end": "kept",
                "sec-gpc": "1",
            },
        )
    )
    seen = upstream_headers(data)
    for name in ("x-hop", "keep-alive", "te", "proxy-authorization"):
        assert name not in seen, name
    assert seen.get("connection", "keep-alive") == "keep-alive"  # the gateway's own hop
    assert seen["x-end-to-end"] == "kept"
    assert seen["sec-gpc"] == "1"  # the GPC spec forbids removing it

    response = httpx.get(proxy + "/hop")
    assert response.headers["x-public"] == "yes"
    for name in ("x-private", "keep-alive", "proxy-authenticate"):
        assert name not in response.headers, name


def test_forwarding_headers_are_set_and_host_is_the_visitors(proxy: str) -> None:
    data = echo(httpx.get(proxy + "/echo", headers={"host": "www.example.org"}))
    seen = upstream_headers(data)
    assert seen["host"] == "www.example.org"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "www.example.org"


def test_untrusted_peer_cannot_forge_its_address(proxy: str) -> None:
    data = echo(
        httpx.get(
            proxy + "/echo",
            headers={"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"},
        )
    )
    seen = upstream_headers(data)
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"


def test_trusted_proxy_chain_is_extended_and_https_believed(upstream: str, tmp_path: Path) -> None:
    settings = make_settings(upstream, tmp_path, trusted_proxies="127.0.0.1/32")
    with run_server(create_app(settings)) as gateway:
        response = httpx.get(
            gateway + "/echo",
            headers={"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"},
        )
    seen = upstream_headers(echo(response))
    assert seen["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert "Secure" in response.headers["set-cookie"]


def test_redirects_to_the_upstream_origin_are_rewritten(proxy: str, upstream: str) -> None:
    response = httpx.get(
        proxy + "/redirect", params={"to": upstream + "/next?a=1"}, headers={"host": "site.test"}
    )
    assert response.status_code == 302
    assert response.headers["location"] == "http://site.test/next?a=1"
    elsewhere = httpx.get(proxy + "/redirect", params={"to": "https://other.example/x"})
    assert elsewhere.headers["location"] == "https://other.example/x"
    relative = httpx.get(proxy + "/redirect", params={"to": "/local"})
    assert relative.headers["location"] == "/local"


def test_upstream_host_sends_a_fixed_host_and_its_redirects_come_back_public(
    upstream: str, tmp_path: Path
) -> None:
    settings = make_settings(upstream, tmp_path, upstream_host="intranet.school.test:8443")
    with run_server(create_app(settings)) as gateway:
        seen = upstream_headers(echo(httpx.get(gateway + "/echo", headers={"host": "site.test"})))
        assert seen["host"] == "intranet.school.test:8443"
        assert seen["x-forwarded-host"] == "site.test"
        for own in ("http://intranet.school.test:8443", "https://intranet.school.test:8443"):
            response = httpx.get(
                gateway + "/redirect", params={"to": own + "/next"}, headers={"host": "site.test"}
            )
            assert response.headers["location"] == "http://site.test/next"
        other = httpx.get(gateway + "/redirect", params={"to": "http://intranet.school.test/x"})
        assert other.headers["location"] == "http://intranet.school.test/x"  # another port


@pytest.mark.parametrize("value", ["http://site.test", "site.test/app", "a@site.test", "x:99999"])
def test_upstream_host_must_be_a_host(value: str) -> None:
    with pytest.raises(SettingsError, match="CG_UPSTREAM_HOST must be a host name"):
        make_settings("http://127.0.0.1:1", upstream_host=value)


def test_gateway_cookies_never_reach_the_upstream(proxy: str) -> None:
    data = echo(
        httpx.get(
            proxy + "/echo",
            headers={"cookie": "cg_session=abc; sessionid=s1; cg_consent=x; csrftoken=t"},
        )
    )
    assert upstream_headers(data)["cookie"] == "sessionid=s1; csrftoken=t"


def test_reserved_prefix_never_reaches_the_upstream(proxy: str) -> None:
    response = httpx.get(proxy + "/_consent/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_oversized_bodies_get_413(upstream: str, tmp_path: Path) -> None:
    settings = make_settings(upstream, tmp_path, max_body_bytes=1000)
    with run_server(create_app(settings)) as gateway:
        declared = httpx.post(gateway + "/echo", content=b"x" * 1001)
        assert declared.status_code == 413
        assert "1000 bytes" in declared.text

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b"y" * 500

        streamed = httpx.post(
            gateway + "/echo", content=chunks(), headers={"accept": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "body_too_large"
        assert httpx.post(gateway + "/echo", content=b"x" * 1000).status_code == 200


def test_json_clients_get_the_json_error_shape(proxy: str) -> None:
    response = httpx.get(proxy + "/_consent/missing", headers={"accept": "application/json"})
    body = json.loads(response.text)
    assert set(body["error"]) >= {"status", "code", "message"}
