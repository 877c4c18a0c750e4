"""An upstream that records every request it parses, for the request-framing tests.

It parses with h11, a strict HTTP/1.1 implementation independent of the
gateway's parsers, so a request the gateway frames wrongly shows up here as an
extra request, a missing one, a wrong body or a protocol error. Every complete
request is recorded with its method, target, headers and body, and answered
with an empty ``200`` naming the target in ``X-Upstream-Target``,
so the client can tell which request an answer belongs to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import h11

from tests.servers import run_raw_server


@dataclass
class Parsed:
    """One request as the upstream parsed it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int  # which upstream connection carried it, in order of arrival


@dataclass
class Recording:
    """What the upstream saw: the requests, the protocol errors, the connections."""

    requests: list[Parsed] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connections: int = 0

    def clear(self) -> None:
        self.requests.clear()
        self.errors.clear()


async def _serve(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Recording
) -> None:
    seen.connections += 1
    number = seen.connections
    connection = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as error:
            seen.errors.append(f"connection {number}: {error}")
            return
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            if not data:
                return  # closed: a request cut short is not a request
            connection.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request, body = event, bytearray()
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            target = request.target.decode("latin-1")
            seen.requests.append(
                Parsed(
                    request.method.decode("latin-1"),
                    target,
                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers],
                    bytes(body),
                    number,
                )
            )
            answer = h11.Response(
                status_code=200,
                headers=[("X-Upstream-Target", target), ("Content-Length", "0")],
            )
            writer.write(connection.send(answer) + connection.send(h11.EndOfMessage()))
            await writer.drain()
            request = None
            if connection.our_state is h11.MUST_CLOSE:
                return
            connection.start_next_cycle()


@contextmanager
def framing_upstream() -> Iterator[tuple[str, Recording]]:
    """Serve the recording upstream on loopback; yields its URL and what it records."""
    seen = Recording()

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _raw: list[bytes]
    ) -> None:
        await _serve(reader, writer, seen)

    with run_raw_server(handler) as (url, _raw):
        yield url, seen
