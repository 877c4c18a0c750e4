"""Connection limits over real sockets: head size, header count, slow clients, connections.

Each test speaks raw HTTP/1.1 to a real gateway under uvicorn, because these
limits live below the app, in the protocol (gateway/limits.py). Timeouts are
set short so the tests are quick; what is asserted is the answer (408, 431,
503, a closed connection), never how long it took.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.limits import ConnectionLimits, limited_protocol
from tests.conftest import make_settings
from tests.servers import run_server

LIMITS = ConnectionLimits(
    max_header_bytes=8192, max_headers=30, header_timeout=0.6, body_timeout=0.6, max_connections=50
)


@contextmanager
def limited_gateway(upstream: str, tmp_path: Path, limits: ConnectionLimits) -> Iterator[str]:
    app = create_app(make_settings(upstream, tmp_path))
    with run_server(
        app, http=limited_protocol(limits), limit_concurrency=limits.max_connections
    ) as url:
        yield url


@pytest.fixture
def gateway(demo_site: str, tmp_path: Path) -> Iterator[str]:
    with limited_gateway(demo_site, tmp_path, LIMITS) as url:
        yield url


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status_and_error(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"connection: close" in head.lower()
    error: dict[str, Any] = json.loads(body)["error"]
    return status, error


def test_a_head_over_the_limit_gets_431_and_the_gateway_carries_on(gateway: str) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        status, error = status_and_error(read_all(sock))
    assert (status, error["code"]) == (431, "headers_too_large")
    assert httpx.get(gateway + "/").status_code == 200


def test_an_endless_header_line_is_cut_before_it_ends(gateway: str) -> None:
    # The line never ends: the gateway must not wait for it (or buffer it) to refuse.
    with connect(gateway) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        refused = b""
        for _ in range(100):
            try:
                sock.sendall(b"b" * 1024)
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            refused = read_all(sock)
        except ConnectionResetError:
            refused = b""
    assert refused == b"" or status_and_error(refused)[0] == 431


def test_too_many_headers_get_431(gateway: str) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % number for number in range(31))
    with connect(gateway) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        status, error = status_and_error(read_all(sock))
    assert (status, error["code"]) == (431, "too_many_headers")


def test_a_large_but_allowed_head_passes(gateway: str) -> None:
    cookie = "; ".join(f"c{n}={'v' * 60}" for n in range(100))  # ~6.5 KB of cookies
    headers = {f"x-h{n}": "v" for n in range(20)}
    response = httpx.get(gateway + "/echo", headers={"cookie": cookie, **headers})
    assert response.status_code == 200


def test_a_slowloris_client_is_cut_off_however_steadily_it_trickles(gateway: str) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        refused = b""
        for _ in range(200):  # a header byte every 50 ms: never idle, never finished
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
            sock.setblocking(False)
            try:
                refused += sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if refused:
                break
        assert refused, "the slow client was never cut off"
    status, error = status_and_error(refused)
    assert (status, error["code"]) == (408, "request_timeout")


def test_a_connection_that_never_speaks_is_closed(gateway: str) -> None:
    with connect(gateway) as sock:
        status, error = status_and_error(read_all(sock))
    assert (status, error["code"]) == (408, "request_timeout")


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_request(
    gateway: str,
) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing more
        rest = read_all(sock)
    # Whatever of the first answer was still in flight, the connection ends in a 408.
    assert b"HTTP/1.1 408" in rest


def test_a_stalled_upload_gets_408_and_the_gateway_carries_on(gateway: str) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
        status, error = status_and_error(read_all(sock))
    assert (status, error["code"]) == (408, "request_timeout")
    assert httpx.post(gateway + "/echo", content=b"b" * 1000).status_code == 200


def test_a_slow_but_steady_upload_is_not_cut(gateway: str) -> None:
    # Pauses shorter than the body timeout, for longer than it in total.
    with connect(gateway) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        for _ in range(10):
            time.sleep(0.15)
            sock.sendall(b"a")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200")


def test_past_max_connections_new_requests_get_503(demo_site: str, tmp_path: Path) -> None:
    limits = ConnectionLimits(max_connections=2, header_timeout=10)
    with limited_gateway(demo_site, tmp_path, limits) as url:
        held = [connect(url), connect(url)]
        try:
            time.sleep(0.2)  # let the server register both connections
            response = httpx.get(url + "/")
            assert response.status_code == 503
        finally:
            for sock in held:
                sock.close()
        for _ in range(50):  # the server notices the closes asynchronously
            if httpx.get(url + "/").status_code == 200:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the gateway did not recover after the connections closed")


def test_serve_uses_the_settings(demo_site: str, tmp_path: Path) -> None:
    from gateway.cli import COMMANDS
    from gateway.server import connection_limits, gateway_listeners, uvicorn_config

    settings = make_settings(
        demo_site, tmp_path, max_header_bytes=4096, max_headers=20, header_timeout=3
    )
    assert connection_limits(settings).max_header_bytes == 4096
    listeners = gateway_listeners(settings, COMMANDS)
    config = uvicorn_config(listeners[0])
    assert config.http.limits.max_headers == 20  # type: ignore[union-attr]
    assert config.limit_concurrency == settings.max_connections
