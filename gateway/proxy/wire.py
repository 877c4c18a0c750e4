"""One keep-alive HTTP/1.1 connection to the upstream, as an asyncio Protocol.

The proxy needs far less than a general HTTP client: one origin, bytes passed
through exactly, a response parsed by ``httptools`` (llhttp, as uvicorn uses).
Parser callbacks fill plain lists, and the task owning the connection waits on
one future that every event wakes. Flow control works both ways
(``buffer_limit`` unread bytes pause reading; writes wait while the transport is
paused), so any body size crosses with flat memory. The read timeout is "idle
while waiting": :class:`UpstreamTimeout` when no byte came for ``read_timeout``
seconds, from one lazily armed timer per connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from gateway.asgi import RawHeaders
from gateway.exceptions import UpstreamError, UpstreamTimeout, UpstreamUnreachable


class UpstreamConnection(asyncio.Protocol):
    """A connection and the exchange in progress on it; the response API is on it too.

    From :meth:`begin` until the pool takes it back (:meth:`park` or :meth:`close`)
    the connection belongs to one task; :attr:`status`, :attr:`headers`,
    :meth:`read` and :attr:`at_eof` describe the response of that exchange. One
    object for both saves an allocation and an indirection per request on the
    proxy's hot path.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float, buffer_limit: int):
        self.loop = loop
        self.read_timeout = read_timeout
        self.buffer_limit = buffer_limit
        self.transport: asyncio.Transport | None = None
        self.parser = HttpResponseParser(self)
        self.closed = False
        self.busy = False  # between begin() and the pool taking it back
        self.idle_since = 0.0  # loop time when it went back to the pool
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._reading_paused = False
        self._writing_paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: RawHeaders = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.received = False  # any byte of this exchange's response
        self.request_sent = True  # False when the upstream answered before the body was sent
        self.error: UpstreamError | None = None
        self._head = False
        self._interim = False
        self._chunks: list[bytes] = []
        self._buffered = 0

    # -- the exchange, as the pool and the proxy drive it ---------------------------------

    def begin(self, head: bytes, head_request: bool) -> None:
        """Start an exchange: send the request head (the body, if any, follows)."""
        self._reset()
        self.busy = True
        self._head = head_request
        self._last_read = self.loop.time()
        assert self.transport is not None
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        """Send request body bytes; dropped once the connection is closed."""
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's buffer is full; returns early if the answer came."""
        while self._writing_paused and not self.headers_done:
            if self.error is not None:
                raise self.error
            await self._wait()
        if self.error is not None:
            raise self.error

    async def response_head(self) -> None:
        """Wait for the status line and headers; raises :class:`UpstreamError`."""
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            await self._wait()

    async def read(self) -> bytes:
        """The body bytes that arrived since the last read (waiting for some); ``b""`` at
        the end. Raises :class:`UpstreamError` if the body broke off."""
        while True:
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._chunks = []
                self._buffered = 0
                if self._reading_paused:
                    self._reading_paused = False
                    if self.transport is not None:
                        self.transport.resume_reading()
                return data
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait()

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        return self.complete and not self._chunks

    @property
    def reusable(self) -> bool:
        """Whether the next request may use this connection: the response was read to
        its end, the whole request was sent, and neither side asked to close."""
        return (
            self.complete
            and self.keep_alive
            and self.request_sent
            and not self.closed
            and not self._chunks
        )

    def close(self) -> None:
        """Drop the connection (an unfinished exchange cannot be resumed by anyone)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def park(self) -> None:
        """The exchange is over and the connection waits in the pool.

        After a HEAD, the parser still expects the body ``Content-Length`` announced:
        a fresh parser is the only way to tell it the message ended at the headers.
        """
        self.busy = False
        if self._head:
            self.parser = HttpResponseParser(self)

    # -- waiting -------------------------------------------------------------------------

    async def _wait(self) -> None:
        self._last_read = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_at(self._last_read + self.read_timeout, self._on_timer)
        waiter = self._waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiter is None or self.closed:
            return  # nobody is waiting: the next wait arms it again
        deadline = self._last_read + self.read_timeout
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            return
        self._fail(UpstreamTimeout(f"The upstream sent nothing for {self.read_timeout} s."))

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self.close()
        self._wake()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for, on an idle connection: never reuse it
            self.close()
            return
        self._last_read = self.loop.time()
        self.received = True
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            self._fail(UpstreamUnreachable("The upstream switched protocols unasked."))
        except HttpParserError as error:
            self._fail(UpstreamUnreachable(f"The upstream sent a malformed response: {error}."))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.complete and self.error is None:
            if exc is None and self.headers_done and self._until_close():
                self.complete = True  # a body delimited by the end of the connection
            elif isinstance(exc, TimeoutError):
                self.error = UpstreamTimeout(f"The upstream connection timed out: {exc}.")
            else:
                detail = f": {exc}" if exc is not None else ""
                self.error = UpstreamUnreachable(
                    "The upstream closed the connection before the response ended" + detail + "."
                )
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the end of the response we asked for
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.headers_done:  # trailers (after a chunked body) are not forwarded
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim response (103 Early Hints): wait for the real one
            self.headers = []
            self._interim = True
            return
        self.status = status
        self.headers_done = True
        if self._head:  # no body follows, whatever Content-Length says (RFC 9110 9.3.2)
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:  # a body after a HEAD's headers: ignored, and the socket not reused
            self.keep_alive = False
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > self.buffer_limit and not self._reading_paused:
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.complete:
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    def _until_close(self) -> bool:
        """Whether the body is delimited by the connection's end: neither a length nor
        chunked coding (RFC 9112 section 6.3, rule 8). Asked only when the connection ends."""
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                return False
            if lowered == b"transfer-encoding" and value.rstrip().lower().endswith(b"chunked"):
                return False
        return True
