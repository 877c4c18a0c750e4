"""What the gateway knows about one request, worked out once at the front door.

:func:`read_context` resolves the client's address and scheme through the
trusted-proxy rule and parses the ``Cookie`` header once, believing the
gateway's own cookies only as :mod:`gateway.own_cookies` allows; the front door
(``gateway/front_door.py``) stores the result in ``scope["gateway"]``. Every
later step (session, consent, proxy, own routes) reads that object instead of
parsing headers again, and adds the ``Set-Cookie`` headers it wants in
``response_cookies``; the front door puts them on whichever response goes out,
from the upstream or from the gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from gateway.asgi import RawHeaders, Scope
from gateway.client_ip import TrustedProxies
from gateway.cookies import parse_cookie_header
from gateway.exceptions import CookieHeaderTooLarge
from gateway.own_cookies import GATEWAY_COOKIE_PREFIX as GATEWAY_COOKIE_PREFIX
from gateway.own_cookies import read_own_cookies

# The longest Cookie header (all its lines together) the gateway parses, as nginx's
# and Apache's default limit on one header line; a longer one is answered 431.
MAX_COOKIE_BYTES = 8192

# Control characters no header may carry (RFC 9110 section 5.5: CR, LF and NUL must be
# refused; other controls but HTAB are invalid). uvicorn's parser already refuses
# them; this keeps the rule whatever server runs the app, before any layer copies a
# visitor's header into a header of its own (Set-Cookie, X-Forwarded-Host, upstream).
_FORBIDDEN_IN_HEADERS = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class ConsentView(Protocol):
    """What the rest of the gateway may ask about a visitor's consent.

    The consent feature fills this in per request; until it does, ``NO_CONSENT``
    stands for every visitor, so nothing beyond ``necessary`` is ever assumed.
    """

    @property
    def consent_id(self) -> str | None: ...

    def allows(self, category: str) -> bool: ...


class _NoConsent:
    """No choice made: only the ``necessary`` category is granted."""

    consent_id: str | None = None

    def allows(self, category: str) -> bool:
        return category == "necessary"


NO_CONSENT: ConsentView = _NoConsent()


@dataclass(slots=True)
class RequestContext:
    """Per-request facts shared by every layer of the gateway."""

    client_ip: str
    scheme: str
    host: str
    cookies: list[tuple[str, str]]
    session_id: str | None = None
    consent: ConsentView = NO_CONSENT
    response_cookies: list[bytes] = field(default_factory=list)
    # The gateway's own cookies this request may believe, by unprefixed name.
    own_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def secure(self) -> bool:
        """Whether the visitor reached us over TLS, so cookies must carry ``Secure``."""
        return self.scheme in ("https", "wss")

    def cookie(self, name: str) -> str | None:
        """The value of the visitor's cookie ``name``, or ``None``.

        For one of the gateway's own names (``cg_session``, unprefixed) it is the
        value :func:`gateway.own_cookies.read_own_cookies` believed, whatever else came.
        """
        if name.startswith(GATEWAY_COOKIE_PREFIX):
            return self.own_cookies.get(name)
        for key, value in self.cookies:
            if key == name:
                return value
        return None


def has_forbidden_controls(headers: RawHeaders) -> bool:
    """Whether a header value holds a control character HTTP forbids.

    One scan over the values joined (a few hundred bytes), cheaper than a search
    per header. Names need none: uvicorn's parser admits only token names.
    """
    return _FORBIDDEN_IN_HEADERS.search(b"".join([value for _, value in headers])) is not None


def read_context(scope: Scope, trusted: TrustedProxies) -> RequestContext:
    """The request's client address, scheme, host and cookies, read in one pass.

    Raises :class:`CookieHeaderTooLarge` beyond :data:`MAX_COOKIE_BYTES`. The
    deletions of gateway cookies it cannot believe start ``response_cookies``.
    """
    forwarded_for = forwarded_proto = cookie = None
    host = ""
    for key, value in scope["headers"]:
        if key == b"cookie":
            text = value.decode("latin-1")
            cookie = text if cookie is None else f"{cookie}; {text}"
        elif key == b"host":
            host = value.decode("latin-1")
        elif key == b"x-forwarded-for":
            forwarded_for = value.decode("latin-1")
        elif key == b"x-forwarded-proto":
            forwarded_proto = value.decode("latin-1")
    client = scope.get("client")
    peer = client[0] if client else ""
    context = RequestContext(
        client_ip=trusted.client(peer, forwarded_for),
        scheme=trusted.scheme(peer, scope["scheme"], forwarded_proto),
        host=host,
        cookies=[],
    )
    if cookie:
        if len(cookie) > MAX_COOKIE_BYTES:
            raise CookieHeaderTooLarge(
                f"The Cookie header is over {MAX_COOKIE_BYTES} bytes; clear this site's cookies."
            )
        context.cookies = parse_cookie_header(cookie)
        context.own_cookies, context.response_cookies = read_own_cookies(
            context.cookies,
            secure=context.secure,
            host=host,
            raw_path=scope.get("raw_path") or scope["path"].encode("latin-1", "replace"),
        )
    return context
