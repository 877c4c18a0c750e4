"""How each setting's text becomes a value, and the :class:`Field` that declares it.

Every parser takes the variable's name and its raw text and returns the value,
or raises :class:`SettingsError` with a sentence that names the variable and
the fix. The fields themselves are declared in ``settings_fields.py``; only
``settings.py`` reads the environment.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Secret

from gateway.exceptions import SettingsError
from gateway.iptools import IPNetwork

PREFIX = "CG_"
MIN_SECRET_BYTES = 32

_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)s?\s*$")


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period`` seconds, with bursts of up to ``count``."""

    count: int
    period: float

    @property
    def interval(self) -> float:
        """Seconds between requests at the steady rate (GCRA's emission interval)."""
        return self.period / self.count

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"600/minute"`` (or second, hour) as a :class:`Rate`; ``"off"`` as ``None``.

        Raises :class:`ValueError` for anything else, with a sentence naming the form.
        """
        if text.strip().lower() in ("off", "0", "none", ""):
            return None
        match = _RATE.match(text.lower())
        if not match or int(match.group(1)) < 1:
            raise ValueError(
                f"{text!r} is not a rate; write a count per second, minute or hour "
                "such as 600/minute, or off."
            )
        return cls(int(match.group(1)), _UNITS[match.group(2)])

    def __str__(self) -> str:
        unit = next(name for name, seconds in _UNITS.items() if seconds == self.period)
        return f"{self.count}/{unit}"


def parse_url(name: str, raw: str) -> str:
    wrong = SettingsError(
        f"{name} must be an http:// or https:// URL such as http://127.0.0.1:8000, "
        f"not {raw!r}; set it to the address of the site the gateway protects."
    )
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:  # "http://[::1", "http://site:99999", "http://site:http"
        raise wrong from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise wrong
    if "@" in parts.netloc:
        # It would go upstream in every Host header, and into logs with it. The text
        # is not repeated here, for the same reason: it holds a password.
        raise SettingsError(
            f"{name} must not carry a user name or password (user:password@host); the "
            "gateway sends no credentials of its own. Remove them from the URL, and let "
            "the site's visitors sign in as they do without the gateway."
        )
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not carry a query or fragment; remove it from {raw!r}.")
    return raw.rstrip("/")


def parse_keys(name: str, raw: str) -> tuple[Secret, ...]:
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if not keys:
        raise SettingsError(
            f"{name} is empty; set it to a random string of at least {MIN_SECRET_BYTES} "
            "bytes, for example the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    for position, key in enumerate(keys, start=1):
        if len(key.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"{name}: key number {position} is {len(key.encode())} bytes long; every key must "
                f"have at least {MIN_SECRET_BYTES} bytes. Generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    return tuple(Secret(key) for key in keys)


def parse_int(minimum: int, maximum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {raw!r}.") from None
        if not minimum <= value <= maximum:
            raise SettingsError(
                f"{name} must be between {minimum} and {maximum}, not {value}; change it."
            )
        return value

    return parse


def parse_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not 0 < value <= 3600:
        raise SettingsError(f"{name} must be more than 0 and at most 3600 seconds, not {raw}.")
    return value


def parse_networks(name: str, raw: str) -> tuple[IPNetwork, ...]:
    networks = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"{name} must be a comma-separated list of IP addresses or CIDR networks "
                f"(such as 127.0.0.1,10.0.0.0/8); {item.strip()!r} is neither."
            ) from None
    return tuple(networks)


def parse_prefix(name: str, raw: str) -> str:
    if not (raw.startswith("/") and raw.endswith("/") and len(raw) > 2) or "//" in raw:
        raise SettingsError(
            f"{name} must be a path that starts and ends with a slash, such as /_consent/, "
            f"not {raw!r}."
        )
    return raw


def parse_text(name: str, raw: str) -> str:
    return raw


# CNIL: a consent choice is kept at most 13 months.
MAX_CONSENT_DAYS = 395
REGIMES = ("opt-in", "opt-out", "none")
_CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def parse_revision(name: str, raw: str) -> str:
    if not raw or len(raw) > 32 or not all(c.isalnum() or c in "._-" for c in raw):
        raise SettingsError(
            f"{name} must be 1 to 32 letters, digits, dots, dashes or underscores "
            f"(such as 3 or 2026-11), not {raw!r}."
        )
    return raw


def parse_categories(name: str, raw: str) -> tuple[str, ...]:
    categories = tuple(item.strip() for item in raw.split(",") if item.strip())
    for category in categories:
        if not _CATEGORY_NAME.match(category) or category == "necessary":
            raise SettingsError(
                f"{name}: {category!r} is not a usable category name; use lower-case words "
                "such as analytics (and leave out necessary, which is always on)."
            )
    if len(set(categories)) != len(categories):
        raise SettingsError(f"{name} names a category twice: {raw!r}.")
    return categories


def parse_cookie_rules(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    rules = []
    for item in raw.split(","):
        if not item.strip():
            continue
        pattern, sep, category = item.strip().partition("=")
        if not sep or not pattern.strip() or not category.strip():
            raise SettingsError(
                f"{name} must be comma-separated name=category pairs such as "
                f"_myapp_*=analytics; {item.strip()!r} is not one."
            )
        rules.append((pattern.strip(), category.strip()))
    return tuple(rules)


# What the UK's statistics exception (PECR Schedule A1) may leave to an objection instead
# of consent: statistics about the use of the service, and the visitor's appearance and
# preference choices. Marketing always needs consent.
OPT_OUT_CATEGORIES = ("analytics", "preferences")


def parse_regimes(name: str, raw: str) -> dict[str, str]:
    """``COUNTRY=regime`` and ``COUNTRY.category=regime`` pairs, keyed ``GB``, ``GB.analytics``."""
    regimes: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        where, _, regime = item.strip().partition("=")
        country, dot, category = where.strip().partition(".")
        country, category = country.strip().upper(), category.strip().lower()
        regime = regime.strip().lower()
        if (
            len(country) != 2
            or not country.isalpha()
            or regime not in REGIMES
            or (dot and not _CATEGORY_NAME.match(category))
        ):
            raise SettingsError(
                f"{name} must be comma-separated COUNTRY=regime or COUNTRY.category=regime pairs "
                f"with a two-letter country code and one of {', '.join(REGIMES)} (such as "
                f"US=opt-out or GB.analytics=opt-out); {item.strip()!r} is not one."
            )
        if dot and regime == "none":
            raise SettingsError(
                f"{name}: {item.strip()!r} would drop both the notice and the objection; a "
                "category's own regime is opt-in or opt-out (the statistics exception needs "
                "clear information and a simple way to object)."
            )
        if dot and regime == "opt-out" and category not in OPT_OUT_CATEGORIES:
            raise SettingsError(
                f"{name}: {item.strip()!r} is not allowed: the statistics exception covers "
                f"statistics and appearance choices only ({', '.join(OPT_OUT_CATEGORIES)}), "
                f"and {category} always needs consent; remove it or use "
                f"{country}.{category}=opt-in."
            )
        regimes[f"{country}.{category}" if dot else country] = regime
    return regimes


def parse_clickhouse_dsn(name: str, raw: str) -> str:
    if raw and not raw.startswith(("chdb://", "http://", "https://")):
        raise SettingsError(
            f"{name} must start with chdb://, http:// or https://, not {raw!r}; leave it empty "
            "for the embedded ClickHouse in the data folder."
        )
    return raw


def parse_rate(name: str, raw: str) -> Rate | None:
    try:
        return Rate.parse(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def parse_one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
        return value

    return parse


def parse_switch(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise SettingsError(f"{name} must be on or off (or true or false), not {raw!r}.")


@dataclass(frozen=True)
class Field:
    """One setting: where it comes from, how it is parsed and what it means."""

    attribute: str
    parse: Callable[[str, str], Any]
    default: str | None
    doc: str

    @property
    def env_name(self) -> str:
        return PREFIX + self.attribute.upper()
