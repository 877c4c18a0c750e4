"""The proxy's own upstream client (``gateway/proxy/pool.py``, ``wire.py``, ``request.py``)
against real servers: raw sockets that answer exactly the bytes a test needs, and the
real upstream app under uvicorn.

Each raw handler serves one connection and records a marker per request it reads, so a
test can tell a reused connection from a fresh one by what the server saw.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.exceptions import UpstreamTimeout, UpstreamUnreachable
from gateway.proxy.pool import BUFFER_LIMIT, ConnectionPool
from gateway.proxy.request import BadHeader, BodySender, encode_head
from gateway.proxy.wire import UpstreamConnection
from gateway.request_body import BodyReader
from tests.conftest import make_settings
from tests.servers import free_port, run_raw_server, run_server
from tests.upstreams import create_upstream

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def pool_for(url: str, **options: Any) -> ConnectionPool:
    options.setdefault("connect_timeout", 2)
    options.setdefault("read_timeout", 5)
    return ConnectionPool(url, **options)


def head(method: str = "GET", path: str = "/", extra: list[tuple[str, str]] | None = None) -> bytes:
    return encode_head(method, path, [("Host", "upstream.test"), *(extra or [])])


async def fetch(
    pool: ConnectionPool, method: str = "GET", path: str = "/", body: Any = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One exchange, read to the end, the connection handed back."""
    response = await pool.request(method, head(method, path), body)
    try:
        parts = []
        while chunk := await response.read():
            parts.append(chunk)
        return response.status, list(response.headers), b"".join(parts)
    finally:
        pool.release(response)


def serving(*answers: bytes) -> Callable[[Reader, Writer, list[bytes]], Awaitable[None]]:
    """A connection handler answering its requests in turn with ``answers``, then
    keeping the connection open until the client closes it."""

    async def handle(reader: Reader, writer: Writer, seen: list[bytes]) -> None:
        connection = len([s for s in seen if s.startswith(b"connection")])
        seen.append(b"connection %d" % connection)
        for answer in answers:
            request = await reader.readuntil(b"\r\n\r\n")
            seen.append(request.split(b"\r\n", 1)[0])
            writer.write(answer)
            await writer.drain()
        await reader.read()

    return handle


async def test_chunked_body_with_extensions_and_trailers_then_the_connection_is_reused() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-before: 1\r\n\r\n"
        b'5;name=value\r\nhello\r\n6;quoted="a b"\r\n world\r\n0\r\nx-trailer: t\r\n\r\n'
    )
    with run_raw_server(serving(chunked, OK)) as (url, seen):
        pool = pool_for(url)
        status, headers, body = await fetch(pool, path="/chunked")
        assert (status, body) == (200, b"hello world")
        assert (b"x-before", b"1") in headers
        assert all(name != b"x-trailer" for name, _ in headers)  # trailers are not forwarded
        assert (await fetch(pool, path="/second"))[2] == b"ok"
        pool.close()
    assert seen == [b"connection 0", b"GET /chunked HTTP/1.1", b"GET /second HTTP/1.1"]


async def test_a_body_read_until_the_connection_closes() -> None:
    async def until_close(reader: Reader, writer: Writer, seen: list[bytes]) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"it")
        await writer.drain()
        # returning closes the connection: that is where the body ends

    with run_raw_server(until_close) as (url, seen):
        pool = pool_for(url)
        assert (await fetch(pool))[2] == b"all of it"
        assert (await fetch(pool))[2] == b"all of it"  # on a new connection
        pool.close()
    assert len(seen) == 2


async def test_head_204_and_304_end_at_their_headers_and_the_connection_is_reused() -> None:
    answers = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/html\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\n\r\n',
        OK,
    )
    with run_raw_server(serving(*answers)) as (url, seen):
        pool = pool_for(url)
        assert await fetch(pool, "HEAD") == (
            200,
            [(b"content-length", b"100"), (b"content-type", b"text/html")],
            b"",
        )
        assert (await fetch(pool))[::2] == (204, b"")
        assert (await fetch(pool))[::2] == (304, b"")
        assert (await fetch(pool))[::2] == (200, b"ok")
        pool.close()
    assert len([s for s in seen if s.startswith(b"connection")]) == 1


async def test_an_interim_response_is_skipped() -> None:
    early_hints = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
    with run_raw_server(serving(early_hints + OK)) as (url, _seen):
        pool = pool_for(url)
        status, headers, body = await fetch(pool)
        pool.close()
    assert (status, headers, body) == (200, [(b"content-length", b"2")], b"ok")


async def test_a_stale_pooled_connection_is_retried_once_for_a_bodiless_get_only() -> None:
    async def closes_when_reused(reader: Reader, writer: Writer, seen: list[bytes]) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(OK)
        await writer.drain()
        # The keep-alive timeout ran out just as the next request arrived: read it, go.
        seen.append(await reader.readuntil(b"\r\n\r\n"))

    with run_raw_server(closes_when_reused) as (url, seen):
        pool = pool_for(url)
        assert (await fetch(pool))[2] == b"ok"
        assert (await fetch(pool))[2] == b"ok"  # the pooled one died silently: a fresh one
        assert len(seen) == 3
        with pytest.raises(UpstreamUnreachable):
            await fetch(pool, "POST")  # not idempotent: the visitor gets a 502, no replay
        assert len(seen) == 4
        pool.close()


async def test_connections_return_to_the_pool_only_when_read_to_the_end_and_kept_alive() -> None:
    with run_server(create_upstream()) as url:
        pool = pool_for(url)
        response = await pool.request("GET", head(path="/big?size=1048576"), None)
        first = await response.read()
        assert 0 < len(first) < 1048576
        pool.release(response)  # half read: closed, never handed to the next request
        assert response.closed
        assert (await fetch(pool, path="/echo"))[0] == 200
        response = await pool.request(
            "GET", head(path="/echo", extra=[("Connection", "close")]), None
        )
        while await response.read():
            pass
        pool.release(response)
        assert response.closed  # the upstream said close
        pool.close()


async def test_reading_pauses_while_the_body_waits_unread() -> None:
    with run_server(create_upstream()) as url:
        pool = pool_for(url)
        response = await pool.request("GET", head(path=f"/big?size={64 << 20}"), None)
        await asyncio.sleep(0.5)  # a slow visitor: nothing read for a while
        waiting = await response.read()
        # What waited is bounded by the limit plus one socket read, not 64 MiB.
        assert BUFFER_LIMIT < len(waiting) < BUFFER_LIMIT + (1 << 20)
        total = len(waiting)
        while chunk := await response.read():
            total += len(chunk)
        assert total == 64 << 20
        pool.release(response)
        pool.close()


def receive_from(parts: list[bytes], delay: float = 0) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI ``receive`` giving ``parts`` as the visitor's body, as uvicorn would."""
    remaining = list(parts)

    async def receive() -> dict[str, Any]:
        if delay:
            await asyncio.sleep(delay)
        body = remaining.pop(0) if remaining else b""
        return {"type": "http.request", "body": body, "more_body": bool(remaining)}

    return receive


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_request_bodies_stream_in_either_framing(chunked: bool) -> None:
    parts = [bytes([n]) * 300_000 for n in range(8)]
    size = sum(map(len, parts))
    with run_server(create_upstream()) as url:
        pool = pool_for(url)
        length = None if chunked else size
        request = encode_head("PUT", "/echo", [("Host", "u")], length, chunked)
        sender = BodySender(BodyReader(receive_from(parts), size), length)
        response = await pool.request("PUT", request, sender)
        body = b""
        while chunk := await response.read():
            body += chunk
        pool.release(response)
        assert (await fetch(pool, path="/echo"))[0] == 200  # and the connection lives on
        pool.close()
    assert b'"size":%d' % size in body
    assert hashlib.sha256(b"".join(parts)).hexdigest().encode() in body


async def test_an_early_answer_stops_the_upload_instead_of_hanging() -> None:
    async def refuses(reader: Reader, writer: Writer, seen: list[bytes]) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 413 Too Large\r\ncontent-length: 4\r\n\r\nnope")
        await writer.drain()
        await asyncio.sleep(5)  # and never reads the body

    with run_raw_server(refuses) as (url, _seen):
        pool = pool_for(url, read_timeout=3)
        size = 64 << 20
        parts = [b"x" * (1 << 20)] * 64
        request = encode_head("POST", "/", [("Host", "u")], size)
        sender = BodySender(BodyReader(receive_from(parts), size), size)
        response = await asyncio.wait_for(pool.request("POST", request, sender), 10)
        assert (response.status, await response.read()) == (413, b"nope")
        pool.release(response)
        assert response.closed  # the body was not all sent: the connection cannot be reused
        pool.close()


async def test_the_read_timeout_counts_idle_time_not_the_whole_body() -> None:
    async def trickle(reader: Reader, writer: Writer, seen: list[bytes]) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(6):
            await asyncio.sleep(0.15)
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
        if request.startswith(b"GET /stall"):
            await asyncio.sleep(5)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    with run_raw_server(trickle) as (url, _seen):
        pool = pool_for(url, read_timeout=0.4)
        assert (await fetch(pool))[2] == b"x" * 6  # 0.9 s in all, never 0.4 s idle
        with pytest.raises(UpstreamTimeout):
            await fetch(pool, path="/stall")
        pool.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
    ],
    ids=["garbage", "unasked-upgrade", "two-lengths"],
)
async def test_a_malformed_answer_is_unreachable(answer: bytes) -> None:
    with run_raw_server(serving(answer)) as (url, _seen):
        pool = pool_for(url)
        with pytest.raises(UpstreamUnreachable):
            await fetch(pool)
        pool.close()


async def test_refused_and_connect_timeout() -> None:
    with pytest.raises(UpstreamUnreachable):
        await fetch(pool_for(f"http://127.0.0.1:{free_port()}"))
    # 192.0.2.0/24 (TEST-NET-1) is never routed: the handshake never completes.
    pool = pool_for("http://192.0.2.1:81", connect_timeout=0.2)
    with pytest.raises((UpstreamTimeout, UpstreamUnreachable)):
        await fetch(pool)


def self_signed(folder: Path) -> tuple[Path, Path]:
    key, cert = folder / "key.pem", folder / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(command, check=True, capture_output=True)
    return key, cert


async def test_https_upstream_with_its_certificate_verified(tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path)
    tls = {"ssl_keyfile": str(key), "ssl_certfile": str(cert)}
    with run_server(create_upstream(), **tls) as url:
        secure = url.replace("http://", "https://")
        pool = pool_for(secure, ssl_context=ssl.create_default_context(cafile=str(cert)))
        for _ in range(2):
            status, _headers, body = await fetch(pool, path="/echo/tls")
            assert status == 200 and b'"path":"/echo/tls"' in body
        pool.close()
        with pytest.raises(UpstreamUnreachable):  # an unknown CA is refused by default
            await fetch(pool_for(secure))


async def test_the_pool_reuses_one_connection_for_sequential_requests() -> None:
    with run_raw_server(serving(*[OK] * 5)) as (url, seen):
        pool = pool_for(url)
        connections: set[UpstreamConnection] = set()
        for _ in range(5):
            response = await pool.request("GET", head(), None)
            connections.add(response)
            while await response.read():
                pass
            pool.release(response)
        pool.close()
    assert len(connections) == 1
    assert [s for s in seen if s.startswith(b"connection")] == [b"connection 0"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-A", "1\r\nX-Injected: 1"), ("X-A", "1\nX-B: 2"), ("X-A", "1\0"), ("X-A\r\n", "1")],
)
def test_a_line_break_or_nul_in_the_head_is_refused(name: str, value: str) -> None:
    with pytest.raises(BadHeader):
        encode_head("GET", "/", [("Host", "u"), (name, value)])
    with pytest.raises(BadHeader):
        encode_head("GET", "/ HTTP/1.1\r\nX-Smuggled: 1\r\n", [("Host", "u")])


def test_the_head_carries_exactly_the_headers_given() -> None:
    assert encode_head("POST", "/a?b=1", [("Host", "u:1"), ("X-A", "é")], chunked=True) == (
        b"POST /a?b=1 HTTP/1.1\r\nHost: u:1\r\nX-A: \xe9\r\nTransfer-Encoding: chunked\r\n\r\n"
    )


def test_the_upstream_base_path_prefixes_every_request(upstream: str, tmp_path: Path) -> None:
    settings = make_settings(upstream + "/echo/base/", tmp_path)
    with run_server(create_app(settings)) as gateway:
        answer = httpx.get(gateway + "/page?q=1").json()
    assert (answer["path"], answer["query"]) == ("/echo/base/page", "q=1")
