"""A synthetic browser for the demo's visitors: a cookie jar over the gateway's own pool.

The demo's visitors reach one origin (the gateway's public listener) with a
fixed set of requests, which is the shape of :class:`ConnectionPool`; the
visitors run inside the gateway's own process, so a client that costs little
CPU leaves it to the gateway being shown. The jar is as small as the demo
needs: one host, every path, a cookie kept until it is deleted
(``Max-Age=0`` or an ``Expires`` in the past); redirects are not followed.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.proxy.pool import BodySender, ConnectionPool
from gateway.proxy.request import encode_head
from gateway.proxy.wire import UpstreamConnection


def _sender(body: bytes) -> BodySender:
    async def send(connection: UpstreamConnection) -> None:
        connection.write(body)
        await connection.drain()

    return send


def _deletes(attributes: list[str]) -> bool:
    """Whether ``Set-Cookie`` attributes ask the browser to delete the cookie: ``Max-Age``
    of zero or less, or without one an ``Expires`` in the past (RFC 6265 section 5.3)."""
    found = {}
    for attribute in attributes:
        name, _, value = attribute.partition("=")
        found[name.strip().lower()] = value.strip()
    max_age = found.get("max-age", "")
    if max_age.lstrip("-").isdigit():
        return int(max_age) <= 0
    try:
        return parsedate_to_datetime(found["expires"]).timestamp() <= time.time()
    except (KeyError, TypeError, ValueError):
        return False


class Browser:
    """One visitor's requests to ``base`` over a shared ``pool``, with its own cookies.

    Raises :class:`gateway.exceptions.UpstreamError` when the gateway does not answer.
    """

    def __init__(self, pool: ConnectionPool, base: str, headers: dict[str, str]) -> None:
        self.pool = pool
        self.base = base.rstrip("/")
        self.host = urlsplit(base).netloc
        self.headers = headers
        self.cookies: dict[str, str] = {}

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[int, bytes]:
        """Send a request (a JSON body if given) and return the status and the whole body."""
        lines = [("Host", self.host), *self.headers.items(), *(headers or {}).items()]
        if self.cookies:
            lines.append(("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items())))
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            lines.append(("Content-Type", "application/json"))
        head = encode_head(method, target, lines, len(body) if body is not None else None)
        response = await self.pool.request(method, head, _sender(body) if body else None)
        try:
            for name, value in response.headers:
                if name.lower() == b"set-cookie":
                    self._keep(value.decode("latin-1"))
            chunks = []
            while chunk := await response.read():
                chunks.append(chunk)
            return response.status, b"".join(chunks)
        finally:
            self.pool.release(response)

    def _keep(self, line: str) -> None:
        pair, *attributes = line.split(";")
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name:
            return
        if _deletes(attributes):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value.strip()
