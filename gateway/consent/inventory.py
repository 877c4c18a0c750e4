"""The cookie inventory: every cookie name the gateway meets, counted, with no visitor data.

It also writes the third-party hosts that browsers report (:mod:`.host_inventory`),
with the same writer settings and on the same schedule.

The cookie filter (:mod:`gateway.consent.enforcement`) reports each cookie it meets in
the upstream's ``Set-Cookie`` (with the lifetime and attributes it was set with) and
in the browser's ``Cookie`` header (which also shows cookies that scripts set, such as
``_ga``), and whether it passed. :class:`CookieInventory` adds these up in memory, a
dict lookup per cookie, and about once a minute hands one row per name to a writer
of the ``cookie_inventory`` table (so ClickHouse being away loses nothing). No value,
no visitor and no request is kept.

Names are bounded, so random names sent by an attacker cannot grow it without limit:
at most :data:`MAX_NEW_PER_FLUSH` new names per interval and :data:`MAX_NAMES` in all
from browsers; names the upstream sets get :data:`UPSTREAM_RESERVE` more, so a flood
of invented names cannot hide the site's own. What is refused is only counted.

The category is not stored: :func:`describe` classifies each name by the rules in
force when the inventory is read, and suggests one for a name nothing knows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from gateway.analytics.writer import EventWriter, table_writer
from gateway.clock import Clock
from gateway.consent.cookie_rules import DEFAULT, CookieClassifier
from gateway.consent.framework_cookies import FRAMEWORKS
from gateway.consent.host_inventory import COLUMNS as HOSTS_COLUMNS
from gateway.consent.host_inventory import TABLE as HOSTS_TABLE
from gateway.consent.host_inventory import HostInventory, read_hosts
from gateway.consent.set_cookie import lifetime_and_flags
from gateway.consent.third_parties import NECESSARY, ThirdParties
from gateway.settings import Settings
from gateway.storage import Storage

logger = logging.getLogger("gateway.consent")

TABLE = "cookie_inventory"
COLUMNS: tuple[str, ...] = ("site", "name", "seen_in", "first_seen", "last_seen", "passed")
COLUMNS += ("blocked", "lifetime", "flags")
SET_BY_SITE, SENT_BY_BROWSER = 1, 2  # seen_in bits
INTERVAL = 60.0  # seconds between the rows handed to the writer
MAX_NAMES = 5000
UPSTREAM_RESERVE = 1000
MAX_NEW_PER_FLUSH = 1000
MAX_NAME_LENGTH = 200
FRAMEWORK_NAMES = frozenset(framework.name for framework in FRAMEWORKS)
# Words in an unknown name that suggest what it is for, checked in this order.
HINTS = (
    ("necessary", ("sess", "csrf", "xsrf", "token", "auth", "login", "consent", "lb", "affinity")),
    ("preferences", ("lang", "locale", "theme", "pref", "font", "currency", "timezone")),
    ("analytics", ("analytic", "stats", "visit", "track", "_ga", "matomo", "_pk")),
)


class Observed:
    """What the gateway met of one name: a mutable counter, one per name."""

    __slots__ = ("blocked", "first", "flags", "last", "lifetime", "passed", "seen_in")

    def __init__(self, now: int) -> None:
        self.seen_in = 0
        self.first = self.last = now
        self.passed = self.blocked = 0
        self.lifetime = -1  # never seen set
        self.flags = ""

    def merge(self, other: Observed) -> None:
        self.seen_in |= other.seen_in
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.passed += other.passed
        self.blocked += other.blocked
        if other.lifetime > self.lifetime:
            self.lifetime = other.lifetime
        self.flags = other.flags or self.flags


@dataclass(frozen=True)
class InventoryEntry:
    """One name of the inventory, as the command, the admin page and the declaration show it."""

    name: str
    category: str
    source: str
    provider: str
    purpose: str
    retention: str
    party: str  # "first" (the site's own) or "third" (a third party's script)
    set_by_site: bool
    sent_by_browser: bool
    lifetime: int  # seconds; 0 a session cookie; -1 never seen set
    flags: str
    first_seen: int
    last_seen: int
    passed: int
    blocked: int
    suggested: str  # for a name nothing knows (source "default"), else its category

    @property
    def unknown(self) -> bool:
        return self.source == DEFAULT


def suggest(name: str, default: str) -> str:
    """A category for a name no rule knows, from the words in it, or ``default``."""
    lowered = name.lower()
    for category, words in HINTS:
        if any(word in lowered for word in words):
            return category
    return default


def describe(classifier: CookieClassifier, name: str, seen: Observed) -> InventoryEntry:
    """``name`` as the rules in force classify it, with what was observed of it."""
    known = classifier.explain(name)
    third = bool(known.provider) and known.provider not in FRAMEWORK_NAMES
    unknown = known.source == DEFAULT
    return InventoryEntry(
        name=name,
        category=known.category,
        source=known.source,
        provider=known.provider,
        purpose=known.purpose,
        retention=known.retention,
        party="third" if third else "first",
        set_by_site=bool(seen.seen_in & SET_BY_SITE),
        sent_by_browser=bool(seen.seen_in & SENT_BY_BROWSER),
        lifetime=seen.lifetime,
        flags=seen.flags,
        first_seen=seen.first,
        last_seen=seen.last,
        passed=seen.passed,
        blocked=seen.blocked,
        suggested=suggest(name, classifier.default_category) if unknown else known.category,
    )


def ordered(entries: list[InventoryEntry]) -> list[InventoryEntry]:
    """Unknown names first, then by category and name."""
    return sorted(entries, key=lambda e: (not e.unknown, e.category, e.name.lower()))


def read_inventory(
    client: Any, site: str, limit: int = MAX_NAMES + UPSTREAM_RESERVE
) -> dict[str, Observed]:
    """What ``cookie_inventory`` holds for ``site``, one :class:`Observed` per name."""
    result = client.query(
        "SELECT name, groupBitOr(seen_in), toUnixTimestamp(min(first_seen)), "
        "toUnixTimestamp(max(last_seen)), sum(passed), sum(blocked), max(lifetime), "
        "anyLast(flags) FROM cookie_inventory WHERE site = {site:String} "
        "GROUP BY name ORDER BY max(last_seen) DESC LIMIT {limit:UInt32}",
        parameters={"site": site, "limit": limit},
    )
    found: dict[str, Observed] = {}
    for name, seen_in, first, last, passed, blocked, lifetime, flags in result.result_rows:
        seen = Observed(int(first))
        seen.seen_in, seen.last = int(seen_in), int(last)
        seen.passed, seen.blocked = int(passed), int(blocked)
        seen.lifetime, seen.flags = int(lifetime), str(flags)
        found[str(name)] = seen
    return found


class CookieInventory:
    """Counts the cookies met, in memory, and writes them to ClickHouse once a minute."""

    def __init__(
        self,
        classifier: CookieClassifier,
        settings: Settings,
        site: str,
        clock: Clock,
        *,
        interval: float = INTERVAL,
    ) -> None:
        self.classifier = classifier
        self.settings = settings
        self.site = site
        self.clock = clock
        self.interval = interval
        self.known: dict[str, Observed] = {}  # everything written, and read at start-up
        self.pending: dict[str, Observed] = {}  # met since the last rows were handed over
        self.refused = 0  # names over the limits since start
        self.writer: EventWriter | None = None
        categories = {NECESSARY, *settings.consent_categories}
        self.hosts = HostInventory(ThirdParties(settings.third_party_rules, categories), site)
        self._due = 0.0
        self._lock = threading.Lock()

    # -- the request path -------------------------------------------------------------

    def met(self, name: str, passed: bool, now: float, set_with: bytes | None = None) -> None:
        """Count one cookie the gateway met: in ``Set-Cookie`` (``set_with`` its value) or
        in ``Cookie``, and whether it passed."""
        seen = self.pending.get(name)
        if seen is None:
            seen = self._admit(name, int(now), set_with is not None)
            if seen is None:
                return
        if passed:
            seen.passed += 1
        else:
            seen.blocked += 1
        seen.last = int(now)
        if set_with is None:
            seen.seen_in |= SENT_BY_BROWSER
        else:
            seen.seen_in |= SET_BY_SITE
            lifetime, seen.flags = lifetime_and_flags(set_with, now)
            seen.lifetime = max(seen.lifetime, lifetime)
        if now >= self._due:
            self._due = now + self.interval
            self.drain()

    def _admit(self, name: str, now: int, from_site: bool) -> Observed | None:
        """A new counter for ``name`` unless a limit refuses it (then counted as refused)."""
        if name not in self.known:
            total = len(self.known) + len(self.pending)
            limit = MAX_NAMES + (UPSTREAM_RESERVE if from_site else 0)
            if (
                len(name) > MAX_NAME_LENGTH
                or total >= limit
                or (not from_site and len(self.pending) >= MAX_NEW_PER_FLUSH)
            ):
                self.refused += 1
                return None
        seen = self.pending[name] = Observed(now)
        return seen

    # -- writing ----------------------------------------------------------------------

    def drain(self) -> None:
        """Hand what was met since the last time to the writer, one row per name.

        Counting runs on the event loop without a lock; a drain from another thread
        (a command's flush) may miss a count made at that instant: counts, not proof.
        """
        with self._lock:
            pending, self.pending = self.pending, {}
            if not pending:
                return
            lines = [self._line(name, seen) for name, seen in pending.items()]
            for name, seen in pending.items():
                if name in self.known:
                    self.known[name].merge(seen)
                else:
                    self.known[name] = seen
        if self.writer is not None:
            self.writer.put_many(lines)

    def _line(self, name: str, s: Observed) -> bytes:
        """One ``cookie_inventory`` row as a ``JSONCompactEachRow`` line."""
        row = [self.site, name, s.seen_in, s.first, s.last, s.passed, s.blocked, s.lifetime]
        return json.dumps([*row, s.flags], separators=(",", ":")).encode()

    async def open(self, storage: Storage) -> None:
        """Read what earlier runs met and start the writers (once the schema is migrated)."""

        def start() -> None:
            client = storage.connect()
            try:
                self.known = read_inventory(client, self.site)
                self.hosts.known = read_hosts(client, self.site)
            except Exception as error:  # the inventory starts empty; counting goes on
                logger.warning("cookie inventory unreadable, starting empty: %s", error)
            finally:
                client.close()
            self.writer = table_writer(storage, self.settings, TABLE, COLUMNS)
            self.hosts.writer = table_writer(storage, self.settings, HOSTS_TABLE, HOSTS_COLUMNS)

        await asyncio.to_thread(start)

    def flush(self) -> None:
        """Write everything met so far now, in the caller's thread (commands, tests)."""
        self.drain()
        self.hosts.drain()
        for writer in (self.writer, self.hosts.writer):
            if writer is not None:
                writer.flush()

    async def close(self) -> None:
        """Hand over and write what is left (at shutdown)."""
        self.drain()
        self.hosts.drain()
        writers = [w for w in (self.writer, self.hosts.writer) if w is not None]
        self.writer = self.hosts.writer = None
        for writer in writers:
            await asyncio.to_thread(writer.close)

    # -- reading ----------------------------------------------------------------------

    def entries(self) -> list[InventoryEntry]:
        """Every name met, described, unknown first (from memory: no query)."""
        with self._lock:
            merged = {name: seen for name, seen in self.known.items()}
            for name, seen in self.pending.items():
                if name in merged:
                    copy = Observed(seen.first)
                    copy.merge(merged[name])
                    copy.merge(seen)
                    merged[name] = copy
                else:
                    merged[name] = seen
        return ordered([describe(self.classifier, n, s) for n, s in merged.items()])
