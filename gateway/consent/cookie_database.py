"""The Open Cookie Database, shipped in the package, as a lookup by cookie name.

The CSV in ``open_cookie_database/`` (Apache-2.0, see its ``SOURCE.md``) names about
2,260 cookies with their platform, category, purpose and retention. It is read once
at start-up into a dict of exact names and an index of prefixes (rows whose wildcard
flag is set), so a lookup costs a dict probe per distinct prefix length.

Its categories map to ours: Functional, Security and Necessary are ``necessary``,
Personalization ``preferences``, Analytics and Marketing themselves. Rows with a
domain describe a cookie a third party sets on its own domain (Instagram's
``sessionid`` on instagram.com), which a site's own cookie of the same name is not.
The gateway only ever sees the site's own cookies, so such a row answers only when
no row for the site's own domain does, and only if its platform also sets cookies
on the site's domain (as Google Analytics does): :meth:`CookieDatabase.lookup`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["CATEGORIES", "CookieDatabase", "Known", "load_database", "tracker_hosts"]

FOLDER = "open_cookie_database"
FILE = "open-cookie-database.csv"
CATEGORIES = {
    "functional": "necessary",
    "security": "necessary",
    "necessary": "necessary",
    "personalization": "preferences",
    "analytics": "analytics",
    "marketing": "marketing",
}


@dataclass(frozen=True)
class Known:
    """What the database says of one cookie name (or prefix)."""

    name: str
    category: str
    provider: str
    purpose: str
    retention: str
    domain: str  # empty: set on the site's own domain
    wildcard: bool

    @property
    def first_party(self) -> bool:
        return not self.domain


Index = tuple[dict[str, Known], dict[str, Known], tuple[int, ...]]


def _index(rows: list[Known]) -> Index:
    """Exact names and prefixes, the first row of a name winning, with the prefix lengths
    longest first (a longer prefix is the more specific rule)."""
    exact: dict[str, Known] = {}
    prefixes: dict[str, Known] = {}
    for row in rows:
        (prefixes if row.wildcard else exact).setdefault(row.name, row)
    lengths = tuple(sorted({len(p) for p in prefixes}, reverse=True))
    return exact, prefixes, lengths


def _find(index: Index, name: str) -> Known | None:
    exact, prefixes, lengths = index
    found = exact.get(name)
    if found is not None:
        return found
    for length in lengths:
        if length <= len(name):
            found = prefixes.get(name[:length])
            if found is not None:
                return found
    return None


def parse_rows(text: str) -> list[Known]:
    """The database's rows that name a cookie and a category we know, in file order."""
    rows: list[Known] = []
    for record in csv.DictReader(io.StringIO(text)):
        name = (record.get("Cookie / Data Key name") or "").strip()
        category = CATEGORIES.get((record.get("Category") or "").strip().lower())
        if not name or category is None:
            continue
        rows.append(
            Known(
                name=name,
                category=category,
                provider=(record.get("Platform") or "").strip(),
                purpose=" ".join((record.get("Description") or "").split()),
                retention=(record.get("Retention period") or "").strip(),
                domain=(record.get("Domain") or "").strip(),
                wildcard=(record.get("Wildcard match") or "").strip() == "1",
            )
        )
    return rows


class CookieDatabase:
    """The database's rows for the site's own cookies, and the third-party rows that may
    stand in for them (their platform sets some cookie on the site's own domain)."""

    def __init__(self, rows: list[Known]) -> None:
        on_site = {row.provider for row in rows if row.first_party}
        self.size = len(rows)
        self.hosts = tracker_hosts(rows)
        self._own = _index([row for row in rows if row.first_party])
        self._borrowed = _index(
            [row for row in rows if not row.first_party and row.provider in on_site]
        )
        self._elsewhere = _index([row for row in rows if row.provider not in on_site])

    def lookup(self, name: str) -> Known | None:
        """The row describing the site's own cookie ``name``, or ``None``."""
        return _find(self._own, name) or _find(self._borrowed, name)

    def describe(self, name: str) -> Known | None:
        """Any row naming ``name``, a third party's too: words for a cookie that a rule
        above the database has already classified (Meta Pixel's ``_fbp``)."""
        return self.lookup(name) or _find(self._elsewhere, name)


_HOSTNAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_STRICTER = ("analytics", "marketing")  # in order: a host takes the stricter of its rows


def domain_hosts(domain: str) -> list[str]:
    """The host names a row's Domain column gives (``.bing.com (3rd party) or
    .microsoft.com (3rd party)`` gives two); anything that is not a host name is left out."""
    hosts = []
    for part in re.split(r"\s+or\s+|\s+and\s+|,", domain.lower()):
        host = part.replace("(3rd party)", "").strip().strip(".")
        if _HOSTNAME.match(host):
            hosts.append(host)
    return hosts


def tracker_hosts(rows: list[Known]) -> dict[str, tuple[str, str]]:
    """Third-party hosts the database names, to their provider and category.

    Only hosts whose every row is analytics or marketing: a host that also sets
    functional or security cookies may serve something a page needs (a payment
    button, a sign-in), so it is left to the built-in list, the operator's rules and
    the browsers' reports rather than held back on the database's word.
    """
    found: dict[str, tuple[str, str]] = {}
    refused: set[str] = set()
    for row in rows:
        for host in domain_hosts(row.domain):
            if row.category not in _STRICTER:
                refused.add(host)
                continue
            known = found.get(host)
            if known is None or _STRICTER.index(row.category) > _STRICTER.index(known[1]):
                found[host] = (known[0] if known else row.provider, row.category)
    return {host: party for host, party in found.items() if host not in refused}


@cache
def load_database() -> CookieDatabase:
    """The database shipped in the package, read once per process (it never changes)."""
    text = resources.files("gateway.consent").joinpath(FOLDER, FILE).read_text("utf-8")
    return CookieDatabase(parse_rows(text))
