"""Forwarding one HTTP request to the upstream and streaming the answer back.

This is the gateway's hot path, so it is a plain ASGI callable over one shared
aiohttp session rather than a Starlette endpoint: Starlette's streaming
response starts a task group per response, and httpx's pool costs several
times aiohttp's (see the foundation issue's measurements).

Bodies stream both ways with flat memory: request chunks are handed to aiohttp
as an async generator, response chunks go to the client as they arrive, and
both sides apply back-pressure (aiohttp pauses reading while its buffer is
full, uvicorn pauses ``send`` while the socket is). Compressed bodies pass
byte for byte, because the session never decompresses.

Only the configured upstream is ever contacted: the URL is always the
upstream's origin plus the request's path, whatever the request target or the
``Host`` header said.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from yarl import URL

from gateway.asgi import RawHeaders, Receive, Scope, Send, header_value
from gateway.client_ip import TrustedProxies
from gateway.consent.enforcement import CookieEnforcer
from gateway.context import RequestContext
from gateway.errors import new_request_id, send_error, wants_json
from gateway.exceptions import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from gateway.proxy.headers import (
    LocationRewriter,
    downstream_response_headers,
    upstream_request_headers,
)
from gateway.proxy.upstream import Upstream
from gateway.request_body import BodyAborted, BodyReader

logger = logging.getLogger("gateway.proxy")

# Methods that may be retried once on a stale pooled connection: they are
# idempotent and, without a body, nothing of the visitor's has been consumed.
_RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS"})


def _classify(error: BaseException, reader: BodyReader | None) -> str | None:
    """Name what went wrong: ``too_large``, ``timeout``, ``stale``, ``unreachable``, or
    ``None`` when the visitor left. aiohttp wraps errors raised by the body generator,
    so the reader's own flags are asked first."""
    if reader is not None and reader.too_large:
        return "too_large"
    if reader is not None and reader.client_gone:
        return None
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, aiohttp.ClientConnectorError):
        return "unreachable"
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return "stale"
    return "unreachable"


ResponseObserver = Callable[[Scope, RequestContext, int, RawHeaders], None]
"""Called once per proxied response, as its headers go out, with the headers that go.

Observers must be cheap and must not raise: they run on the hot path (the
analytics page-view recorder is one). They may not change the response.
"""

BodyRewrite = Callable[[bytes, aiohttp.StreamReader, Send], Awaitable[None]]
PageRewriter = Callable[[Scope, int, RawHeaders], BodyRewrite | None]
"""Asked once per proxied response, from its status and the headers that would go.

``None``, the answer for anything but an HTML page, lets the proxy stream as always;
otherwise the returned callable sends the whole response itself, given the first chunk
and the rest of the body (the consent banner's injection, ``gateway/banner/``).
"""


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
    ) -> None:
        self.upstream = upstream
        self.trusted = trusted
        self.enforcer = enforcer
        self.max_body_bytes = max_body_bytes
        self.rewriter = LocationRewriter(upstream.base_url)
        self.observers = observers or []
        self.page_rewriter = page_rewriter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context: RequestContext = scope["gateway"]
        headers = scope["headers"]
        method: str = scope["method"]
        as_json = wants_json(header_value(headers, b"accept"))

        length = header_value(headers, b"content-length")
        chunked = header_value(headers, b"transfer-encoding") is not None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_error(
                    send,
                    400,
                    "bad_content_length",
                    "The Content-Length header is not a number.",
                    request_id=None,
                    as_json=as_json,
                )
                return
            if declared > self.max_body_bytes:
                await self._too_large(send, as_json)
                return
        has_body = chunked or (length is not None and length != "0")

        peer = scope["client"][0] if scope.get("client") else ""
        out_headers = upstream_request_headers(
            headers,
            context,
            peer,
            self.trusted.is_trusted(peer),
            self.upstream.host_header,
            self.enforcer.upstream_cookies(context),
        )
        out_headers.append(("X-Consent", self.enforcer.consent_header(context)))
        target = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = URL(
            self.upstream.base_url
            + target.decode("latin-1")
            + ("?" + query.decode("latin-1") if query else ""),
            encoded=True,
        )
        reader = BodyReader(receive, self.max_body_bytes) if has_body else None
        attempts = 2 if reader is None and method in _RETRYABLE else 1
        for attempt in range(attempts):
            try:
                await self._exchange(scope, method, url, out_headers, reader, context, send)
                return
            except (aiohttp.ClientError, TimeoutError, BodyAborted) as caught:
                error = caught
                failure = _classify(error, reader)
            if failure is None:
                return  # the visitor went away mid-upload: nobody is left to answer
            if failure == "too_large":
                await self._too_large(send, as_json)
                return
            if failure == "stale" and attempt + 1 < attempts:
                continue  # a pooled connection the upstream had closed: try a fresh one
            upstream_error: UpstreamError = (
                UpstreamTimeout(str(error))
                if failure == "timeout"
                else UpstreamUnreachable(str(error))
            )
            await self._fail(send, upstream_error, method, scope, as_json)
            return

    async def _exchange(
        self,
        scope: Scope,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        reader: BodyReader | None,
        context: RequestContext,
        send: Send,
    ) -> None:
        session = self.upstream.session
        async with session.request(
            method,
            url,
            headers=headers,
            data=reader.chunks() if reader is not None else None,
            allow_redirects=False,
        ) as response:
            public_origin = f"{context.scheme}://{context.host}".encode("latin-1")
            out = self.enforcer.filter_response(
                downstream_response_headers(response.raw_headers, self.rewriter, public_origin),
                context,
            )
            # Read the first chunk before starting the response: a small page then goes
            # out in one message, and a failure before any byte can still become a 502.
            content = response.content
            first = await content.readany()
            for observe in self.observers:
                observe(scope, context, response.status, out)
            if self.page_rewriter is not None:
                rewrite = self.page_rewriter(scope, response.status, out)
                if rewrite is not None:
                    await rewrite(first, content, send)
                    return
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            try:
                if content.at_eof():
                    await send({"type": "http.response.body", "body": first, "more_body": False})
                    return
                await send({"type": "http.response.body", "body": first, "more_body": True})
                async for chunk in content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (aiohttp.ClientError, TimeoutError) as error:
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
