"""Reading ``Cookie`` headers and writing ``Set-Cookie`` headers, by RFC 6265.

The parser is deliberately lenient, like browsers and Starlette's
``cookie_parser``: a malformed pair is skipped, never an error, because the
header comes straight from the visitor. Pairs keep their order and their raw
bytes so that what is forwarded to the upstream is exactly what arrived, less
what the gateway removes.
"""

from __future__ import annotations

from dataclasses import dataclass


def parse_cookie_header(header: str) -> list[tuple[str, str]]:
    """Split a ``Cookie`` header into ``(name, value)`` pairs, skipping nameless ones."""
    pairs = []
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if name and sep:
            pairs.append((name, value.strip()))
    return pairs


def join_cookie_pairs(pairs: list[tuple[str, str]]) -> str:
    """The inverse of :func:`parse_cookie_header`."""
    return "; ".join(f"{name}={value}" for name, value in pairs)


@dataclass(frozen=True, slots=True)
class CookieAttributes:
    """The attributes the gateway puts on its own cookies."""

    path: str = "/"
    http_only: bool = True
    same_site: str = "Lax"


def set_cookie_header(
    name: str,
    value: str,
    *,
    max_age: int,
    secure: bool,
    attributes: CookieAttributes = CookieAttributes(),
) -> bytes:
    """Build one ``Set-Cookie`` value; ``max_age=0`` tells the browser to delete it."""
    parts = [f"{name}={value}", f"Path={attributes.path}", f"Max-Age={max_age}"]
    if max_age == 0:
        parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if attributes.http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append(f"SameSite={attributes.same_site}")
    return "; ".join(parts).encode("latin-1")
