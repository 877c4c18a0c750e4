"""Security headers on every answer of the admin listener, pages and errors alike.

The Content-Security-Policy allows scripts, styles and images from the listener
itself only: no inline script or style (the pages are built so: charts are SVG
with presentation attributes, the one script is an external file), no plugin,
no framing by any site (``frame-ancestors 'none'``, and the older
``X-Frame-Options`` for old browsers), forms posting to this listener only.
Referrers are never sent, so dashboard URLs with filters do not leak.
Dashboard pages are never cached (``no-store``); static files may be.
"""

from __future__ import annotations

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


class SecurityHeadersMiddleware:
    """Adds :data:`HEADERS` (and ``Cache-Control: no-store`` off ``/static/``) to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in {name for name, _ in HEADERS}
                ]
                headers.extend(HEADERS)
                if not static and not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
