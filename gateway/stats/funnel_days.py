"""How many visitors reached each step of a funnel: finished days kept, the rest read raw.

A visit counts on the day of its first event that reaches a step (in practice the
day it started), with its step events of that day and the next (a visit ends after
30 minutes idle, so one crossing midnight is whole). ClickHouse's ``windowFunnel``
gives each visit its level (the steps it reached in order); a visit counts in a
step's visitors when its level reaches that step.

A day is over, and its figures never change, once the next day is over too and
late events have had three hours to arrive (the rollups' grace, migration 0007).
For an unfiltered question of whole days (:func:`~gateway.stats.rollup.served`),
the finished days of the range are read from ``funnel_days`` (migration 0024: per
funnel, definition, day and step, the ``uniqCombined64`` states of the visitors and
visits), computed and stored first when missing, and the later days are read
raw; the states are merged in one query, so the figures are the same as a raw
read of the whole range. A filtered question reads everything raw.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.settings_analytics import Goal
from gateway.stats.goals import goal_condition
from gateway.stats.query import StatsQuery
from gateway.stats.rollup import served
from gateway.stats.sql import event_where, parameters
from gateway.storage import Storage
from gateway.storage.threads import thread_client

WINDOW_MS = 86_400_000  # longer than any visit
GRACE = timedelta(hours=3)  # late events have arrived by then, as the rollups assume
_DAY = timedelta(days=1)


def definition(steps: tuple[Goal, ...]) -> str:
    """A hash of a funnel's steps: stored days of an edited funnel are not reused."""
    text = "\x1f".join(
        f"{goal.kind}\x1e{goal.target}\x1e{goal.prop_key}\x1e{goal.prop_value}" for goal in steps
    )
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def first_open_day(now: datetime) -> date:
    """The first day that may still change at ``now``: the days before it are over."""
    return (now - GRACE).date() - _DAY


def reached(
    storage: Storage,
    q: StatsQuery,
    steps: tuple[Goal, ...],
    *,
    funnel_id: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """The visitors of ``q`` whose visit reached each of ``steps`` in order.

    With ``funnel_id`` (a stored funnel's) and an unfiltered question of whole days,
    the finished days come from ``funnel_days``.
    """
    cut = q.start
    values: dict[str, Any] = {}
    stored = ""
    if funnel_id is not None and served(q):
        last = min(q.end.date(), first_open_day(now or datetime.now(UTC)))
        days = [q.start.date() + _DAY * n for n in range((last - q.start.date()).days)]
        if days:
            values = {"funnel": funnel_id, "definition": definition(steps), "site": q.site}
            values.update(first_day=days[0], cut_day=last)
            _store_missing(storage, q, steps, values, days)
            cut = _midnight(last)
            stored = (
                "SELECT step, visitors AS v FROM funnel_days WHERE site = {site:String} "
                "AND funnel = {funnel:String} AND definition = {definition:String} "
                "AND day >= {first_day:Date} AND day < {cut_day:Date} AND step > 0 UNION ALL "
            )
    raw, bound = _levels(q, steps, cut, q.end)
    values.update(bound)
    sql = (
        f"SELECT step, uniqCombined64Merge(v) FROM ({stored}"  # noqa: S608 (declared names only)
        "SELECT step, uniqCombined64State(visitor) AS v "
        f"FROM ({raw}) ARRAY JOIN range(1, level + 1) AS step GROUP BY step) GROUP BY step"
    )
    rows = thread_client(storage).query(sql, parameters=values).result_rows
    counts = {int(step): int(n) for step, n in rows}
    return [counts.get(i + 1, 0) for i in range(len(steps))]


def _levels(
    q: StatsQuery, steps: tuple[Goal, ...], start: datetime, end: datetime
) -> tuple[str, dict[str, Any]]:
    """Each visit whose first step event falls in ``start`` to ``end``: its visitor,
    session id, first step event and level, over ``q``'s filters. The events are read
    from a day before (to find a visit's first step event) to a day after (its last)."""
    widened = replace(q, start=start - _DAY, end=end + _DAY, marks=None)
    values = parameters(widened, window=WINDOW_MS, from_=_stamp(start), to=_stamp(end))
    conditions = []
    for i, goal in enumerate(steps):
        condition, bound = goal_condition(goal, f"s{i}")
        conditions.append(f"({condition})")
        values.update(bound)
    sql = (
        "SELECT any(visitor_key) AS visitor, session_id, min(time) AS first, "  # noqa: S608
        "windowFunnel({window:UInt64})(toUInt64(toUnixTimestamp64Milli(time)), "
        f"{', '.join(conditions)}) AS level FROM events WHERE {event_where(widened)} "
        f"AND ({' OR '.join(conditions)}) GROUP BY session_id "
        "HAVING first >= {from_:DateTime64(3, 'UTC')} AND first < {to:DateTime64(3, 'UTC')}"
    )
    return sql, values


def _store_missing(
    storage: Storage,
    q: StatsQuery,
    steps: tuple[Goal, ...],
    values: dict[str, Any],
    days: list[date],
) -> None:
    """Compute and store the days of ``days`` that ``funnel_days`` does not hold yet
    (its step 0 rows mark the days computed, reached by anyone or not)."""
    client = thread_client(storage)
    held = {
        row[0]
        for row in client.query(
            "SELECT DISTINCT day FROM funnel_days WHERE site = {site:String} "
            "AND funnel = {funnel:String} AND definition = {definition:String} "
            "AND day >= {first_day:Date} AND day < {cut_day:Date} AND step = 0",
            parameters=values,
        ).result_rows
    }
    missing = [day for day in days if day not in held]
    if not missing:
        return
    raw, bound = _levels(
        replace(q, filters={}, goals=None),
        steps,
        _midnight(missing[0]),
        _midnight(missing[-1]) + _DAY,
    )
    bound.update(values, missing=missing)
    client.command(
        "INSERT INTO funnel_days (site, funnel, definition, day, step, visitors, visits) "  # noqa: S608
        "SELECT {site:String}, {funnel:String}, {definition:String}, toDate(first) AS day, "
        "toUInt8(step), uniqCombined64State(visitor), uniqCombined64State(session_id) "
        f"FROM ({raw}) ARRAY JOIN range(1, level + 1) AS step "
        "WHERE day IN {missing:Array(Date)} GROUP BY day, step "
        "UNION ALL SELECT {site:String}, {funnel:String}, {definition:String}, day, "
        "toUInt8(0), uniqCombined64StateIf(toUUID('00000000-0000-0000-0000-000000000000'), 0), "
        "uniqCombined64StateIf(toUInt64(0), 0) "
        "FROM (SELECT arrayJoin({missing:Array(Date)}) AS day) GROUP BY day",
        parameters=bound,
    )


def forget_funnel_days(storage: Storage, first: date) -> None:
    """Drop every stored day from ``first`` on (after an erasure, whose visitor's key the
    states may hold, or late events); the next question computes them again."""
    suffix = "_local" if storage.cluster else ""
    on_cluster = f" ON CLUSTER {storage.cluster}" if storage.cluster else ""
    client = storage.connect()
    try:
        days = client.query(
            "SELECT DISTINCT day FROM funnel_days WHERE day >= {first:Date} ORDER BY day",
            parameters={"first": first},
        ).result_rows
        for (day,) in days:
            client.command(
                f"ALTER TABLE funnel_days{suffix}{on_cluster} DROP PARTITION '{day.isoformat()}'"
            )
    finally:
        client.close()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
