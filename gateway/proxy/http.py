"""Forwarding one HTTP request to the upstream and streaming the answer back.

This is the hot path, so it is a plain ASGI callable over the gateway's own
connection pool (:mod:`gateway.proxy.pool`), not a Starlette endpoint or a
general HTTP client, both of which cost several times more. Bodies stream both
ways with flat memory, and compressed bodies pass byte for byte. Only the
configured upstream is ever contacted, whatever the request target or ``Host``
header said.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

from gateway.asgi import VISITOR_GONE, RawHeaders, Receive, Scope, Send, header_value
from gateway.caching import mark_private
from gateway.client_ip import TrustedProxies
from gateway.consent.enforcement import CookieEnforcer
from gateway.context import RequestContext
from gateway.errors import new_request_id, send_error, wants_json
from gateway.exceptions import UpstreamError, UpstreamTimeout
from gateway.proxy.headers import (
    LocationRewriter,
    RequestTranslator,
    downstream_response_headers,
)
from gateway.proxy.request import BadHeader, BodySender, encode_head
from gateway.proxy.upstream import Upstream
from gateway.proxy.wire import UpstreamConnection
from gateway.request_body import BodyAborted, BodyReader

logger = logging.getLogger("gateway.proxy")


ResponseObserver = Callable[[Scope, RequestContext, int, RawHeaders], None]
"""Called once per proxied response, as its headers go out, with the headers that go.

Observers must be cheap and must not raise: they run on the hot path (the
analytics page-view recorder is one). They may not change the response.
"""


class ResponseBody(Protocol):
    """The rest of an upstream response's body, as a page rewriter reads it."""

    async def read(self) -> bytes:
        """The bytes that arrived since the last read, ``b""`` at the end; raises
        :class:`UpstreamError` if the body broke off."""
        ...

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        ...


BodyRewrite = Callable[[bytes, ResponseBody, Send], Awaitable[None]]
PageRewriter = Callable[[Scope, int, RawHeaders], BodyRewrite | None]
"""Asked once per proxied response, from its status and the headers that would go.

``None``, the answer for anything but an HTML page, lets the proxy stream as always;
otherwise the returned callable sends the whole response itself, given the first chunk
and the rest of the body (the consent banner's injection, ``gateway/banner/``). It may
raise :class:`UpstreamError` only before it has sent anything.
"""

RequestRewriter = Callable[[Scope], None]
"""Called once per proxied request before it is framed for the upstream; it may replace
``scope["headers"]`` and leave a note in the scope for the :data:`PageRewriter` (the
banner translates the visitor's validators back to the upstream's)."""


class FramingError(NamedTuple):
    """Why a request's framing is refused: the status, error code and message."""

    status: int
    code: str
    message: str


class HttpProxy:
    """ASGI app that forwards every HTTP request to the upstream."""

    def __init__(
        self,
        upstream: Upstream,
        trusted: TrustedProxies,
        enforcer: CookieEnforcer,
        max_body_bytes: int,
        observers: list[ResponseObserver] | None = None,
        page_rewriter: PageRewriter | None = None,
        request_rewriter: RequestRewriter | None = None,
    ) -> None:
        self.upstream = upstream
        self.enforcer = enforcer
        self.max_body_bytes = max_body_bytes
        self.rewriter = LocationRewriter(upstream.base_url, upstream.fixed_host)
        self.translate = RequestTranslator(
            upstream.fixed_host, upstream.host_header, upstream.base_path, trusted, enforcer
        ).translate
        self.observers = observers or []
        self.page_rewriter = page_rewriter
        self.request_rewriter = request_rewriter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context: RequestContext = scope["gateway"]
        headers = scope["headers"]
        method: str = scope["method"]
        as_json = wants_json(header_value(headers, b"accept"))

        framing = self._framing(headers)
        if isinstance(framing, FramingError):
            status, code, message = framing
            await send_error(send, status, code, message, request_id=None, as_json=as_json)
            return
        length, chunked = framing
        if length is not None and length > self.max_body_bytes:
            await self._too_large(send, as_json)
            return
        has_body = chunked or bool(length)

        if self.request_rewriter is not None:
            self.request_rewriter(scope)
        target, out_headers = self.translate(scope, context)
        try:
            head = encode_head(method, target, out_headers, length, chunked)
        except BadHeader as error:
            await send_error(send, 400, "bad_header", str(error), request_id=None, as_json=as_json)
            return
        reader = BodyReader(receive, self.max_body_bytes) if has_body else None
        pool = self.upstream.pool
        try:
            response = await pool.request(
                method, head, BodySender(reader, length) if reader is not None else None
            )
        except UpstreamError as error:
            await self._fail(send, error, method, scope, as_json)
            return
        except BodyAborted:
            if reader is not None and reader.too_large:
                await self._too_large(send, as_json)
            return  # otherwise the visitor went away mid-upload: nobody is left to answer
        try:
            await self._relay(scope, method, response, context, send, as_json)
        finally:
            pool.release(response)

    @staticmethod
    def _framing(headers: RawHeaders) -> tuple[int | None, bool] | FramingError:
        """The body's length (``None`` if not announced) and whether it came chunked, as
        the gateway reads the request; the request sent upstream is framed from this.

        uvicorn's parser has already refused both framings at once and a length that is
        not a number; this is the gateway's own reading, so that nothing else decides.
        """
        length: int | None = None
        chunked = False
        for key, value in headers:
            if key == b"transfer-encoding":
                if value.strip().lower() != b"chunked":
                    return FramingError(
                        501,
                        "unsupported_transfer_coding",
                        "Only chunked transfer coding is accepted.",
                    )
                chunked = True
            elif key == b"content-length":
                if not value.isdigit() or length is not None:
                    return FramingError(
                        400, "bad_content_length", "The Content-Length header is not one number."
                    )
                length = int(value)
        if chunked and length is not None:
            return FramingError(
                400,
                "bad_framing",
                "A request may not carry both Content-Length and chunked coding.",
            )
        return length, chunked

    async def _relay(
        self,
        scope: Scope,
        method: str,
        response: UpstreamConnection,
        context: RequestContext,
        send: Send,
        as_json: bool,
    ) -> None:
        status = response.status
        public_origin = f"{context.scheme}://{context.host}".encode("latin-1")
        upstream_headers = downstream_response_headers(
            response.headers, self.rewriter, public_origin
        )
        out = self.enforcer.filter_response(upstream_headers, context)
        if len(out) != len(upstream_headers):
            # Cookies were taken out for this visitor: no shared cache may replay the rest.
            out = mark_private(out)
        try:
            # Read the first chunk before starting the response: a small page then goes
            # out in one message, and a failure before any byte can still become a 502.
            first = await response.read()
            for observe in self.observers:
                observe(scope, context, status, out)
            if self.page_rewriter is not None:
                rewrite = self.page_rewriter(scope, status, out)
                if rewrite is not None:
                    await rewrite(first, response, send)
                    return
        except UpstreamError as error:
            await self._fail(send, error, method, scope, as_json)
            return
        await send({"type": "http.response.start", "status": status, "headers": out})
        if response.at_eof:
            await send({"type": "http.response.body", "body": first, "more_body": False})
            return
        await send({"type": "http.response.body", "body": first, "more_body": True})
        try:
            while chunk := await response.read():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if VISITOR_GONE in scope:
                    # Nobody reads the rest (a cancelled download, a video seek): stop
                    # pulling it; the unfinished upstream connection is closed, not pooled.
                    return
        except UpstreamError as error:
            # Headers are gone already: the only honest signal left is to cut the
            # connection, which uvicorn does when we return unfinished.
            logger.warning(
                "upstream failed mid-body request_id=%s error=%s",
                new_request_id(),
                type(error).__name__,
            )
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _too_large(self, send: Send, as_json: bool) -> None:
        await send_error(
            send,
            413,
            "body_too_large",
            f"The request body is larger than the {self.max_body_bytes} bytes this site accepts.",
            request_id=None,
            as_json=as_json,
            extra_headers=[(b"connection", b"close")],
        )

    async def _fail(
        self, send: Send, error: UpstreamError, method: str, scope: Scope, as_json: bool
    ) -> None:
        request_id = new_request_id()
        logger.warning(
            "upstream %s request_id=%s method=%s path=%s detail=%s",
            error.code,
            request_id,
            method,
            scope["path"],
            error,
        )
        message = (
            "The site did not answer in time. Please try again in a moment."
            if isinstance(error, UpstreamTimeout)
            else "The site is unreachable just now. Please try again in a moment."
        )
        await send_error(
            send, error.status_code, error.code, message, request_id=request_id, as_json=as_json
        )
