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

An erasure appends an ``erase`` entry, which becomes the chain's head. One the
operator asks for is appended where the visitor's cookie cannot follow, so the
next choice continues from it (:func:`erased_after`), and the cookie may name
the entry just before any run of ``erase`` entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
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
    "regime",  # 0020: the regime that applied, empty in older entries
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
    regime: str = ""  # regime_label() of the visitor's country; empty before 0020

    def canonical(self) -> str:
        """The entry as it is hashed: sorted-key JSON of every field but ``hash``.

        An empty ``regime`` is left out, so entries written before it existed still verify.
        """
        data = asdict(self)
        del data["hash"]
        if not self.regime:
            del data["regime"]
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
            self.regime,
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
    """What :func:`verify_chain` found: ``ok`` when ``problems`` is empty.

    ``erased`` holds the times of the chain's ``erase`` entries; ``last_*`` describe
    its newest entry (``last_seq`` is -1 for an empty chain).
    """

    consent_id: str
    entries: int
    problems: list[str]
    first_seq: int = 0  # > 0 when the earlier entries have expired
    erased: tuple[int, ...] = ()
    last_seq: int = -1
    last_action: str = ""
    last_time: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def state(self) -> str:
        """One word for the chain: ``intact``, ``erased`` (intact, with an erasure),
        ``broken`` or ``empty``."""
        if self.problems:
            return "broken"
        if not self.entries:
            return "empty"
        return "erased" if self.erased else "intact"

    def summary(self) -> str:
        """The chain's state in words, for an operator or an auditor."""
        if self.problems:
            return "BROKEN: " + "; ".join(self.problems)
        if not self.entries:
            return "no consent log entry"
        words = f"intact: {self.entries} entr{'y' if self.entries == 1 else 'ies'}"
        words += f" (seq {self.first_seq} to {self.last_seq})"
        if self.first_seq > 0:
            words += f", the ones before seq {self.first_seq} expired"
        if self.erased:
            words += "; erased on " + ", ".join(_day(when) for when in self.erased)
        return words + f"; latest: {self.last_action} on {_moment(self.last_time)}"


def _day(when: int) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d")


def _moment(when: int) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M UTC")


def verify_chain(
    entries: Iterable[LogEntry], now: int, head: str | None = None, consent_id: str = ""
) -> ChainReport:
    """Walk one consent id's entries in order and report every break in the chain.

    Entries older than their retention are deleted by the TTL, so a chain may
    start after seq 0; that start is accepted only when the missing predecessor
    (whose time the first entry records) would itself have expired by ``now``.
    ``head``, the hash the visitor's consent cookie carries, must be the last
    entry's, or one followed by ``erase`` entries only: otherwise the newest
    entries were removed. An ``erase`` entry that shares its seq and predecessor
    with a choice (logged while that choice still waited to be written, or
    before choices followed an operator's erasure) is an erasure, not a fork.
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
        elif entry.seq == previous.seq and _erasure_beside(entry, previous):
            previous = previous if entry.action == "erase" else entry  # the choice goes on
            continue
        elif entry.seq == previous.seq:
            problems.append(f"two entries have seq {entry.seq}: the chain forks there")
        elif entry.seq != previous.seq + 1:
            missing = ", ".join(str(seq) for seq in range(previous.seq + 1, entry.seq))
            problems.append(f"entries seq {missing} are missing")
        elif entry.prev_hash != previous.hash or entry.prev_time != previous.time:
            problems.append(f"entry seq {entry.seq} does not follow entry seq {previous.seq}")
        previous = entry
    if head is not None and not _names_the_head(ordered, head):
        problems.append(
            f"the latest entry (seq {ordered[-1].seq}) is not the one the visitor's cookie "
            "names: newer entries are missing"
        )
    last = ordered[-1]
    return ChainReport(
        consent_id,
        len(ordered),
        problems,
        ordered[0].seq,
        tuple(entry.time for entry in ordered if entry.action == "erase"),
        last.seq,
        last.action,
        last.time,
    )


def _erasure_beside(entry: LogEntry, other: LogEntry) -> bool:
    """Whether one of two entries of one seq is an erasure and both follow the same entry."""
    one_erasure = (entry.action == "erase") != (other.action == "erase")
    same_predecessor = entry.prev_hash == other.prev_hash and entry.prev_time == other.prev_time
    return one_erasure and same_predecessor


def _names_the_head(ordered: list[LogEntry], head: str) -> bool:
    """Whether ``head`` is the newest entry's hash, or one followed only by erasures."""
    for entry in reversed(ordered):
        if entry.hash == head:
            return True
        if entry.action != "erase":
            return False
    return False


def _start_problems(entry: LogEntry, now: int) -> list[str]:
    if entry.seq == 0:
        if entry.prev_hash or entry.prev_time:
            return ["entry seq 0 names a predecessor"]
        return []
    retention = entry.expires - entry.time
    if entry.prev_time + retention > now:
        return [f"entries before seq {entry.seq} are missing but cannot have expired yet"]
    return []


def erased_after(seq: int, head: str, later: Iterable[LogEntry]) -> LogEntry | None:
    """The last of the ``erase`` entries that follow entry ``seq`` (hash ``head``) one by
    one in ``later``, or ``None`` when the next entry is no such erasure.

    The operator's erasure is chained after the newest stored entry while the
    visitor's cookie still names that entry; the visitor's next choice must
    follow the erasure, not fork beside it.
    """
    found: LogEntry | None = None
    for entry in sorted(later, key=lambda entry: (entry.seq, entry.time)):
        if entry.seq != seq + 1 or entry.prev_hash != head or entry.action != "erase":
            break
        if entry.hash != entry.computed_hash():
            break
        found, seq, head = entry, entry.seq, entry.hash
    return found


def load_chain(client: Any, consent_id: str, after_seq: int = -1) -> list[LogEntry]:
    """Every stored entry of ``consent_id`` past ``after_seq``, oldest first
    (``client``: clickhouse-connect)."""
    result = client.query(
        f"SELECT {', '.join(COLUMNS)} FROM consent_log "  # noqa: S608 - fixed column names
        "WHERE consent_id = {id:String} AND seq > {after:Int64} ORDER BY seq, time",
        parameters={"id": consent_id, "after": after_seq},
    )
    return [entry_from_row(row) for row in result.named_results()]
