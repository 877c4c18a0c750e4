"""Reading ``Cookie`` headers and writing ``Set-Cookie`` headers, by RFC 6265.

The parser is deliberately lenient, like browsers and Starlette's
``cookie_parser``: a malformed pair is skipped, never an error, because the
header comes straight from the visitor. Pairs keep their order and their raw
bytes so that what is forwarded to the upstream is exactly what arrived, less
what the gateway removes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Cookie name prefixes (RFC 6265bis section 4.1.3): a browser keeps a ``__Secure-``
# cookie only with ``Secure`` from a secure page, and a ``__Host-`` one only if it is
# also host-only with ``Path=/``. Browsers match them case-insensitively.
HOST_PREFIX = "__Host-"
_PREFIXES = ("__host-", "__secure-")
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
# A host name as a Domain attribute may carry it: the visitor's Host header is copied
# into deletions, so anything else (a ";" adding attributes) is not used at all.
_HOST_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")


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


def unprefixed(name: str) -> str:
    """A cookie's name without its ``__Host-`` and ``__Secure-`` prefixes, if it has any.

    A prefix says how the browser let the cookie be set, not what it is for:
    ``__Host-_ga`` is the same tracker as ``_ga``.
    """
    start = 0
    while name.startswith("__", start):
        head = name[start : start + 9].lower()
        if head.startswith(_PREFIXES[0]):
            start += len(_PREFIXES[0])
        elif head.startswith(_PREFIXES[1]):
            start += len(_PREFIXES[1])
        else:
            break
    return name[start:]


def own_cookie_name(name: str, secure: bool) -> str:
    """The name one of the gateway's own cookies goes by: ``__Host-`` + ``name`` behind HTTPS.

    No sibling subdomain and no plain-HTTP page can plant a ``__Host-`` cookie, so
    behind HTTPS the gateway's cookies cannot be tossed into a visitor's browser.
    """
    return HOST_PREFIX + name if secure else name


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
    """Build one ``Set-Cookie`` value for the gateway's own cookie ``name``.

    ``max_age=0`` tells the browser to delete it. With ``secure`` (the visitor came
    over HTTPS) the cookie is ``Secure`` and named by :func:`own_cookie_name`, which
    needs ``Path=/`` and no ``Domain``: every cookie of the gateway gets the prefix
    here, so none can be set without it.
    """
    if secure and attributes.path == "/":
        name = own_cookie_name(name, secure)
    parts = [f"{name}={value}", f"Path={attributes.path}", f"Max-Age={max_age}"]
    if max_age == 0:
        parts.append(f"Expires={EPOCH}")
    if attributes.http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append(f"SameSite={attributes.same_site}")
    return "; ".join(parts).encode("latin-1")


def expire_cookie(name: str, path: str, domain: str, secure: bool) -> bytes:
    """A ``Set-Cookie`` value that makes the browser delete ``name`` at ``path``/``domain``."""
    parts = [f"{name}=", f"Path={path}", "Max-Age=0", f"Expires={EPOCH}"]
    if domain:
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def cookie_domains(host_header: str) -> list[str]:
    """The host and up to two parent domains, where scripts set their cookies; none for IPs."""
    host = host_header.rsplit(":", 1)[0].lower() if host_header else ""
    if not _HOST_NAME.fullmatch(host) or host.replace(".", "").isdigit():
        return []
    labels = host.split(".")
    return [".".join(labels[start:]) for start in range(min(3, len(labels) - 1))]
