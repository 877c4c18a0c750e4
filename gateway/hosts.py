"""Which ``Host`` headers the gateway answers, so a forged one cannot poison a page.

The host ends up in redirects, absolute links and the ``Host`` and
``X-Forwarded-Host`` the site receives; ``CG_ALLOWED_HOSTS`` lists the names the
site is served under, with Django's ``ALLOWED_HOSTS`` patterns: ``example.org``
matches that name only, ``.example.org`` the name and every subdomain, ``*``
anything. Ports are not part of a pattern. A host that is not a host at all
(userinfo such as ``a@evil.example``, spaces, a bad port) is refused whatever the
list says.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from gateway.asgi import RawHeaders, Scope, header_value
from gateway.exceptions import SettingsError

# A name (letters, digits, '-', '_', '.') or a bracketed IPv6 literal, then an optional
# port: the reg-name of RFC 3986 without the characters no real host name uses.
_HOST = re.compile(
    r"(?P<name>[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?", re.IGNORECASE
)
_PATTERN = re.compile(r"\*|\.?[a-z0-9_-][a-z0-9_.-]*|\[[0-9a-f:.]+\]", re.IGNORECASE)
_CACHE_SIZE = 1024


def host_name(value: str) -> str | None:
    """The name in a ``Host`` value, lower case, without port or final dot; ``None`` when
    the value is not a host (userinfo, a path, spaces, a port out of range)."""
    match = _HOST.fullmatch(value)
    if match is None or (match["port"] and int(match["port"]) > 65535):
        return None
    return match["name"].lower().rstrip(".")


def request_host(headers: RawHeaders) -> str | None:
    """The request's one ``Host`` value (``""`` without one), or ``None`` when it has more
    than one, which a server must refuse (RFC 9112 section 3.2): the value checked must
    be the value the upstream receives."""
    found: str | None = ""
    for key, value in headers:
        if key == b"host":
            if found:
                return None
            found = value.decode("latin-1")
    return found


def parse_upstream_host(name: str, raw: str) -> str:
    """A fixed ``Host`` for the upstream (``www.example.org`` or ``[::1]:8000``), or ``""``."""
    value = raw.strip()
    if value and host_name(value) is None:
        raise SettingsError(
            f"{name} must be a host name with an optional port, without scheme or path, such "
            f"as www.example.org or www.example.org:8443; {value!r} is not one. Leave it empty "
            "to pass on the visitor's Host."
        )
    return value


class Refusal(NamedTuple):
    """A request refused before it is read: the status, error code and message."""

    status: int
    code: str
    message: str


def to_origin_form(scope: Scope) -> Refusal | None:
    """Rewrite an absolute-form target (``GET http://host/path``) to its path, in place.

    HTTP requests arrive so from uvicorn's parser already; a websocket handshake keeps
    the target it was sent. An absolute-form target must name the host of the
    ``Host`` header (RFC 9112 section 3.2.2): naming another one is refused.
    """
    raw: bytes = scope.get("raw_path") or b"/"
    if raw.startswith(b"/"):
        return None
    parts = urlsplit(raw.decode("latin-1"))
    host = header_value(scope["headers"], b"host") or ""
    named = host_name(parts.netloc)
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or (
        named is None or named != host_name(host)
    ):
        return Refusal(
            400, "bad_target", "The request target must be a path on the host this site serves."
        )
    path = parts.path or "/"
    scope["raw_path"] = path.encode("latin-1")
    scope["path"] = unquote(path)
    if parts.query and not scope.get("query_string"):
        scope["query_string"] = parts.query.encode("latin-1")
    return None


def parse_allowed_hosts(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated host patterns (``example.org``, ``.example.org``, ``*``)."""
    patterns = tuple(item.strip().lower().rstrip(".") for item in raw.split(",") if item.strip())
    for pattern in patterns:
        if not _PATTERN.fullmatch(pattern):
            raise SettingsError(
                f"{name} must be comma-separated host names without scheme or port, such as "
                f"www.example.org,.example.org (a leading dot allows subdomains); "
                f"{pattern!r} is not one."
            )
    return patterns


class AllowedHosts:
    """Answers whether a request's ``Host`` value is one the gateway serves.

    With no patterns every well-formed host is allowed (the behaviour before the
    setting existed). Answers are cached by the raw value, in a bounded map that
    is emptied when full, so a flood of invented hosts costs no memory.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns
        self.any = not patterns or "*" in patterns
        self._cache: dict[str, bool] = {}

    def allows(self, value: str) -> bool:
        known = self._cache.get(value)
        if known is None:
            known = self._decide(value)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[value] = known
        return known

    def _decide(self, value: str) -> bool:
        if not value:
            return self.any  # HTTP/1.0 without a Host: nothing to poison, unless a list is set
        name = host_name(value)
        if name is None:
            return False
        if self.any:
            return True
        for pattern in self.patterns:
            if pattern == name or (
                pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:])
            ):
                return True
        return False
