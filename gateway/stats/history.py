"""Questions answered from the anonymous history: ranges older than the events' month.

``stats_history`` (written by :mod:`gateway.stats.history_rollup`) holds per site
and day plain counts, each row at or above k. A question whose range starts more
than :data:`RAW_DAYS` days ago (``period=6mo``, ``12mo``, a long custom range), once
the history holds days of it from before then, and the year before of
``compare=year``, are answered from it alone, up to its newest day.

Its ``visitors`` is the sum of each day's unique visitors: a visitor who came on
two days counts twice, because nothing in the history can tell that they are the
same person. :func:`coverage` says so in every answer. Filters, cities, hours and
goals are not in it, and asking for them is a :class:`BadStatsQuery` naming them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.stats.history_rollup import HISTORY_DIMS, TOTALS
from gateway.stats.properties import PROPERTIES
from gateway.stats.query import FIRST_DAY, StatsQuery
from gateway.stats.rows import DAY, MONTH, Unit
from gateway.stats.topn import OTHER
from gateway.storage import Storage
from gateway.storage.threads import thread_client

RAW_DAYS = 31
"""A range starting at most this many days ago is read from the events (30d included)."""

HISTORY_METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                   "visit_duration")  # fmt: skip
HISTORY_PROPERTIES = tuple(dim for dim in HISTORY_DIMS if dim not in TOTALS)
VISITORS_ARE = "the sum of each day's unique visitors"
_VISIT_DIMS = ("entry_page", "exit_page", "source", "utm_source", "country", "browser", "os",
               "device")  # fmt: skip
_RANGE = "site = {site:String} AND day >= {first:Date} AND day < {end:Date}"


def is_old(q: StatsQuery, now: datetime) -> bool:
    """Whether ``q`` reaches back beyond the events' month."""
    return q.start < _midnight(now.date() - timedelta(days=RAW_DAYS))


def answers(storage: Storage, q: StatsQuery, now: datetime) -> bool:
    """Whether the history answers ``q``: it reaches back beyond the events' month, and
    the history holds a day of it there. Until then (a new gateway, whose history
    began within the month) the events alone hold everything, and answer as before."""
    if not is_old(q, now):
        return False
    boundary = now.date() - timedelta(days=RAW_DAYS)
    rows = _read(
        storage,
        "SELECT count() FROM (SELECT 1 FROM stats_history WHERE site = {site:String} "
        "AND dim = '' AND day >= {first:Date} AND day < {boundary:Date} LIMIT 1)",
        {"site": q.site, "first": q.start.date(), "boundary": min(boundary, q.end.date())},
    )
    return bool(rows[0][0])


def year_before(q: StatsQuery) -> StatsQuery:
    """The same question a year earlier (29 February becomes the 28th)."""
    if q.start.year <= FIRST_DAY.year:
        raise BadStatsQuery(f"compare=year needs a range from {FIRST_DAY.year + 1} on.")
    return replace(q, start=_a_year_back(q.start), end=_a_year_back(q.end), marks=None)


def check(q: StatsQuery, metrics: Sequence[str], prop: str = "") -> list[str]:
    """``metrics`` if the history can answer them (and ``prop``), else a 400 naming what not."""
    if q.filters:
        raise BadStatsQuery(
            f"Filters ({', '.join(q.filters)}) cannot apply to an answer from the anonymous "
            f"history (a range that starts more than {RAW_DAYS} days ago, or compare=year): "
            "it keeps each breakdown on its own."
        )
    if prop and prop not in HISTORY_PROPERTIES:
        raise BadStatsQuery(
            f"The property {prop!r} is not in the anonymous history, which answers ranges that "
            f"start more than {RAW_DAYS} days ago; use one of {', '.join(HISTORY_PROPERTIES)}."
        )
    chosen = list(dict.fromkeys(metrics))
    for name in chosen:
        if name not in HISTORY_METRICS:
            raise BadStatsQuery(
                f"The metric {name!r} is not in the anonymous history, which answers ranges "
                f"that start more than {RAW_DAYS} days ago; use {', '.join(HISTORY_METRICS)}."
            )
    return chosen


def newest_day(storage: Storage, site: str) -> date | None:
    """The newest day the history holds for ``site``."""
    rows = _read(
        storage,
        "SELECT max(day) FROM stats_history WHERE site = {site:String} HAVING count() > 0",
        {"site": site},
    )
    return rows[0][0] if rows else None


def clipped(storage: Storage, q: StatsQuery) -> StatsQuery:
    """``q`` ending after the history's newest day (unchanged if it ends sooner)."""
    newest = newest_day(storage, q.site)
    if newest is None:
        return q
    end = min(q.end, _midnight(newest + timedelta(days=1)))
    return replace(q, end=end) if end > q.start else q


def coverage(storage: Storage, q: StatsQuery) -> dict[str, Any]:
    """What an answer from the history holds: its days and what its visitors are."""
    newest = newest_day(storage, q.site)
    return {
        "source": "anonymous history",
        "from": q.start.date().isoformat(),
        "through": newest.isoformat() if newest else None,
        "visitors": VISITORS_ARE,
        "metrics": list(HISTORY_METRICS),
    }


def aggregate(storage: Storage, q: StatsQuery, metrics: Sequence[str]) -> dict[str, Any]:
    """The totals of ``metrics`` over ``q``'s days (0 where the history has none)."""
    chosen = check(q, metrics)
    rows = _read(
        storage,
        "SELECT sumIf(visitors, dim = ''), sumIf(visits, dim = ''), sumIf(pageviews, dim = ''), "  # noqa: S608
        "sumIf(sessions, dim = 'visit'), sumIf(bounces, dim = 'visit'), "
        f"sumIf(duration, dim = 'visit') FROM stats_history FINAL WHERE {_RANGE} "
        "AND dim IN ('', 'visit')",
        _params(q),
    )
    counts = dict(zip(("visitors", "visits", "pageviews", "sessions", "bounces", "duration"),
                      (int(n) for n in rows[0]), strict=True))  # fmt: skip
    return {name: _metric(name, counts) for name in chosen}


def timeseries(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], unit: Unit | None = None
) -> list[dict[str, Any]]:
    """``metrics`` per day or month (by default months past 60 days), gaps as 0."""
    chosen = check(q, metrics)
    unit = unit or (MONTH if q.length > timedelta(days=60) else DAY)
    if unit not in (DAY, MONTH):
        raise BadStatsQuery("The anonymous history holds days: use interval=date or month.")
    rows = _read(
        storage,
        "SELECT day, dim, visitors, visits, pageviews, sessions, bounces, duration "  # noqa: S608
        f"FROM stats_history FINAL WHERE {_RANGE} AND dim IN ('', 'visit')",
        _params(q),
    )
    buckets: dict[date, dict[str, int]] = {}
    day = q.start.date()
    while day < q.end.date():
        buckets.setdefault(_bucket(day, unit), dict.fromkeys(_COUNTS, 0))
        day += timedelta(days=1)
    for day, dim, *numbers in rows:
        counts = buckets.setdefault(_bucket(day, unit), dict.fromkeys(_COUNTS, 0))
        names = _COUNTS[:3] if dim == "" else _COUNTS[3:]
        for name, number in zip(_COUNTS, numbers, strict=True):
            if name in names:
                counts[name] += int(number)
    return [
        {"date": bucket.isoformat(), **{m: _metric(m, buckets[bucket]) for m in chosen}}
        for bucket in sorted(buckets)
    ]


def breakdown(
    storage: Storage, q: StatsQuery, prop: str, metrics: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """The top ``limit`` values of ``prop`` by summed daily visitors, ``(other)`` last.

    Bounce rate and visit duration are those of the visits a value carried as a
    whole (a source, an entry page...); for the pages, regions and UTM mediums and
    campaigns, which are counted per event, they are ``None``.
    """
    chosen = check(q, metrics, prop)
    label = PROPERTIES[prop].label("value")
    rows = _read(
        storage,
        f"SELECT if(value = {{other:String}}, value, {label}) AS shown, sum(visitors), "  # noqa: S608
        "sum(visits), sum(pageviews), sum(sessions), sum(bounces), sum(duration) "
        f"FROM stats_history FINAL WHERE {_RANGE} AND dim = {{dim:String}} "
        "GROUP BY shown ORDER BY shown = {other:String}, sum(visitors) DESC, shown "
        "LIMIT {limit:UInt32}",
        {**_params(q), "dim": prop, "other": OTHER, "limit": limit + 1},
    )
    named = [row for row in rows if row[0] != OTHER][:limit]
    named += [row for row in rows if row[0] == OTHER]
    out = []
    for value, *numbers in named:
        counts = dict(zip(_COUNTS, (int(n) for n in numbers), strict=True))
        if prop not in _VISIT_DIMS:
            counts["sessions"] = 0
        out.append({prop: value, **{m: _metric(m, counts) for m in chosen}})
    return out


_COUNTS = ("visitors", "visits", "pageviews", "sessions", "bounces", "duration")


def _metric(name: str, counts: dict[str, int]) -> int | float | None:
    visits, sessions = counts["visits"], counts["sessions"]
    if name in ("visitors", "visits", "pageviews"):
        return counts[name]
    if name == "views_per_visit":
        return round(counts["pageviews"] / visits, 2) if visits else 0
    if not sessions:
        return None if counts["visits"] and name in ("bounce_rate", "visit_duration") else 0
    if name == "bounce_rate":
        return round(100 * counts["bounces"] / sessions)
    return round(counts["duration"] / sessions)  # visit_duration


def _read(storage: Storage, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
    # FINAL keeps one of the copies two writers made of a row; they always share a
    # month's partition, so each partition is deduplicated alone (and in parallel).
    settings = {"do_not_merge_across_partitions_select_final": 1}
    return thread_client(storage).query(sql, parameters=parameters, settings=settings).result_rows


def _params(q: StatsQuery) -> dict[str, Any]:
    return {"site": q.site, "first": q.start.date(), "end": q.end.date()}


def _bucket(day: date, unit: Unit) -> date:
    return day.replace(day=1) if unit is MONTH else day


def _a_year_back(moment: datetime) -> datetime:
    day = moment.date()
    earlier = day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)
    return datetime.combine(earlier, moment.timetz())


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
