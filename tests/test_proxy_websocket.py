"""Websockets are relayed both ways, with the gateway's cookies kept from the upstream."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import free_port, run_raw_server, run_server
from tests.test_upstream_client import self_signed
from tests.upstreams import create_upstream, ws_echo


async def test_text_and_binary_frames_cross_both_ways(proxy: str) -> None:
    url = proxy.replace("http://", "ws://") + "/ws"
    async with connect(
        url,
        subprotocols=[Subprotocol("chat")],
        additional_headers={"cookie": "cg_session=x; sessionid=1; _ga=2"},
    ) as ws:
        assert ws.subprotocol == "chat"
        await ws.send("hello")
        assert await ws.recv() == "echo:hello|cookie:sessionid=1"
        await ws.send(b"\x01\x02\x03")
        assert await ws.recv() == b"\x03\x02\x01"
        for n in range(20):
            await ws.send(f"m{n}")
        replies = [await asyncio.wait_for(ws.recv(), 5) for _ in range(20)]
        assert replies[-1] == "echo:m19|cookie:sessionid=1"


async def test_refused_upstream_websocket_refuses_the_visitor(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with run_server(create_app(make_settings(closed, tmp_path))) as gateway:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(gateway.replace("http://", "ws://") + "/ws"):
                pass
    assert refused.value.response.status_code == 403


# -- what the upstream receives ---------------------------------------------------------


async def report(websocket: WebSocket) -> None:
    """Tells the visitor what the upstream received in the handshake."""
    await websocket.accept()
    scope = websocket.scope
    await websocket.send_json(
        {
            "path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        }
    )
    await websocket.receive()


async def close_with(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(int(websocket.path_params["code"]))


@pytest.fixture(scope="module")
def under_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A gateway (as ws://) in front of an upstream at the base path /app, and that upstream."""
    routes = [
        WebSocketRoute("/app/report", report),
        WebSocketRoute("/app/close/{code:int}", close_with),
        WebSocketRoute("/app/ws", ws_echo),
    ]
    with run_server(Starlette(routes=routes)) as upstream:
        settings = make_settings(upstream + "/app", tmp_path_factory.mktemp("ws"))
        with run_server(create_app(settings)) as gateway:
            yield gateway.replace("http://", "ws://"), upstream


async def test_the_handshake_carries_what_a_page_request_would(under_app: tuple[str, str]) -> None:
    gateway = under_app[0]
    visitor = {
        "cookie": "cg_session=x; sessionid=1; _ga=2",
        "x-consent": "analytics=1; marketing=1",
        "x-forwarded-for": "203.0.113.9",
        "x-real-ip": "203.0.113.9",
        "forwarded": "for=203.0.113.9",
        "x_forwarded_proto": "https",
        "sec-gpc": "1",
        "origin": "http://gw.test",
    }
    async with connect(
        gateway + "/report?x=1&y=%20", additional_headers=visitor, user_agent_header="visitor/1"
    ) as ws:
        seen = json.loads(await ws.recv())
    headers: dict[str, list[str]] = {}
    for key, value in seen["headers"]:
        headers.setdefault(key, []).append(value)
    assert (seen["path"], seen["query"]) == ("/app/report", "x=1&y=%20")
    assert headers["host"] == [gateway.removeprefix("ws://")]  # the visitor's, as for HTTP
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-real-ip"] == ["127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == [gateway.removeprefix("ws://")]
    assert len(headers["x-consent"]) == 1 and "analytics=0" in headers["x-consent"][0]
    assert headers["cookie"] == ["sessionid=1"]
    assert headers["user-agent"] == ["visitor/1"]  # the visitor's, none invented
    assert headers["sec-gpc"] == ["1"]
    assert headers["origin"] == ["http://gw.test"]
    for name in ("sec-websocket-key", "sec-websocket-version", "upgrade", "connection"):
        assert len(headers[name]) == 1, name
    assert "sec-websocket-extensions" not in headers  # frames pass uncompressed
    for name in ("forwarded", "x_forwarded_proto"):
        assert name not in headers, name


async def test_upstream_host_is_the_handshakes_host_too(
    under_app: tuple[str, str], tmp_path: Path
) -> None:
    upstream = under_app[1]
    settings = make_settings(upstream + "/app", tmp_path, upstream_host="intranet.school.test")
    with run_server(create_app(settings)) as gateway:
        async with connect(gateway.replace("http://", "ws://") + "/report") as ws:
            seen = dict(json.loads(await ws.recv())["headers"])
    assert seen["host"] == "intranet.school.test"
    assert seen["x-forwarded-host"] == gateway.removeprefix("http://")


async def test_the_upstreams_close_code_reaches_the_visitor(under_app: tuple[str, str]) -> None:
    async with connect(under_app[0] + "/close/4001") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 4001


async def test_messages_larger_than_a_client_default_cross_both_ways(
    under_app: tuple[str, str],
) -> None:
    message = bytes(range(256)) * (4 * 4096)  # 4 MiB, beyond websockets' 1 MiB default
    async with connect(under_app[0] + "/ws", max_size=None) as ws:
        await ws.send(message)
        assert await asyncio.wait_for(ws.recv(), 30) == message[::-1]


# -- a hostile upstream ----------------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def close_frame(code: int | None) -> bytes:
    return b"\x88\x00" if code is None else b"\x88\x02" + code.to_bytes(2, "big")


# What the upstream sends after its handshake, by path; None drops the connection.
AFTER_HANDSHAKE: dict[str, bytes | None] = {
    "/code": close_frame(4002),
    "/empty": close_frame(None),  # no code: the visitor must not be sent 1005
    "/reserved": close_frame(1005),  # a code no frame may carry: a protocol error
    "/invalid": close_frame(999),
    "/dropped": None,  # no close frame: the visitor must not be sent 1006
}


async def hostile(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
) -> None:
    """A websocket upstream that misbehaves as its path says (AFTER_HANDSHAKE, /hang, /slow,
    /redirect?to=PORT); ``seen`` gets ``path request`` and ``path then <bytes>`` entries."""
    request = await reader.readuntil(b"\r\n\r\n")
    path = request.split(b" ", 2)[1]
    seen.append(path + b" request " + request)
    if path == b"/hang":
        with contextlib.suppress(ConnectionError):
            await reader.read()  # never answers; returns when the gateway gives up
        seen.append(path + b" then closed")
        return
    if path.startswith(b"/redirect"):
        port = path.rsplit(b"=", 1)[1]
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:%s/ws\r\n\r\n" % port)
        await writer.drain()
        return
    if path == b"/slow":
        await asyncio.sleep(1)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    after = AFTER_HANDSHAKE.get(path.decode(), b"")
    if after is None:
        await writer.drain()
        await asyncio.sleep(0.2)  # the handshake is done; now the connection just ends
        writer.transport.abort()
        return
    writer.write(after)
    await writer.drain()
    seen.append(path + b" then " + await reader.read(65536))


@pytest.fixture(scope="module")
def hostile_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[bytes]]]:
    """A gateway (as ws://) with 1 s timeouts in front of :func:`hostile`, and what it saw."""
    with run_raw_server(hostile) as (upstream, seen):
        settings = make_settings(
            upstream, tmp_path_factory.mktemp("hostile"), connect_timeout=1, read_timeout=1
        )
        with run_server(create_app(settings)) as gateway:
            yield gateway.replace("http://", "ws://"), seen


def wait_until(condition: Callable[[], bool], failure: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.02)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("path", "expected"), [("/code", 4002), *[
    (path, 1000) for path in ("/empty", "/reserved", "/invalid", "/dropped")
]])  # fmt: skip
async def test_close_codes_a_frame_may_not_carry_become_a_normal_close(
    hostile_gateway: tuple[str, list[bytes]],
    caplog: pytest.LogCaptureFixture,
    path: str,
    expected: int,
) -> None:
    async with connect(hostile_gateway[0] + path) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 15)
    assert ws.close_code == expected
    assert not errors(caplog)


async def test_an_upstream_that_never_answers_the_handshake_is_given_up(
    hostile_gateway: tuple[str, list[bytes]],
) -> None:
    gateway, seen = hostile_gateway
    started = time.monotonic()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(gateway + "/hang", open_timeout=20):
            pass
    assert refused.value.response.status_code == 403
    # Within the connect and read timeouts together (1 s each), not the visitor's 20.
    assert time.monotonic() - started < 10
    # ...and its connection to the upstream is closed, not left waiting.
    await asyncio.to_thread(wait_until, lambda: b"/hang then closed" in seen, "left open")


async def test_a_redirect_from_the_upstream_is_not_followed(
    hostile_gateway: tuple[str, list[bytes]],
) -> None:
    async def elsewhere(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        seen.append(await reader.read(65536))

    with run_raw_server(elsewhere) as (other, reached):
        port = other.rsplit(":", 1)[1]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{hostile_gateway[0]}/redirect?to={port}"):
                pass
        await asyncio.sleep(0.5)
    assert refused.value.response.status_code == 403
    assert reached == []


def test_a_visitor_who_leaves_mid_handshake_leaves_no_socket_behind(
    hostile_gateway: tuple[str, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, seen = hostile_gateway
    host, port = gateway.removeprefix("ws://").split(":")
    key = base64.b64encode(os.urandom(16))
    with socket.create_connection((host, int(port)), timeout=10) as visitor:
        visitor.sendall(
            b"GET /slow HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        wait_until(lambda: any(e.startswith(b"/slow request") for e in seen), "never sent")
    # The visitor is gone before the upstream answers: the gateway closes the
    # upstream's websocket (a masked close frame) instead of keeping it open.
    wait_until(lambda: any(e.startswith(b"/slow then ") for e in seen), "left open")
    (then,) = [entry for entry in seen if entry.startswith(b"/slow then ")]
    assert then.removeprefix(b"/slow then ")[:1] == b"\x88"
    assert not errors(caplog)


# -- an https upstream -----------------------------------------------------------------


async def test_a_wss_upstream_is_verified_as_https_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, cert = self_signed(tmp_path)
    tls = {"ssl_keyfile": str(key), "ssl_certfile": str(cert)}
    with run_server(create_upstream(), **tls) as url:
        secure = url.replace("http://", "https://")
        # An unknown CA is refused, as for HTTP requests.
        with run_server(create_app(make_settings(secure, tmp_path))) as gateway:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(gateway.replace("http://", "ws://") + "/ws"):
                    pass
            assert refused.value.response.status_code == 403
        # The operator's own CA, the way OpenSSL reads it from the environment.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with run_server(create_app(make_settings(secure, tmp_path))) as gateway:
            async with connect(gateway.replace("http://", "ws://") + "/ws") as ws:
                await ws.send("over tls")
                assert await ws.recv() == "echo:over tls|cookie:"
