"""Connection limits uvicorn's httptools protocol lacks: head size, header count, slow clients.

uvicorn with httptools bounds neither the size nor the number of request headers,
nor the time to receive them, so a slowloris client holds a connection forever.
This protocol class adds, per connection:

- ``max_header_bytes``: the request line and headers together; more is 431.
- ``max_headers``: the number of header lines; more is 431.
- ``header_timeout``: seconds until the headers are complete, however steadily
  bytes trickle in; past it, 408 and the connection is closed.
- ``body_timeout``: seconds the client may go without sending a byte of an
  announced body (paused reading does not count); past it, 408 or a cut.

A non-websocket ``Upgrade`` with a body is refused (400), since the parser stops
at the headers. Refusals use the one error shape, in JSON. Body size limits stay
in the app (``CG_MAX_BODY_BYTES``, ``CG_BEACON_MAX_BYTES``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.asgi import VISITOR_GONE, Scope
from gateway.errors import error_body
from gateway.write_coalescing import CoalescingTransport

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client connection may cost; the defaults suit a public site."""

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout: float = 15.0
    body_timeout: float = 60.0
    max_connections: int = 2048


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that broke a limit."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of :class:`ConnectionLimits`."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_size = 0
        self._header_count = 0
        self._refusal: tuple[int, str, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._awaiting_body = False
        self._body_active_at = 0.0

    # -- connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # One write per response, not one per ASGI message: see write_coalescing.py.
        super().connection_made(CoalescingTransport(transport, self.loop))
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            cast("Scope", self.cycle.scope)[VISITOR_GONE] = True
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        super().data_received(data)
        if self._refusal is not None or self.transport.is_closing():
            return
        if self._in_head:
            # Counted after parsing, so a head and body in one chunk are never mistaken
            # for a large head; what the parser may buffer stays under the limit plus
            # one read.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, "headers_too_large", self._too_large_message())
            elif self._head_timer is None:
                self._arm_head_timer()
        elif self._awaiting_body and self._body_timer is None:
            self._arm_body_timer()
        # Timers are armed here, once the bytes of this read are parsed, and only for
        # what is still incomplete: a whole request in one read (most GETs) arms none.

    # -- parser callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (
                431,
                "too_many_headers",
                f"A request may carry at most {self.limits.max_headers} headers.",
            )
            raise _Refused
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel(self._head_timer)
        self._head_timer = None
        foreign_upgrade = self.parser.should_upgrade() and not self._should_upgrade()
        if foreign_upgrade and self._announces_body():
            self._refusal = (
                400,
                "unsupported_upgrade",
                "This site switches protocols only for websockets: "
                "send the request without Upgrade.",
            )
            raise _Refused
        super().on_headers_complete()
        if foreign_upgrade and self.cycle is not None:
            # The parser stops at the headers of any Upgrade (h2c, say): the request is
            # served as a plain one, and the connection ends with its answer.
            self.cycle.keep_alive = False
        elif not self.parser.should_upgrade():
            self._awaiting_body = True
            self._body_active_at = self.loop.time()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_active_at = self.loop.time()

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error, ours included, through here.
        if self._refusal is None:
            super().send_400_response(msg)
        else:
            self._write_refusal()

    # -- limits ----------------------------------------------------------------------

    def _announces_body(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return True
        return False

    def _count(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_header_bytes:
            self._refusal = (431, "headers_too_large", self._too_large_message())
            raise _Refused

    def _too_large_message(self) -> str:
        return f"The request line and headers may be at most {self.limits.max_header_bytes} bytes."

    def _arm_head_timer(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        deadline = self._body_active_at + self.limits.body_timeout
        self._body_timer = self.loop.call_at(deadline, self._body_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a pipelined request: first finish the answer under way
            return
        self._refuse(
            408,
            "request_timeout",
            f"The request headers did not arrive within {self.limits.header_timeout:g} s.",
        )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.cycle is None or not self.cycle.more_body:
            return
        if self.flow.read_paused:  # we are the slow side: wait for the app
            self._body_active_at = self.loop.time()
            self._arm_body_timer()
            return
        if self.loop.time() < self._body_active_at + self.limits.body_timeout:
            self._arm_body_timer()  # bytes came since it was armed: the deadline moved on
            return
        if self.cycle.response_started:
            self.transport.close()  # too late for a status: cut, as for any broken upload
            return
        self._refuse(
            408,
            "request_timeout",
            f"The request body stalled for {self.limits.body_timeout:g} s.",
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refusal = (status, code, message)
        self._write_refusal()

    def _write_refusal(self) -> None:
        assert self._refusal is not None
        status, code, message = self._refusal
        self._cancel_timers()
        if self.cycle is not None and not self.cycle.response_complete:
            # An app task may be waiting on this request's body: it sees a disconnect.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        body, content_type = error_body(status, code, message, None, as_json=True)
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: " + content_type + b"\r\n",
            b"content-length: %d\r\n" % len(body),
            b"cache-control: no-store\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.logger.warning("refused a request: %s", message)
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def limited_protocol(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for uvicorn's ``http=`` option that enforces ``limits``."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
