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


class OwnSecurityHeaders:
    """Adds :data:`DEFAULTS` and a Content-Security-Policy where a response has none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in DEFAULTS if pair[0] not in present)
                if b"content-security-policy" not in present:
                    html = any(
                        name.lower() == b"content-type" and value.startswith(b"text/html")
                        for name, value in headers
                    )
                    headers.append((b"content-security-policy", PAGE_CSP if html else DATA_CSP))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
