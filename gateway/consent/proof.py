"""Proof of consent: consent log entries, their hash chain, and its verification.

Every consent choice becomes one :class:`LogEntry` in ``consent_log`` (GDPR
article 7(1): the controller must be able to show who consented, to what, and
when). The entries of one consent id form a chain:

    entry.seq        0, 1, 2, ... for that consent id
    entry.prev_hash  the hash of entry seq - 1 ("" for seq 0)
    entry.prev_time  the time of entry seq - 1 (0 for seq 0)
    entry.hash       sha256(prev_hash + canonical(entry)), hex

``canonical`` is the entry as JSON with sorted keys and no spaces, every field
but ``hash``, times in Unix seconds, so ``sha256sum`` can recompute a hash. The
visitor's signed consent cookie carries the seq and hash of their latest entry,
so the chain grows without reading ClickHouse, and the head is held outside the
database, where :func:`verify_chain` can check it against a rewritten table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "erase")

COLUMNS: tuple[str, ...] = (
    "time",
    "expires",
    "site",
    "consent_id",
    "seq",
    "action",
    "categories",
    "revision",
    "config_hash",
    "ip",
    "browser",
    "country",
    "gpc",
    "prev_time",
    "prev_hash",
    "hash",
)
"""The ``consent_log`` columns, in the order :meth:`LogEntry.line` writes them."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One consent log entry; ``hash`` is empty until :func:`sealed` fills it."""

    time: int  # Unix seconds: the time of the choice, also the consent cookie's
    expires: int  # Unix seconds: when the TTL deletes the entry
    site: str
    consent_id: str
    seq: int
    action: str
    categories: tuple[str, ...]  # granted, sorted, without "necessary"
    revision: str
    config_hash: str
    ip: str  # truncated
    browser: str  # family only
    country: str
    gpc: bool
    prev_time: int = 0
    prev_hash: str = ""
    hash: str = field(default="")

    def canonical(self) -> str:
        """The entry as it is hashed: sorted-key JSON of every field but ``hash``."""
        data = asdict(self)
        del data["hash"]
        data["categories"] = list(self.categories)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def computed_hash(self) -> str:
        """sha256 of ``prev_hash + canonical()``, in hex."""
        return hashlib.sha256((self.prev_hash + self.canonical()).encode()).hexdigest()

    def line(self) -> bytes:
        """The entry as one ``JSONCompactEachRow`` line in :data:`COLUMNS` order."""
        row = [
            self.time,
            self.expires,
            self.site,
            self.consent_id,
            self.seq,
            self.action,
            list(self.categories),
            self.revision,
            self.config_hash,
            self.ip,
            self.browser,
            self.country,
            self.gpc,
            self.prev_time,
            self.prev_hash,
            self.hash,
        ]
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()


def sealed(entry: LogEntry) -> LogEntry:
    """``entry`` with its hash filled in."""
    return replace(entry, hash=entry.computed_hash())


def entry_from_row(row: Mapping[str, Any]) -> LogEntry:
    """A :class:`LogEntry` from a ``consent_log`` row as clickhouse-connect returns it."""
    values = {name: row[name] for name in COLUMNS}
    for name in ("time", "expires", "prev_time"):
        value = values[name]
        values[name] = int(value.timestamp()) if isinstance(value, datetime) else int(value)
    values["categories"] = tuple(values["categories"])
    values["gpc"] = bool(values["gpc"])
    values["seq"] = int(values["seq"])
    return LogEntry(**values)


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` found: ``ok`` when ``problems`` is empty."""

    consent_id: str
    entries: int
    problems: list[str]
    first_seq: int = 0  # > 0 when the earlier entries have expired

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    entries: Iterable[LogEntry], now: int, head: str | None = None, consent_id: str = ""
) -> ChainReport:
    """Walk one consent id's entries in order and report every break in the chain.

    Entries older than their retention are deleted by the TTL, so a chain may
    start after seq 0; that start is accepted only when the missing predecessor
    (whose time the first entry records) would itself have expired by ``now``.
    ``head``, the hash the visitor's consent cookie carries, must be the last
    entry's: otherwise the newest entries were removed.
    """
    ordered = sorted(entries, key=lambda entry: (entry.seq, entry.time))
    problems: list[str] = []
    if not ordered:
        if head:
            problems.append("the consent log holds no entry, yet the cookie names one")
        return ChainReport(consent_id, 0, problems)
    consent_id = consent_id or ordered[0].consent_id
    previous: LogEntry | None = None
    for entry in ordered:
        if entry.consent_id != consent_id:
            problems.append(f"entry seq {entry.seq} belongs to another consent id")
        if entry.hash != entry.computed_hash():
            problems.append(f"entry seq {entry.seq} was changed: its hash does not match it")
        if previous is None:
            problems.extend(_start_problems(entry, now))
        elif entry.seq == previous.seq:
            problems.append(f"two entries have seq {entry.seq}: the chain forks there")
        elif entry.seq != previous.seq + 1:
            missing = ", ".join(str(seq) for seq in range(previous.seq + 1, entry.seq))
            problems.append(f"entries seq {missing} are missing")
        elif entry.prev_hash != previous.hash or entry.prev_time != previous.time:
            problems.append(f"entry seq {entry.seq} does not follow entry seq {previous.seq}")
        previous = entry
    if head is not None and head != ordered[-1].hash:
        problems.append(
            f"the latest entry (seq {ordered[-1].seq}) is not the one the visitor's cookie "
            "names: newer entries are missing"
        )
    return ChainReport(consent_id, len(ordered), problems, ordered[0].seq)


def _start_problems(entry: LogEntry, now: int) -> list[str]:
    if entry.seq == 0:
        if entry.prev_hash or entry.prev_time:
            return ["entry seq 0 names a predecessor"]
        return []
    retention = entry.expires - entry.time
    if entry.prev_time + retention > now:
        return [f"entries before seq {entry.seq} are missing but cannot have expired yet"]
    return []


def load_chain(client: Any, consent_id: str) -> list[LogEntry]:
    """Every stored entry of ``consent_id``, oldest first (``client``: clickhouse-connect)."""
    result = client.query(
        f"SELECT {', '.join(COLUMNS)} FROM consent_log "  # noqa: S608 - fixed column names
        "WHERE consent_id = {id:String} ORDER BY seq, time",
        parameters={"id": consent_id},
    )
    return [entry_from_row(row) for row in result.named_results()]
