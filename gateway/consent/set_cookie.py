"""Reading and capping ``Set-Cookie`` values (RFC 6265 section 4.1).

Only what enforcement needs is parsed: the name, ``Path``, ``Domain``,
``Max-Age`` and ``Expires``. Everything else in the header passes as it came.
"""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime

from gateway.caching import parse_http_date

# Thirteen months, the longest a consent-dependent cookie may live (CNIL).
MAX_COOKIE_SECONDS = 395 * 86400


def cookie_name(value: bytes) -> str:
    """The name of the cookie a ``Set-Cookie`` value sets."""
    return value.split(b";", 1)[0].split(b"=", 1)[0].strip().decode("latin-1")


def path_and_domain(value: bytes) -> tuple[str, str]:
    """The ``Path`` and ``Domain`` a ``Set-Cookie`` value sets, ``("/", "")`` by default."""
    path, domain = "/", ""
    for attribute in value.split(b";")[1:]:
        key, _, val = attribute.partition(b"=")
        key = key.strip().lower()
        if key == b"path" and val.strip().startswith(b"/"):
            path = val.strip().decode("latin-1")
        elif key == b"domain" and val.strip():
            domain = val.strip().decode("latin-1").lstrip(".").lower()
    return path, domain


def cap_lifetime(value: bytes, now: float) -> bytes:
    """The same ``Set-Cookie`` value with ``Max-Age`` and ``Expires`` at most 13 months away."""
    if b"max-age" not in value.lower() and b"expires" not in value.lower():
        return value  # a session cookie: nothing to cap
    parts: list[bytes | None] = list(value.split(b";"))
    changed = False
    for index, attribute in enumerate(value.split(b";")[1:], start=1):
        key, _sep, val = attribute.partition(b"=")
        name = key.strip().lower()
        if name == b"max-age":
            try:
                seconds = int(val.strip())
            except ValueError:
                continue
            if seconds > MAX_COOKIE_SECONDS:
                parts[index] = b" Max-Age=" + str(MAX_COOKIE_SECONDS).encode()
                changed = True
        elif name == b"expires":
            try:
                when = parsedate_to_datetime(val.strip().decode("latin-1")).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                # Browsers read dates far more leniently (RFC 6265 section 5.1.1) than
                # we do, so a date we cannot read might be one they read as year 9999:
                # drop it, which leaves a session cookie, never a longer one.
                parts[index] = None
                changed = True
                continue
            if when > now + MAX_COOKIE_SECONDS:
                capped = formatdate(now + MAX_COOKIE_SECONDS, usegmt=True)
                parts[index] = b" Expires=" + capped.encode()
                changed = True
    return b";".join(part for part in parts if part is not None) if changed else value


def lifetime_and_flags(value: bytes, now: float) -> tuple[int, str]:
    """How long a ``Set-Cookie`` value keeps its cookie (seconds, 0 for the session; a
    deletion is 0 too) and its attributes in words (``Secure HttpOnly SameSite=Lax``)."""
    seconds: int | None = None
    expires: int | None = None
    flags: list[str] = []
    for attribute in value.split(b";")[1:]:
        key, sep, val = attribute.partition(b"=")
        name = key.strip().lower()
        if name == b"max-age":
            try:
                seconds = int(val.strip())
            except ValueError:
                continue
        elif name == b"expires":
            when = parse_http_date(val.strip())
            if when is not None:
                expires = int(when - now)
        elif name in (b"secure", b"httponly", b"partitioned"):
            flags.append({b"secure": "Secure", b"httponly": "HttpOnly"}.get(name, "Partitioned"))
        elif name == b"samesite" and sep:
            flags.append("SameSite=" + val.strip().decode("latin-1")[:8].capitalize())
        elif name == b"domain" and val.strip():
            flags.append("Domain=" + val.strip().decode("latin-1").lstrip(".").lower()[:100])
    lifetime = seconds if seconds is not None else expires  # Max-Age wins (RFC 6265 5.3)
    return max(0, lifetime or 0), " ".join(flags)
