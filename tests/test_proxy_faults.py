"""A misbehaving upstream gets a clean answer: 502, 504 or a cut connection, never a traceback."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import free_port, run_raw_server, run_server


def test_refused_connection_gives_502_page_and_json(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with run_server(create_app(make_settings(closed, tmp_path))) as gateway:
        page = httpx.get(gateway + "/anything")
        assert page.status_code == 502
        assert page.headers["content-type"].startswith("text/html")
        assert "Request id" in page.text and "Traceback" not in page.text
        data = httpx.get(gateway + "/anything", headers={"accept": "application/json"})
        assert data.status_code == 502
        error = data.json()["error"]
        assert error["code"] == "upstream_unreachable" and len(error["request_id"]) == 16


def test_hanging_upstream_gives_504_after_the_read_timeout(tmp_path: Path) -> None:
    async def hang(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        await asyncio.sleep(30)

    with run_raw_server(hang) as (upstream, seen):
        settings = make_settings(upstream, tmp_path, read_timeout=0.5)
        with run_server(create_app(settings)) as gateway:
            response = httpx.get(gateway + "/", headers={"accept": "application/json"}, timeout=10)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert seen  # the request did reach the upstream


def test_reset_before_answering_gives_502(tmp_path: Path) -> None:
    async def reset(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    with run_raw_server(reset) as (upstream, _seen):
        with run_server(create_app(make_settings(upstream, tmp_path))) as gateway:
            response = httpx.get(gateway + "/")
    assert response.status_code == 502


def test_malformed_answer_gives_502(tmp_path: Path) -> None:
    async def garbage(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    with run_raw_server(garbage) as (upstream, _seen):
        with run_server(create_app(make_settings(upstream, tmp_path))) as gateway:
            assert httpx.get(gateway + "/").status_code == 502


def test_reset_mid_body_cuts_the_response_and_the_gateway_carries_on(tmp_path: Path) -> None:
    async def truncated(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if request.startswith(b"GET /ok"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.transport.abort()

    with run_raw_server(truncated) as (upstream, _seen):
        with run_server(create_app(make_settings(upstream, tmp_path))) as gateway:
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(gateway + "/cut")
            assert httpx.get(gateway + "/ok").text == "ok"


def test_connect_timeout_is_configurable(tmp_path: Path) -> None:
    # A listening socket whose accept queue is full never completes the handshake.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        settings = make_settings(f"http://127.0.0.1:{port}", tmp_path, connect_timeout=0.3)
        with run_server(create_app(settings)) as gateway:
            response = httpx.get(gateway + "/", timeout=10)
        for filler in fillers:
            filler.close()
    assert response.status_code in (502, 504)


def test_absolute_form_target_cannot_reach_another_host(upstream: str, tmp_path: Path) -> None:
    async def never(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        seen.append(await reader.read(100))

    with run_raw_server(never) as (other, other_seen):
        with run_server(create_app(make_settings(upstream, tmp_path))) as gateway:
            host, port = gateway.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(
                    f"GET {other}/echo HTTP/1.1\r\nHost: {other.removeprefix('http://')}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                answer = b""
                while chunk := conn.recv(65536):
                    answer += chunk
    assert other_seen == []  # the other server was never contacted
    assert b'"path":"/echo"' in answer.replace(b" ", b"")  # the configured upstream answered
