"""Writing the consent log and the banner outcome counts, off the request path.

:class:`ConsentLog` turns each choice into a sealed
:class:`~gateway.consent.proof.LogEntry` (chained from the head in the visitor's
cookie) and each outcome into a ``consent_counts`` row, and hands both to the
same kind of writer as analytics (:class:`~gateway.analytics.writer.EventWriter`),
so a choice made while ClickHouse is away waits in the spool, never lost. An
entry records what proves the choice and nothing more: truncated IP, browser
family, country, GPC signal, policy revision, the regime that applied
(:func:`~gateway.consent.state.regime_label`), and a fingerprint of the banner
the visitor saw (:func:`config_fingerprint`). A returning visitor's choice reads
the log once, for erasure entries appended after their cookie's head
(:meth:`ConsentLog.resume`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path

from gateway.analytics.useragent import parse_user_agent
from gateway.analytics.writer import EventWriter, table_writer
from gateway.clock import Clock
from gateway.consent.proof import COLUMNS, LogEntry, erased_after, load_chain, sealed
from gateway.consent.state import NECESSARY, Choice, ConsentPolicy
from gateway.iptools import truncate_ip
from gateway.settings import Settings
from gateway.storage import Storage

logger = logging.getLogger("gateway.consent")

COUNT_COLUMNS: tuple[str, ...] = (
    "hour",
    "site",
    "outcome",
    "categories",
    "gpc",
    "count",
    "regime",
)
BANNER_FOLDER = Path(__file__).resolve().parents[1] / "banner" / "static"  # as banner/assets.py
DAY = 86_400


def config_fingerprint(settings: Settings, banner_folder: Path = BANNER_FOLDER) -> str:
    """sha256 of the consent configuration and the banner's files, in hex.

    Two visitors with the same fingerprint saw the same banner under the same
    rules; any change to the text, the categories, the revision, the cookie
    rules or the regimes gives a new one.
    """
    config = {
        "categories": list(settings.consent_categories),
        "revision": settings.policy_revision,
        "lifetime_days": settings.consent_lifetime_days,
        "regimes": dict(sorted(settings.consent_regimes.items())),
        "gpc_denies_analytics": settings.gpc_denies_analytics,
        "honour_dnt": settings.honour_dnt,
        "cookie_rules": [list(rule) for rule in settings.cookie_rules],
        "cookie_default_category": settings.cookie_default_category,
        "banner_texts": settings.banner_texts,  # the operator's own wording, if any
        "banner_policy_url": settings.banner_policy_url,
    }
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    if banner_folder.is_dir():
        for path in sorted(p for p in banner_folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(banner_folder)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class ConsentLog:
    """The consent log's and counts' writers, and the entries and rows they get."""

    def __init__(self, settings: Settings, site: str, policy: ConsentPolicy, clock: Clock) -> None:
        self.settings = settings
        self.site = site
        self.policy = policy
        self.clock = clock
        self.retention_seconds = settings.consent_log_retention_days * DAY
        self.config_hash = config_fingerprint(settings)
        self.entries: EventWriter | None = None
        self.counts: EventWriter | None = None
        self.storage: Storage | None = None
        self.outcomes: Counter[str] = Counter()  # per outcome since start, for /metrics

    async def open(self, storage: Storage) -> None:
        """Start both writers (at start-up, once the schema is migrated)."""
        self.storage = storage
        self.entries = await asyncio.to_thread(
            table_writer, storage, self.settings, "consent_log", COLUMNS
        )
        self.counts = await asyncio.to_thread(
            table_writer, storage, self.settings, "consent_counts", COUNT_COLUMNS
        )

    async def close(self) -> None:
        """Flush or spool what is queued (at shutdown)."""
        for writer in (self.entries, self.counts):
            if writer is not None:
                await asyncio.to_thread(writer.close)
        self.entries = self.counts = None

    def flush(self) -> None:
        """Write what is queued now, in the caller's thread (tests, erasure)."""
        for writer in (self.entries, self.counts):
            if writer is not None:
                writer.flush()

    # -- entries --------------------------------------------------------------------

    async def resume(self, previous: Choice | None) -> Choice | None:
        """The head a new choice follows: the cookie's ``previous``, or the operator's
        erasure entries appended after it (:func:`~gateway.consent.proof.erased_after`).

        One read of the visitor's newer entries; with ClickHouse away the cookie's
        head stands, as it must for a choice to be made at all.
        """
        storage = self.storage
        if previous is None or previous.seq < 0 or storage is None:
            return previous

        def read() -> list[LogEntry]:
            client = storage.connect()
            try:
                return load_chain(client, previous.consent_id, previous.seq)
            finally:
                client.close()

        try:
            later = await storage.run(read)
        except Exception as error:
            logger.warning("consent log unreadable, the choice follows the cookie: %s", error)
            return previous
        erasure = erased_after(previous.seq, previous.head, later)
        if erasure is None:
            return previous
        return replace(previous, seq=erasure.seq, head=erasure.hash, made_at=erasure.time)

    def entry(
        self,
        consent_id: str,
        action: str,
        when: int,
        granted: frozenset[str],
        previous: Choice | None,
        *,
        client_ip: str = "",
        user_agent: str = "",
        gpc: bool = False,
        regime: str = "",
    ) -> LogEntry:
        """A sealed entry that follows ``previous`` (the cookie's choice) in the chain."""
        ip = truncate_ip(client_ip) if client_ip else ""
        geo = self.policy.geo
        chained = previous is not None and previous.consent_id == consent_id and previous.seq >= 0
        return sealed(
            LogEntry(
                time=when,
                expires=when + self.retention_seconds,
                site=self.site,
                consent_id=consent_id,
                seq=previous.seq + 1 if chained and previous else 0,
                action=action,
                categories=tuple(sorted(granted - {NECESSARY})),
                revision=self.policy.revision,
                config_hash=self.config_hash,
                ip=ip,
                browser=parse_user_agent(user_agent).browser if user_agent else "",
                country=geo.lookup(ip).country if geo is not None and ip else "",
                gpc=gpc,
                prev_time=previous.made_at if chained and previous else 0,
                prev_hash=previous.head if chained and previous else "",
                regime=regime,
            )
        )

    def record_choice(
        self,
        choice: Choice,
        previous: Choice | None,
        action: str,
        *,
        client_ip: str,
        user_agent: str,
        gpc: bool,
        regime: str = "",
    ) -> Choice:
        """Log ``choice`` and count its outcome; the choice with its chain head set."""
        entry = self.entry(
            choice.consent_id,
            action,
            choice.made_at,
            choice.granted,
            previous,
            client_ip=client_ip,
            user_agent=user_agent,
            gpc=gpc,
            regime=regime,
        )
        self.put_entry(entry)
        self.count(action, entry.categories, gpc, regime)
        return replace(choice, seq=entry.seq, head=entry.hash)

    def put_entry(self, entry: LogEntry) -> None:
        """Queue ``entry`` for the consent log; never blocks on ClickHouse."""
        if self.entries is None:
            raise RuntimeError("the consent log is used before start-up")
        self.entries.put(entry.line())

    # -- counts ---------------------------------------------------------------------

    def count(
        self,
        outcome: str,
        categories: tuple[str, ...] = (),
        gpc: bool = False,
        regime: str = "",
    ) -> None:
        """Count one banner outcome (``shown`` or an action) for this hour, without an id,
        with the regime that applied (empty where none did, as for an erasure)."""
        if self.counts is None:
            raise RuntimeError("the consent counts are used before start-up")
        self.outcomes[outcome] += 1
        self.counts.put(self.count_line(outcome, categories, gpc, regime))

    def count_line(
        self,
        outcome: str,
        categories: tuple[str, ...] = (),
        gpc: bool = False,
        regime: str = "",
    ) -> bytes:
        """One ``consent_counts`` row (``count`` = 1) as a ``JSONCompactEachRow`` line."""
        now = int(self.clock())
        row = [now - now % 3600, self.site, outcome, list(categories), gpc, 1, regime]
        return json.dumps(row, separators=(",", ":")).encode()
