"""Which responses a shared cache may keep, how the gateway marks one it must not, and dates.

A shared cache (a CDN, a school's web proxy) stores a response once and replays
it, ``Set-Cookie`` included, to every later visitor (RFC 9111 section 3). So
the gateway adds its own cookies only to responses no shared cache may store,
and marks ``private`` a response it changed for one visitor. ``private`` rather
than ``Vary: Cookie``: every cache honours ``private`` (RFC 9111 section
5.2.2.7), while several CDNs ignore ``Vary`` on anything but
``Accept-Encoding``, and the others would keep one copy per visitor's cookies.

Dates are the HTTP form (RFC 9110 section 5.6.7); the ``Date`` header of the
gateway's own answers is formatted once a second (RFC 9110 section 6.6.1).
"""

from __future__ import annotations

import time
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache

from gateway.asgi import RawHeaders

# Content types a CDN caches by default, whatever the page around them does.
_STATIC_TYPES = (
    b"text/css",
    b"text/javascript",
    b"application/javascript",
    b"application/x-javascript",
    b"image/",
    b"font/",
    b"application/font-",
    b"application/vnd.ms-fontobject",
)
# The same by the path's extension: CDNs decide by it (a 304 often has no type at all).
_STATIC_EXTENSIONS = frozenset(
    {
        "css",
        "js",
        "mjs",
        "map",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "avif",
        "svg",
        "ico",
        "bmp",
        "woff",
        "woff2",
        "ttf",
        "otf",
        "eot",
    }
)
# Cache-Control for CDNs only (RFC 9213 and vendors' own); a CDN obeys it over Cache-Control.
TARGETED = frozenset({b"cdn-cache-control", b"surrogate-control", b"cloudflare-cdn-cache-control"})
_KEEPS_OUT = frozenset({b"private", b"no-store"})
_SHARED = frozenset({b"public", b"s-maxage", b"immutable"})
_DROPPED_WHEN_PRIVATE = frozenset({b"public", b"s-maxage", b"proxy-revalidate"})


def directives(value: bytes) -> dict[bytes, bytes]:
    """The directives of one Cache-Control value, by lower-case name, with their arguments."""
    out: dict[bytes, bytes] = {}
    for item in value.split(b","):
        name, _, argument = item.partition(b"=")
        name = name.strip().lower()
        if name:
            out[name] = argument.strip().strip(b'"')
    return out


def is_static(content_type: bytes | None, path: str) -> bool:
    """Whether the type, or failing it the path's extension, is one CDNs cache by default."""
    if content_type is not None and content_type.lower().startswith(_STATIC_TYPES):
        return True
    last = path.rsplit("/", 1)[-1]
    return "." in last and last.rsplit(".", 1)[-1].lower() in _STATIC_EXTENSIONS


def shared_cacheable(method: str, path: str, headers: RawHeaders) -> bool:
    """Whether a shared cache may store this response to ``method path``.

    Yes for a GET or HEAD answer that a CDN-only header lets a CDN keep, or that
    Cache-Control does not keep out (``private``, ``no-store``) and that says
    ``public``, ``s-maxage``, ``immutable`` or a ``max-age`` above 0, has an
    ``Expires`` still to come, or is a static asset (CSS, JavaScript, an image, a
    font). Anything else a cache keeps only by its own heuristics, which CDNs do
    not apply to pages.
    """
    if method not in ("GET", "HEAD"):
        return False
    control: dict[bytes, bytes] = {}
    targeted: dict[bytes, bytes] | None = None
    content_type = expires = None
    for key, value in headers:
        if key == b"cache-control":
            control.update(directives(value))
        elif key == b"content-type":
            content_type = value
        elif key == b"expires":
            expires = value
        elif key in TARGETED:
            targeted = {**(targeted or {}), **directives(value)}
    if targeted is not None and not _KEEPS_OUT & targeted.keys():
        return True
    if _KEEPS_OUT & control.keys():
        return False
    max_age = control.get(b"max-age", b"")
    if _SHARED & control.keys() or (max_age.isdigit() and int(max_age) > 0):
        return True
    if expires is not None and b"max-age" not in control:
        until = parse_http_date(expires)
        if until is not None and until > time.time():
            return True
    return is_static(content_type, path)


def mark_private(headers: RawHeaders) -> RawHeaders:
    """``headers`` that no shared cache may store: ``private`` added to Cache-Control
    (``public`` and ``s-maxage`` gone), the CDN-only headers removed. The visitor's
    own browser may still keep the response as the upstream allowed."""
    control: list[bytes] = []
    out: RawHeaders = []
    for key, value in headers:
        if key == b"cache-control":
            control.append(value)
        elif key not in TARGETED:
            out.append((key, value))
    names = {name for value in control for name in directives(value)}
    if _KEEPS_OUT & names:
        out.extend((b"cache-control", value) for value in control)
        return out
    kept = [
        item.strip()
        for value in control
        for item in value.split(b",")
        if item.strip() and item.partition(b"=")[0].strip().lower() not in _DROPPED_WHEN_PRIVATE
    ]
    out.append((b"cache-control", b", ".join([b"private", *kept])))
    return out


@lru_cache(maxsize=64)  # the same few moments (the gateway's start, pages' dates) recur
def http_date(seconds: int) -> bytes:
    """``seconds`` since the epoch as an HTTP date: ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return formatdate(seconds, usegmt=True).encode("ascii")


@lru_cache(maxsize=256)  # a page's Last-Modified comes again and again; parsing costs 5 us
def parse_http_date(value: bytes | str) -> int | None:
    """An HTTP date as whole seconds since the epoch; ``None`` if it is not one."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are always GMT
        return None
    return int(moment.timestamp())


class DateHeader:
    """The ``Date`` header's value now, formatted at most once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, http_date(second)
        return self._value


def with_date(headers: RawHeaders, date: DateHeader) -> RawHeaders:
    """``headers`` with a ``Date`` if they have none (RFC 9110 section 6.6.1)."""
    for key, _ in headers:
        if key == b"date":
            return headers
    return [*headers, (b"date", date.now())]
