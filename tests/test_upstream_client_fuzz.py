"""Property test of the upstream client's response framing over a real socket.

Any body, in any framing (``Content-Length``, chunked with random chunk sizes,
extensions and trailers, or read until the connection closes), cut into random
pieces that arrive as separate writes, must come out of ``read()`` byte for
byte, and a connection must be reused exactly when the framing allows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.proxy.pool import ConnectionPool
from gateway.proxy.request import encode_head
from tests.servers import run_raw_server

# What the server answers, by request path; filled by each example before it asks.
ANSWERS: dict[bytes, list[bytes]] = {}


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
) -> None:
    seen.append(b"connection")
    while True:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1]
        pieces = ANSWERS[path]
        for piece in pieces[:-1]:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.001)  # so that pieces arrive as separate reads
        if pieces[-1] == b"<close>":
            return
        writer.write(pieces[-1])
        await writer.drain()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[bytes]]]:
    with run_raw_server(_answer) as running:
        yield running


def frame(body: bytes, framing: str, sizes: list[int], extensions: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
    if framing == "length":
        return head + b"content-length: %d\r\n\r\n" % len(body) + body
    if framing == "close":
        return head + b"\r\n" + body
    out = [head + b"transfer-encoding: chunked\r\n\r\n"]
    position, turn = 0, 0
    while position < len(body):
        size = sizes[turn % len(sizes)] if sizes else len(body)
        part = body[position : position + size]
        extension = b';ext="v %d"' % turn if extensions else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(part), extension, part))
        position += len(part)
        turn += 1
    out.append(b"0\r\nx-checksum: abc\r\n\r\n" if extensions else b"0\r\n\r\n")
    return b"".join(out)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(marks) if b > a]


@given(
    body=st.binary(max_size=3000),
    framing=st.sampled_from(["length", "chunked", "close"]),
    sizes=st.lists(st.integers(1, 700), max_size=5),
    extensions=st.booleans(),
    points=st.lists(st.integers(0, 4000), max_size=8),
)
def test_any_body_in_any_framing_and_any_pieces_arrives_exactly(
    server: tuple[str, list[bytes]],
    body: bytes,
    framing: str,
    sizes: list[int],
    extensions: bool,
    points: list[int],
) -> None:
    url, seen = server
    path = b"/%d" % len(ANSWERS)
    pieces = cut(frame(body, framing, sizes, extensions), points)
    ANSWERS[path] = [*pieces, b"<close>"] if framing == "close" else pieces
    ANSWERS[path + b"/next"] = [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext"]

    async def exchange() -> tuple[bytes, bytes, int]:
        pool = ConnectionPool(url, connect_timeout=2, read_timeout=5)
        before = len(seen)
        bodies = []
        for target in (path, path + b"/next"):
            response = await pool.request("GET", encode_head("GET", target.decode(), []), None)
            parts = []
            while chunk := await response.read():
                parts.append(chunk)
            pool.release(response)
            bodies.append(b"".join(parts))
        pool.close()
        return bodies[0], bodies[1], len(seen) - before

    got, following, connections = asyncio.run(exchange())
    assert got == body
    assert following == b"next"
    # One connection for both, unless the body was delimited by closing it.
    assert connections == (2 if framing == "close" else 1)
