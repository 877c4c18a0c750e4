"""The keep-alive connections to the one upstream origin, and a request over one of them.

With one origin (``CG_UPSTREAM``) the pool is a stack of idle connections, most
recently used first (least likely closed by the upstream). A connection goes
back only when its response was read to the end and both sides keep it alive.

A reused connection may be closed by the upstream just as it is reused: GET,
HEAD and OPTIONS without a body are then sent once more on a fresh one; for the
rest the pool avoids the race by never reusing a connection idle for
:data:`KEEPALIVE` seconds, below the 5 s after which common servers close one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from gateway.exceptions import UpstreamTimeout, UpstreamUnreachable
from gateway.proxy.wire import UpstreamConnection

RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS"})
KEEPALIVE = 4.0  # seconds an idle connection may wait for its next request
BUFFER_LIMIT = 256 * 1024  # unread body bytes before reading from the upstream pauses

BodySender = Callable[[UpstreamConnection], Awaitable[None]]
"""Writes a request body on the connection (:class:`gateway.proxy.request.BodySender`)."""


class ConnectionPool:
    """Connections to ``origin`` (``http://host:port`` or ``https://...``), reused.

    ``keepalive`` is how long an idle connection may wait for its next request;
    ``ssl_context`` replaces the default verifying one (tests trust their own CA).
    """

    def __init__(
        self,
        origin: str,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float = KEEPALIVE,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(origin)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        # https: certificates verified against the system's CAs, as aiohttp did.
        self.ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self.ssl = ssl_context or ssl.create_default_context()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._idle: list[UpstreamConnection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def request(
        self, method: str, head: bytes, body: BodySender | None
    ) -> UpstreamConnection:
        """Send one request and wait for the response's head.

        Returns the connection with ``status``, ``headers`` and ``read()`` for the
        body; the caller must hand it to :meth:`release` when done, whatever happens.
        Raises :class:`UpstreamUnreachable` or :class:`UpstreamTimeout`, and whatever
        ``body`` raises (the connection is closed then).
        """
        retry = body is None and method in RETRYABLE
        is_head = method == "HEAD"
        while True:
            connection = self._take()
            reused = connection is not None
            if connection is None:
                connection = await self._connect()
            connection.begin(head, is_head)
            try:
                if body is not None:
                    await body(connection)
                await connection.response_head()
            except UpstreamUnreachable:
                connection.close()
                if retry and reused and not connection.received:
                    retry = False  # a pooled connection the upstream had closed: once more
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            return connection

    def release(self, connection: UpstreamConnection) -> None:
        """Take a connection back after its exchange: pooled if clean, else closed."""
        if not connection.reusable:
            connection.close()
            return
        connection.park()
        now = connection.loop.time()
        connection.idle_since = now
        idle = self._idle
        idle.append(connection)
        while idle and (idle[0].closed or now - idle[0].idle_since > self.keepalive):
            idle.pop(0).close()

    def close(self) -> None:
        """Close every idle connection (at shutdown; busy ones close when released)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self) -> UpstreamConnection | None:
        idle = self._idle
        while idle:
            connection = idle.pop()
            fresh = connection.loop.time() - connection.idle_since <= self.keepalive
            if fresh and not connection.closed:
                return connection
            connection.close()
        return None

    async def _connect(self) -> UpstreamConnection:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        connection = UpstreamConnection(loop, self.read_timeout, BUFFER_LIMIT)
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: connection,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl is not None else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError as error:
            raise UpstreamTimeout(
                f"The upstream did not accept a connection within {self.connect_timeout} s."
            ) from error
        except OSError as error:  # refused, unreachable, DNS, TLS handshake
            raise UpstreamUnreachable(f"The upstream could not be reached: {error}.") from error
        return connection
