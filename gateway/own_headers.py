"""Security headers on every answer the gateway itself gives under the reserved prefix.

The consent API, the beacon, the banner's files, the privacy page and their
error answers (404, 405, 429 included) are the gateway's own, so it vouches
for how a browser may use them: never sniffed as another type, never framed
by another site, no referrer leaked, and a Content-Security-Policy: nothing
at all for data (JSON), and only this origin's scripts for pages. A route
that sets one of these headers itself (the privacy page does) keeps its own.

The proxied site's answers are left alone: its headers are the site's business.
"""

from __future__ import annotations

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send

DATA_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
PAGE_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class ResponseHeaders:
    """Plain ASGI middleware that sets headers on every HTTP answer's start message.

    Subclasses say which headers in :meth:`headers_for`, given the request and the
    headers the answer already has; with ``replace`` they win over the answer's
    own, otherwise an answer's own header of the same name is kept. The public
    reserved prefix and the admin listener each have one (``OwnSecurityHeaders``
    here, ``gateway.admin.headers.SecurityHeadersMiddleware``).
    """

    replace = False

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def headers_for(
        self, scope: Scope, headers: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                extra = self.headers_for(scope, headers)
                names = {name for name, _ in extra}
                if self.replace:
                    headers = [pair for pair in headers if pair[0].lower() not in names]
                else:
                    present = {name.lower() for name, _ in headers}
                    extra = [pair for pair in extra if pair[0] not in present]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class OwnSecurityHeaders(ResponseHeaders):
    """Adds :data:`DEFAULTS` and a Content-Security-Policy where a response has none."""

    def headers_for(
        self, scope: Scope, headers: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        html = any(
            name.lower() == b"content-type" and value.startswith(b"text/html")
            for name, value in headers
        )
        return [*DEFAULTS, (b"content-security-policy", PAGE_CSP if html else DATA_CSP)]
