"""One visitor's data in ClickHouse: read it, export it, erase it.

A visitor is found only through the consent id from their signed cookie (or the
operator): analytics rows carry its hash, ``visitor_key``
(:func:`gateway.analytics.events.visitor_key`); nothing takes a visitor key from
a request. Erasure finds its tables in the schema (every table with
``visitor_key`` or ``visitor_any``), so a new table cannot be forgotten, and
deletes with ``ALTER TABLE ... DELETE`` (``ON CLUSTER`` on each node's ``_local``
table). The sessions aggregate is also matched by the visitor's session ids, read
from ``events`` first, since its ``any()`` may have picked another key. The
consent log keeps its entries, the proof of consent GDPR articles 7(1) and
17(3)(b) ask to keep, and gets an ``erase`` entry.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from gateway.analytics.events import visitor_key
from gateway.consent.proof import COLUMNS as LOG_COLUMNS
from gateway.consent.proof import LogEntry, load_chain
from gateway.consent.state import check_consent_id
from gateway.exceptions import CommandError
from gateway.storage import Storage

VISIT_COLUMNS: tuple[str, ...] = (
    "time",
    "kind",
    "path",
    "query",
    "title",
    "referrer_host",
    "referrer_path",
    "prev_path",
    "ip",
    "country",
    "region",
    "city",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device",
    "engagement_ms",
    "name",
    "session_id",
)
"""The ``events`` columns a visitor sees and exports (``site`` and the key are the same
in every row)."""

VISITOR_COLUMNS = ("visitor_key", "visitor_any")
MAX_ROWS = 100_000  # a month of one visitor's events is far less; a bound all the same


def visits(client: Client, consent_id: str, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """The visitor's events, newest first, as plain JSON-ready values."""
    result = client.query(
        f"SELECT {', '.join(VISIT_COLUMNS)} FROM events "  # noqa: S608 - fixed columns
        "WHERE visitor_key = {key:UUID} ORDER BY time DESC LIMIT {limit:UInt32}",
        parameters={"key": visitor_key(consent_id), "limit": limit},
    )
    return [_plain(row) for row in result.named_results()]


def consent_history(client: Client, consent_id: str) -> list[dict[str, Any]]:
    """The visitor's consent log entries, oldest first."""
    return [_entry_dict(entry) for entry in load_chain(client, consent_id)]


def export(client: Client, consent_id: str, now: datetime) -> dict[str, Any]:
    """Everything held about the visitor, structured (the JSON download)."""
    return {
        "exported_at": now.isoformat(timespec="seconds"),
        "visitor_key": visitor_key(consent_id),
        "visits": visits(client, consent_id),
        "consent_history": consent_history(client, consent_id),
    }


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """``rows`` as CSV with a header line; lists are joined with ``+``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["+".join(row[c]) if isinstance(row[c], list) else row[c] for c in columns])
    return out.getvalue()


def visits_csv(client: Client, consent_id: str) -> str:
    return to_csv(visits(client, consent_id), VISIT_COLUMNS)


def consent_csv(client: Client, consent_id: str) -> str:
    return to_csv(consent_history(client, consent_id), LOG_COLUMNS)


def visitor_tables(client: Client) -> list[tuple[str, str]]:
    """``(table, column)`` for every table holding visitor keys, local tables on a cluster."""
    result = client.query(
        "SELECT c.table, c.name FROM system.columns AS c "
        "INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = currentDatabase() AND c.name IN {names:Array(String)} "
        "AND t.engine LIKE '%MergeTree' ORDER BY c.table",
        parameters={"names": list(VISITOR_COLUMNS)},
    )
    return [(str(table), str(column)) for table, column in result.result_rows]


def held_rows(client: Client, consent_id: str) -> dict[str, int]:
    """How many rows each visitor table holds for the visitor.

    Tables only: the ``sessions`` view reads ``sessions_agg``, so counting it
    too would count the same rows twice.
    """
    key = visitor_key(consent_id)
    counts: dict[str, int] = {}
    for table, column in visitor_tables(client):
        table = table.removesuffix("_local")  # on a cluster, count through the Distributed table
        counts[table] = int(
            client.command(
                f"SELECT count() FROM {table} WHERE {column} = {{key:UUID}}",  # noqa: S608
                parameters={"key": key},
            )  # type: ignore[arg-type]
        )
    return counts


def holdings(storage: Storage, consent_id: str) -> dict[str, int]:
    """Rows held for the visitor in each visitor table, and their consent log entries.

    All zero means this gateway has never seen the id (or its rows have expired).
    """
    client = storage.connect()
    try:
        counts = held_rows(client, consent_id)
        counts["consent_log"] = len(consent_history(client, consent_id))
    finally:
        client.close()
    return counts


def known_consent_id(storage: Storage, value: object) -> tuple[str, dict[str, int]]:
    """The checked consent id and what is held for it; :class:`CommandError` if nothing."""
    consent_id = check_consent_id(value.strip() if isinstance(value, str) else value)
    counts = holdings(storage, consent_id)
    if not any(counts.values()):
        raise CommandError(
            f"Nothing is held for the consent id {consent_id}: no visits and no consent log "
            "entry. Check the id against the visitor's privacy page; rows older than the "
            "retention period are already gone."
        )
    return consent_id, counts


def erase_rows(storage: Storage, consent_id: str) -> dict[str, int]:
    """Delete the visitor's rows from every visitor table; the rows each held before.

    ``ALTER TABLE ... DELETE`` rewrites every part that holds one of the rows,
    all columns, without them, and returns once that is done
    (``mutations_sync = 2``: on every replica), so a caller that reports
    "done" tells the truth. A lightweight ``DELETE`` would only mask the rows and
    leave them in the part's files until some merge. The replaced parts are
    still on disk for a moment: :mod:`gateway.privacy.purge` waits for them.
    Nothing is rewritten when the visitor holds no row.
    """
    client = storage.connect()
    try:
        key = visitor_key(consent_id)
        before = held_rows(client, consent_id)
        sessions = [
            int(row[0])
            for row in client.query(
                "SELECT DISTINCT session_id FROM events WHERE visitor_key = {key:UUID}",
                parameters={"key": key},
            ).result_rows
        ]
        if not sessions and not any(before.values()):
            return before
        on_cluster = f" ON CLUSTER {storage.cluster}" if storage.cluster else ""
        # MergeTree tables only: on a cluster that is each node's _local table, never the
        # Distributed one, which cannot be deleted from.
        for table, column in visitor_tables(client):
            condition = f"{column} = {{key:UUID}}"
            if column == "visitor_any" and sessions:
                condition += " OR session_id IN {sessions:Array(UInt64)}"
            client.command(
                f"ALTER TABLE {table}{on_cluster} DELETE WHERE {condition} "
                "SETTINGS mutations_sync = 2",
                parameters={"key": key, "sessions": sessions},
            )
        return before
    finally:
        client.close()


def last_entry(client: Client, consent_id: str) -> LogEntry | None:
    """The visitor's newest consent log entry (the chain head for an operator's erasure)."""
    chain = load_chain(client, consent_id)
    return chain[-1] if chain else None


def _entry_dict(entry: LogEntry) -> dict[str, Any]:
    data = {name: getattr(entry, name) for name in LOG_COLUMNS}
    for name in ("time", "expires", "prev_time"):
        data[name] = datetime.fromtimestamp(data[name], UTC).isoformat()
    data["categories"] = list(entry.categories)
    return data


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat(timespec="milliseconds")
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, UUID):
            value = str(value)
        elif name == "session_id":
            value = str(value)  # 64 bits: JSON numbers lose precision past 2**53
        out[name] = value
    return out


def dumps(data: dict[str, Any]) -> str:
    """JSON for downloads: readable, UTF-8, stable key order."""
    return json.dumps(data, ensure_ascii=False, indent=2)
