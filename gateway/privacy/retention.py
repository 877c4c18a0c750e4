"""Retention, proven: each table's TTL and the age of its oldest row, read from ClickHouse.

The report reads each TTL from the table's own DDL, not from what the code
believes, and measures the oldest row with the TTL's own expression. With
``ttl_only_drop_parts`` a table is within its limit while its oldest row is
younger than the TTL plus one partition; the consent log's TTL is per row
(``expires``). Analytics keep one month; ``CG_ANALYTICS_RETENTION_DAYS`` may
shorten that, and more needs ``CG_ANALYTICS_RETENTION_OVERRIDE`` with a reason.
The anonymous history (``stats_history``: daily counts, every row at or above k)
keeps 25 months, whatever the analytics retention.
:func:`apply_analytics_retention` sets the tables' TTL at every start-up.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from gateway.exceptions import SettingsError
from gateway.settings import Settings
from gateway.storage import Storage

logger = logging.getLogger("gateway.privacy")

MAX_SHORTER_DAYS = 28  # the shortest month: any longer is beyond "one month"
ANALYTICS_TTL = {
    "events": "toDateTime(time)",
    "sessions_agg": "start_date",
    "stats_daily": "day",
    "funnel_days": "day",
}
"""The analytics tables and the time their TTL counts from (as in the migrations)."""

HISTORY_RETENTION = "25 months"
"""How long ``stats_history`` keeps its anonymous daily counts (0018_stats_history.sql)."""

_TTL = re.compile(r"\bTTL (.+?) \+ toInterval(Minute|Hour|Day|Month)\((\d+)\)")
_DAYS_PER = {"Minute": 1 / 1440, "Hour": 1 / 24, "Day": 1, "Month": 31}
_ROW_TTL = re.compile(r"\bTTL (\w+)(?: DELETE)?(?: SETTINGS|$)")
_PARTITION = re.compile(r"PARTITION BY (toYYYYMM|toDate|\w+)")


def check_retention(settings: Settings) -> None:
    """Refuse an analytics retention beyond one month without the documented override."""
    days = settings.analytics_retention_days
    if days > MAX_SHORTER_DAYS and not settings.analytics_retention_override.strip():
        raise SettingsError(
            f"CG_ANALYTICS_RETENTION_DAYS is {days}, longer than one month, which the privacy "
            "promise does not allow; use 0 (one month) or 1 to 28 days, or set "
            "CG_ANALYTICS_RETENTION_OVERRIDE to the reason for keeping more (docs/privacy.md)."
        )


def analytics_interval(settings: Settings) -> str:
    """The analytics TTL interval the settings ask for, as ClickHouse writes it back."""
    days = settings.analytics_retention_days
    return f"toIntervalDay({days})" if days else "toIntervalMonth(1)"


def apply_analytics_retention(storage: Storage, settings: Settings) -> list[str]:
    """Set the analytics tables' TTL to the settings' retention; the tables changed.

    Runs at start-up after the migrations. Only a table whose TTL differs is
    altered (``ON CLUSTER`` on a cluster, on each node's ``_local`` table).
    """
    check_retention(settings)
    wanted = analytics_interval(settings)
    days = settings.analytics_retention_days
    interval = f"INTERVAL {days} DAY" if days else "INTERVAL 1 MONTH"
    suffix = "_local" if storage.cluster else ""
    on_cluster = f" ON CLUSTER {storage.cluster}" if storage.cluster else ""
    client = storage.connect()
    changed = []
    try:
        for table, start in ANALYTICS_TTL.items():
            ddl = _ddl(client, table + suffix)
            if ddl is None or f"+ {wanted} " in ddl or ddl.rstrip().endswith(f"+ {wanted}"):
                continue
            client.command(
                f"ALTER TABLE {table}{suffix}{on_cluster} MODIFY TTL {start} + {interval} DELETE"
            )
            changed.append(table)
            logger.warning("analytics retention of %s set to %s", table, interval.lower())
    finally:
        client.close()
    return changed


def _ddl(client: Client, table: str) -> str | None:
    rows = client.query(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = {name:String}",
        parameters={"name": table},
    ).result_rows
    return str(rows[0][0]) if rows else None


def retention_report(storage: Storage, settings: Settings) -> dict[str, Any]:
    """Every table with a TTL or kept on purpose: its TTL, oldest row, age and verdict."""
    client = storage.connect()
    now = datetime.now(UTC)
    tables: list[dict[str, Any]] = []
    try:
        rows = client.query(
            "SELECT name, create_table_query FROM system.tables "
            "WHERE database = currentDatabase() AND engine LIKE '%MergeTree' "
            "AND name != 'schema_migrations' ORDER BY name"
        ).result_rows
        for name, ddl in rows:
            tables.append(_table_report(client, str(name), str(ddl), now))
    finally:
        client.close()
    override = settings.analytics_retention_override.strip()
    return {
        "checked_at": now.isoformat(timespec="seconds"),
        "analytics_retention": (
            f"{settings.analytics_retention_days} days"
            if settings.analytics_retention_days
            else "one month"
        ),
        "override": override or None,
        "consent_log_days": settings.consent_log_retention_days,
        "history_retention": HISTORY_RETENTION,
        "tables": tables,
        "all_within_limits": all(table["within_limit"] for table in tables),
    }


def _table_report(client: Client, name: str, ddl: str, now: datetime) -> dict[str, Any]:
    public = name.removesuffix("_local")  # on a cluster, read through the Distributed table
    partition = _PARTITION.search(ddl)
    monthly = bool(partition and partition.group(1) == "toYYYYMM")
    grace_days = 31 if monthly else 1
    rows = int(client.command(f"SELECT count() FROM {public}"))  # type: ignore[arg-type]  # noqa: S608
    report: dict[str, Any] = {"table": public, "ttl": None, "rows": rows, "oldest_row": None}
    report.update({"oldest_age_days": None, "limit_days": None, "within_limit": True})
    fixed = _TTL.search(ddl)
    per_row = _ROW_TTL.search(ddl) if fixed is None else None
    if fixed is not None:
        start, unit, amount = fixed.group(1), fixed.group(2), int(fixed.group(3))
        days = amount * _DAYS_PER[unit]
        report["ttl"] = f"{start} + {amount} {unit.lower()}{'s' if amount > 1 else ''}"
        oldest = client.command(f"SELECT min({start}) FROM {public} HAVING count() > 0")  # noqa: S608
        if isinstance(oldest, date | str) and oldest:
            when = _as_datetime(oldest)
            age = (now - when).total_seconds() / 86400
            report.update(
                oldest_row=when.isoformat(timespec="seconds"),
                oldest_age_days=round(age, 2),
                limit_days=round(days + grace_days, 2),
                within_limit=age <= days + grace_days,
            )
        else:
            report["limit_days"] = round(days + grace_days, 2)
    elif per_row is not None:
        column = per_row.group(1)
        report["ttl"] = f"per row, at {column}"
        overdue = client.command(
            f"SELECT count() FROM {public} "  # noqa: S608
            f"WHERE {column} < now() - INTERVAL {grace_days} DAY"
        )
        oldest = client.command(f"SELECT min(time) FROM {public} HAVING count() > 0")  # noqa: S608
        if isinstance(oldest, date | str) and oldest:
            when = _as_datetime(oldest)
            report.update(
                oldest_row=when.isoformat(timespec="seconds"),
                oldest_age_days=round((now - when).total_seconds() / 86400, 2),
            )
        report["overdue_rows"] = int(overdue)  # type: ignore[arg-type]
        report["within_limit"] = int(overdue) == 0  # type: ignore[arg-type]
    else:
        report["ttl"] = "none (kept until removed)"
    return report


def _as_datetime(value: date | str) -> datetime:
    """A ``DateTime`` or ``Date`` column's value (a daily table's TTL counts from a day)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _rows(count: int) -> str:
    """What stands for the oldest row of a table whose rows carry no time to show."""
    return "(empty)" if not count else f"({count} row{'' if count == 1 else 's'})"


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain table for the terminal."""
    lines = [
        f"Retention checked at {report['checked_at']}; analytics kept "
        f"{report['analytics_retention']}"
        + (f" (OVERRIDE: {report['override']})" if report["override"] else "")
        + f"; consent log entries kept {report['consent_log_days']} days; the anonymous "
        f"history (daily counts, every row at or above k) kept {report['history_retention']}.",
        "",
        f"{'table':<16} {'ttl':<34} {'oldest row':<26} {'age (days)':>10} {'limit':>6}  ok",
    ]
    for table in report["tables"]:
        age = "" if table["oldest_age_days"] is None else f"{table['oldest_age_days']:.2f}"
        limit = "" if table["limit_days"] is None else str(table["limit_days"])
        oldest = table["oldest_row"] or _rows(table.get("rows", 0))
        lines.append(
            f"{table['table']:<16} {table['ttl']:<34} {oldest:<26} "
            f"{age:>10} {limit:>6}  {'yes' if table['within_limit'] else 'NO'}"
        )
    lines.append("")
    lines.append(
        "Every table is within its limit."
        if report["all_within_limits"]
        else "Some table holds rows past its limit: see the NO lines."
    )
    return "\n".join(lines)
