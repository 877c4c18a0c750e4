"""Third-party hosts that pages contacted without consent, as browsers report them.

The gateway's page policy (:mod:`gateway.banner.csp_report`) has each browser report
the hosts a page contacts that the visitor has not consented to: a tag the rewrite did
not know, an unknown third party. :class:`HostInventory` counts them per host in
memory and, with the cookie inventory (which writes it), hands one row per host to
the ``third_party_hosts`` table about once a minute. Each host is described as the
third-party list knows it (provider, category) or as unknown, so an operator sees
what to add to ``CG_THIRD_PARTY_RULES``. No page, visitor or address is kept.

Hosts are bounded like cookie names: at most :data:`MAX_NEW_PER_FLUSH` new hosts per
interval and :data:`MAX_HOSTS` in all; what is refused is only counted.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from gateway.analytics.writer import EventWriter
from gateway.consent.third_parties import ThirdParties

logger = logging.getLogger("gateway.consent")

TABLE = "third_party_hosts"
COLUMNS = ("site", "host", "first_seen", "last_seen", "reports")
MAX_HOSTS = 1000
MAX_NEW_PER_FLUSH = 200
INTERVAL = 60  # seconds between the rows handed to the writer


@dataclass
class Reported:
    """One host the browsers reported: how often, first and last (Unix seconds)."""

    count: int
    first: int
    last: int

    def merge(self, other: Reported) -> None:
        self.count += other.count
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)


@dataclass(frozen=True)
class HostEntry:
    """One reported host, as the command and the admin page show it."""

    host: str
    provider: str  # "" for a host the list does not know
    category: str  # "" for a host the list does not know
    reports: int
    first_seen: int
    last_seen: int

    @property
    def unknown(self) -> bool:
        return not self.category


def describe_host(parties: ThirdParties, host: str, seen: Reported) -> HostEntry:
    """``host`` as the third-party list in force knows it, with its counts."""
    party = parties.lookup(host)
    return HostEntry(
        host=host,
        provider=party.provider if party else "",
        category=party.category if party else "",
        reports=seen.count,
        first_seen=seen.first,
        last_seen=seen.last,
    )


def ordered_hosts(entries: list[HostEntry]) -> list[HostEntry]:
    """Unknown hosts first, then the most reported."""
    return sorted(entries, key=lambda e: (not e.unknown, -e.reports, e.host))


def read_hosts(client: Any, site: str, limit: int = MAX_HOSTS) -> dict[str, Reported]:
    """What ``third_party_hosts`` holds for ``site``, one :class:`Reported` per host."""
    result = client.query(
        "SELECT host, sum(reports), toUnixTimestamp(min(first_seen)), "
        "toUnixTimestamp(max(last_seen)) FROM third_party_hosts WHERE site = {site:String} "
        "GROUP BY host ORDER BY max(last_seen) DESC LIMIT {limit:UInt32}",
        parameters={"site": site, "limit": limit},
    )
    return {
        str(host): Reported(int(count), int(first), int(last))
        for host, count, first, last in result.result_rows
    }


class HostInventory:
    """Counts the hosts browsers report, in memory; the cookie inventory writes them."""

    def __init__(self, parties: ThirdParties, site: str) -> None:
        self.parties = parties
        self.site = site
        self.known: dict[str, Reported] = {}  # everything written, and read at start-up
        self.pending: dict[str, Reported] = {}  # reported since the last rows were handed over
        self.refused = 0
        self.writer: EventWriter | None = None
        self._due = 0
        self._lock = threading.Lock()

    def add(self, host: str, now: int) -> None:
        """Count one report of ``host`` (lower case), logging a host the first time."""
        if now >= self._due:
            self._due = now + INTERVAL
            self.drain()
        seen = self.pending.get(host)
        if seen is not None:
            seen.count += 1
            seen.last = now
            return
        if host not in self.known and (
            len(self.known) + len(self.pending) >= MAX_HOSTS
            or len(self.pending) >= MAX_NEW_PER_FLUSH
        ):
            self.refused += 1
            return
        self.pending[host] = Reported(1, now, now)
        if host not in self.known:
            party = self.parties.lookup(host)
            what = f"{party.provider} ({party.category})" if party else "an unknown third party"
            logger.warning("a page contacted %s without consent: %s", host, what)

    def drain(self) -> None:
        """Hand what was reported since the last time to the writer, one row per host."""
        with self._lock:
            pending, self.pending = self.pending, {}
            for host, seen in pending.items():
                if host in self.known:
                    self.known[host].merge(seen)
                else:
                    self.known[host] = Reported(seen.count, seen.first, seen.last)
        if pending and self.writer is not None:
            self.writer.put_many(
                [
                    json.dumps([self.site, host, s.first, s.last, s.count]).encode()
                    for host, s in pending.items()
                ]
            )

    def entries(self) -> list[HostEntry]:
        """Every host reported, described, unknown first (from memory: no query)."""
        with self._lock:
            merged = {host: Reported(s.count, s.first, s.last) for host, s in self.known.items()}
            for host, seen in list(self.pending.items()):
                merged.setdefault(host, Reported(0, seen.first, seen.last)).merge(seen)
        return ordered_hosts([describe_host(self.parties, h, s) for h, s in merged.items()])
