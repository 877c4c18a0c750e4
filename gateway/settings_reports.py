"""Parsers for the email reports' settings: the SMTP server, the sender, the links' address.

``settings.py`` stays the one module that reads the environment and calls them
with each variable's name and raw value. A bad value raises
:class:`SettingsError` with a sentence naming the variable, and never repeats a
password: :class:`SmtpServer` keeps it in a :class:`~starlette.datastructures.Secret`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from starlette.datastructures import Secret

from gateway.exceptions import SettingsError

# An address as people type them (RFC 5321 allows more; mail servers refuse most of it).
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_ADDRESS = 254


@dataclass(frozen=True)
class SmtpServer:
    """Where reports are sent: ``tls`` is ``starttls`` (``smtp://``, required), ``implicit``
    (``smtps://``) or ``none`` (``smtp://...?starttls=off``: a relay on this machine)."""

    host: str
    port: int
    tls: str
    username: str = ""
    password: Secret = field(default=Secret(""), repr=False)


def parse_smtp_url(name: str, raw: str) -> SmtpServer | None:
    """``smtp://[user:password@]host[:587]`` (STARTTLS, required), ``smtps://...[:465]``
    (TLS from the first byte), ``smtp://host:25?starttls=off`` (plain, no password);
    empty: no email reports."""
    if not raw:
        return None
    # The raw text holds the password: no message below repeats it.
    wrong = SettingsError(
        f"{name} must be smtp://user:password@host:587 (STARTTLS) or smtps://user:password@"
        "host:465 (TLS), with the user and password URL-encoded; fix the value."
    )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise wrong from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.path not in ("", "/"):
        raise wrong
    query = parse_qs(parts.query)
    if set(query) - {"starttls"} or query.get("starttls", ["on"]) not in (["on"], ["off"]):
        raise SettingsError(f"{name} takes one option, ?starttls=off (for a local relay).")
    plain = query.get("starttls") == ["off"]
    if plain and parts.scheme == "smtps":
        raise SettingsError(f"{name}: smtps:// is TLS from the start; remove ?starttls=off.")
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if plain and (username or password):
        raise SettingsError(
            f"{name}: a user and password are never sent without TLS; remove ?starttls=off "
            "(the server must then offer STARTTLS) or use smtps://."
        )
    tls = "implicit" if parts.scheme == "smtps" else "none" if plain else "starttls"
    default_port = 465 if tls == "implicit" else 25 if plain else 587
    return SmtpServer(parts.hostname, port or default_port, tls, username, Secret(password))


def parse_address(name: str, raw: str) -> str:
    """One email address such as ``reports@school.example``; empty: none."""
    address = raw.strip()
    if address and (len(address) > MAX_ADDRESS or not _ADDRESS.match(address)):
        raise SettingsError(
            f"{name} must be one email address such as reports@school.example, not {raw!r}."
        )
    return address


def valid_address(text: str) -> bool:
    """Whether ``text`` is one address the reports send to (the admin form checks with it)."""
    return len(text) <= MAX_ADDRESS and bool(_ADDRESS.match(text))


def parse_public_url(name: str, raw: str) -> str:
    """The gateway's public address (``https://www.school.example``), for links in emails."""
    if not raw:
        return ""
    try:
        parts = urlsplit(raw)
        _ = parts.port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise SettingsError(
            f"{name} must be the site's public address such as https://www.school.example, "
            f"not {raw!r}."
        )
    return raw.rstrip("/")
