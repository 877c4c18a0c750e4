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

from gateway.asgi import Scope
from gateway.own_headers import ResponseHeaders

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


class SecurityHeadersMiddleware(ResponseHeaders):
    """Sets :data:`HEADERS` (and ``Cache-Control: no-store`` off ``/static/``) on every answer."""

    replace = True

    def headers_for(
        self, scope: Scope, headers: list[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        cached = scope["path"].startswith("/static/") or any(
            name.lower() == b"cache-control" for name, _ in headers
        )
        return HEADERS if cached else [*HEADERS, (b"cache-control", b"no-store")]
