"""Upstream faults after the answer has begun, beside tests/test_proxy_faults.py's
(refused, hanging before the answer, reset, malformed status, reset mid-body).

Once the status line has gone to the visitor, the only honest signal left is a
cut connection: the visitor's client must see an incomplete response, never a
complete-looking truncated page and never a hang past the read timeout. The
gateway then serves the next request as if nothing happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import run_raw_server, run_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def misbehaving(answer: bytes, then: str) -> Handler:
    """An upstream that answers ``/ok`` properly and everything else with ``answer``,
    then closes cleanly (``close``) or stalls (``stall``)."""

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if request.startswith(b"GET /ok"):
            writer.write(OK)
            await writer.drain()
            return
        writer.write(answer)
        await writer.drain()
        if then == "stall":
            await asyncio.sleep(30)
        # returning closes the connection with a FIN: a clean close, mid-body

    return handle


CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/html\r\n\r\n"


@pytest.mark.parametrize(
    ("answer", "then"),
    [
        (CHUNKED + b"5\r\nhello\r\n", "close"),  # no last chunk: a truncated chunked body
        (CHUNKED + b"5\r\nhello\r\nZZ\r\nbad\r\n", "close"),  # a chunk size that is not hex
        (CHUNKED + b"5\r\nhello\r\n", "stall"),  # stops sending mid-body
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a little", "close"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a little", "stall"),
    ],
    ids=["chunked-no-end", "chunked-bad-size", "chunked-stall", "short-body", "short-stall"],
)
def test_a_body_broken_after_the_status_is_cut_never_hung(
    tmp_path: Path, answer: bytes, then: str
) -> None:
    with run_raw_server(misbehaving(answer, then)) as (upstream, _seen):
        settings = make_settings(upstream, tmp_path, read_timeout=0.5)
        with run_server(create_app(settings)) as gateway:
            # The client's own timeout is far longer than the gateway's read timeout:
            # a ReadTimeout here would mean the gateway left the visitor hanging.
            try:
                response = httpx.get(gateway + "/broken", timeout=20)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                pass  # cut after the status went out: the visitor sees an incomplete page
            else:
                # The failure came before the first byte went out: a clean error page.
                assert response.status_code in (502, 504), response.text
            assert httpx.get(gateway + "/ok", timeout=20).text == "ok"


def test_many_visitors_on_a_hanging_upstream_all_get_504(tmp_path: Path) -> None:
    async def hang(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        await asyncio.sleep(30)

    async def visit(gateway: str) -> list[int]:
        async with httpx.AsyncClient(timeout=20) as client:
            answers = await asyncio.gather(*(client.get(gateway + f"/{n}") for n in range(40)))
        return [answer.status_code for answer in answers]

    with run_raw_server(hang) as (upstream, _seen):
        settings = make_settings(upstream, tmp_path, read_timeout=0.5)
        with run_server(create_app(settings)) as gateway:
            assert asyncio.run(visit(gateway)) == [504] * 40
            # and the reserved prefix still answers while the upstream hangs
            assert httpx.get(gateway + "/_consent/state", timeout=20).status_code == 200
