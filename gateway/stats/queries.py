"""The dashboard's and the API's questions, each answered by ONE ClickHouse query.

Every function here is blocking and takes the :class:`~gateway.storage.Storage`;
callers on the event loop use ``await storage.run(lambda: aggregate(storage, q, metrics))``.
All arithmetic (counting, folding small rows, filling gaps) happens in
ClickHouse; Python only names the columns of the few rows that come back.

Metrics, as Plausible defines them:

    visitors         unique visitor keys (a hash of the consent id); like visits, a
                     uniqCombined64 estimate, exact up to 8,192 in a row
    visits           sessions (30 minutes idle ends one)
    pageviews        page-view events
    views_per_visit  pageviews / visits, two decimals
    bounce_rate      percent of visits with at most one page view and no custom event
    visit_duration   mean seconds from a visit's first to its last event

The k rule: in :func:`breakdown` and :func:`next_pages`, every row counting
fewer than ``k`` visitors is folded into one row labelled :data:`OTHER`,
inside the query (a ``uniqCombined64`` state per row, merged again after
folding, so the other row's visitors are counted once each, not summed).
When the rollup shows that at least ``limit`` rows reach ``k`` (see
:func:`_contenders`), the other row cannot make the top ``limit``, so the
values that can are counted straight away and no state is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.stats.query import FILTERS, StatsQuery
from gateway.stats.rollup import event_rows, markers, session_rows
from gateway.stats.sql import (
    DIRECT,
    EVENT_COLUMNS,
    OTHER,
    SESSION_COLUMNS,
    UNKNOWN,
    parameters,
)
from gateway.storage import Storage
from gateway.storage.threads import thread_client

METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
SESSION_METRICS = ("bounce_rate", "visit_duration")
"""Metrics that need the finalised sessions, not just the events."""

BREAKDOWN_PROPERTIES = tuple(FILTERS)
"""Every ``property`` :func:`breakdown` accepts, in Plausible's names."""

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# The totals over the counts of _sources: visitors, visits and pageviews from the events (e),
# s_visits, s_bounces and s_duration from the sessions (s).
_TOTALS = {
    "visitors": "visitors",
    "visits": "visits",
    "pageviews": "pageviews",
    "views_per_visit": "round(if(visits = 0, 0, pageviews / visits), 2) AS views_per_visit",
    "bounce_rate": "toUInt32(round(if(s_visits = 0, 0, 100 * s_bounces / s_visits))) "
    "AS bounce_rate",
    "visit_duration": "toUInt32(round(if(s_visits = 0, 0, s_duration / s_visits))) "
    "AS visit_duration",
}


# Breakdowns: per value a partial (mergeable) form over the rows of gateway.stats.rollup,
# and the final form after rows under k (`small`) are folded into OTHER. Only the small
# rows' states are merged again: a row of its own keeps the count its state was finalised
# to (NAME_n beside each NAME_state), since carrying the state itself (any(state)) copies
# it, which took a fifth of a navigation panel over 10 million events.
def _merged(name: str) -> str:
    return f"if(max(small), uniqCombined64MergeIf({name}_state, small), any({name}_n))"


_EVENT_PARTIAL = {
    "visitors": "uniqCombined64MergeState(visitors) AS visitors_state",
    "visits": "uniqCombined64MergeState(visits) AS visits_state",
    "pageviews": "sum(pageviews) AS pageviews_sum",
}
_EVENT_FINAL = {
    "visitors": f"{_merged('visitors')} AS visitors",
    "visits": f"{_merged('visits')} AS visits",
    "pageviews": "sum(pageviews_sum) AS pageviews",
    "views_per_visit": "round(if(visits = 0, 0, pageviews / visits), 2) AS views_per_visit",
}
_SESSION_PARTIAL = {
    "visitors": "uniqCombined64MergeState(visitors) AS visitors_state",
    "visits": "sum(sessions) AS visits_sum",
    "pageviews": "sum(pageviews) AS pageviews_sum",
    "bounce_rate": "sum(bounces) AS bounces_sum",
    "visit_duration": "sum(duration) AS duration_sum",
}
_SESSION_FINAL = {
    "visitors": f"{_merged('visitors')} AS visitors",
    "visits": "sum(visits_sum) AS visits",
    "pageviews": "sum(pageviews_sum) AS pageviews",
    "views_per_visit": "round(if(visits = 0, 0, pageviews / visits), 2) AS views_per_visit",
    "bounce_rate": "toUInt32(round(if(visits = 0, 0, 100 * sum(bounces_sum) / visits))) "
    "AS bounce_rate",
    "visit_duration": "toUInt32(round(if(visits = 0, 0, sum(duration_sum) / visits))) "
    "AS visit_duration",
}
# The same counts when no row is folded (_folded's exact branch): one merge per value and
# column, finalised once, instead of a merged state that is finalised, copied and finalised.
_EVENT_EXACT = {
    "visitors": "uniqCombined64Merge(visitors) AS visitors_n",
    "visits": "uniqCombined64Merge(visits) AS visits_n",
    "pageviews": "sum(pageviews) AS pageviews_sum",
}
_EVENT_EXACT_FINAL = {
    "visitors": "visitors_n AS visitors",
    "visits": "visits_n AS visits",
    "pageviews": "pageviews_sum AS pageviews",
    "views_per_visit": _EVENT_FINAL["views_per_visit"],
}
_SESSION_EXACT = {
    "visitors": "uniqCombined64Merge(visitors) AS visitors_n",
    "visits": "sum(sessions) AS visits_sum",
    "pageviews": "sum(pageviews) AS pageviews_sum",
    "bounce_rate": "sum(bounces) AS bounces_sum",
    "visit_duration": "sum(duration) AS duration_sum",
}
_SESSION_EXACT_FINAL = {
    "visitors": "visitors_n AS visitors",
    "visits": "visits_sum AS visits",
    "pageviews": "pageviews_sum AS pageviews",
    "views_per_visit": _SESSION_FINAL["views_per_visit"],
    "bounce_rate": "toUInt32(round(if(visits = 0, 0, 100 * bounces_sum / visits))) AS bounce_rate",
    "visit_duration": "toUInt32(round(if(visits = 0, 0, duration_sum / visits))) AS visit_duration",
}
_NEEDS = {
    "views_per_visit": ("pageviews", "visits"),
    "bounce_rate": ("visits", "bounce_rate"),
    "visit_duration": ("visits", "visit_duration"),
}

# The column each property is grouped by (in the events or the sessions), and its label.
_COLUMNS = {
    "page": "path",
    "source": "referrer",
}
_UNKNOWN_IF_EMPTY = ("country", "region", "city", "browser", "os", "device")
_LABELS = {
    name: (
        f"if(key = '', '{DIRECT}', key)"
        if name == "source"
        else f"if(key = '', '{UNKNOWN}', key)"
        if name in _UNKNOWN_IF_EMPTY
        else "key"
    )
    for name in FILTERS.values()
}
_SKIP_EMPTY = ("utm_source", "utm_medium", "utm_campaign")


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """``metrics`` without repeats, or :class:`BadStatsQuery` naming an unknown one."""
    chosen = list(dict.fromkeys(metrics))
    if not chosen:
        raise BadStatsQuery(f"Ask for at least one metric: {', '.join(METRICS)}.")
    for metric in chosen:
        if metric not in METRICS:
            raise BadStatsQuery(f"Unknown metric {metric!r}; use one of {', '.join(METRICS)}.")
    return chosen


def _with_needed(metrics: Sequence[str]) -> list[str]:
    needed = list(metrics)
    for metric in metrics:
        needed.extend(m for m in _NEEDS.get(metric, ()) if m not in needed)
    return needed


def _ordered(needed: Sequence[str], finals: dict[str, str]) -> list[str]:
    """Finals in dependency order: the counts before the ratios that use them."""
    base = [m for m in ("visitors", "visits", "pageviews") if m in needed]
    return base + [m for m in needed if m not in base and m in finals]


def _rows(storage: Storage, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = thread_client(storage).query(sql, parameters=params)
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def _pick(row: dict[str, Any], metrics: Sequence[str], *keys: str) -> dict[str, Any]:
    return {key: row[key] for key in (*keys, *metrics)}


def _sources(q: StatsQuery, metrics: Sequence[str], bucket: str = "") -> str:
    """The FROM of a totals query: the events' counts, the sessions' counts, or both.

    With ``bucket`` (``toStartOfHour``...) each side is grouped by it and the
    two are joined on it; without, each side is one row.
    """
    parts = []
    key = "key AS bucket, " if bucket else ""
    group = " GROUP BY bucket" if bucket else ""
    if any(m not in SESSION_METRICS for m in metrics):
        rows = event_rows(q, "", f"{bucket}(time)" if bucket else "")
        parts.append(
            f"(SELECT {key}uniqCombined64Merge(visitors) AS visitors, "  # noqa: S608
            "uniqCombined64Merge(visits) AS visits, "
            f"sum(pageviews) AS pageviews FROM ({rows}){group}) AS e"
        )
    if any(m in SESSION_METRICS for m in metrics):
        rows = session_rows(q, "visit", f"{bucket}(start_time)" if bucket else "")
        parts.append(
            f"(SELECT {key}sum(sessions) AS s_visits, sum(bounces) AS s_bounces, "  # noqa: S608
            f"sum(duration) AS s_duration FROM ({rows}){group}) AS s"
        )
    join = " FULL OUTER JOIN " if bucket else " CROSS JOIN "
    using = " USING bucket" if bucket and len(parts) == 2 else ""
    return join.join(parts) + using


def aggregate(storage: Storage, q: StatsQuery, metrics: Sequence[str]) -> dict[str, Any]:
    """Each metric over the whole range, e.g. ``{"visitors": 12, "bounce_rate": 40}``."""
    metrics = check_metrics(metrics)
    columns = ", ".join(_TOTALS[m] for m in metrics)
    sql = f"{markers(q)}SELECT {columns} FROM {_sources(q, metrics)}"  # noqa: S608
    row = _rows(storage, sql, parameters(q))[0]
    return {metric: row[metric] for metric in metrics}


def timeseries(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], *, hourly: bool | None = None
) -> list[dict[str, Any]]:
    """One row per hour (ranges up to two days, or ``hourly=True``) or day, gaps filled with zeros.

    Each row is ``{"date": "2026-11-22", ...metrics}``; hourly rows read
    ``"2026-11-22 14:00:00"``. Page views count in the bucket they happened
    in, visits (with their bounce rate and duration) in the bucket they
    started in. Hourly series are limited to 31 days (744 rows).
    """
    metrics = check_metrics(metrics)
    hourly = q.hourly if hourly is None else hourly
    if hourly and q.length > timedelta(days=31):
        raise BadStatsQuery("An hourly time series may span at most 31 days; ask for days.")
    unit, step = ("toStartOfHour", "HOUR") if hourly else ("toStartOfDay", "DAY")
    shape = "%Y-%m-%d %H:00:00" if hourly else "%Y-%m-%d"
    columns = ", ".join(_TOTALS[m] for m in metrics)
    fill_start = f"{unit}(toDateTime({{start:DateTime64(3, 'UTC')}}, 'UTC'))"
    fill_end = "toDateTime({end:DateTime64(3, 'UTC')}, 'UTC')"
    sql = (
        f"{markers(q, hourly=hourly)}"  # noqa: S608
        f"SELECT formatDateTime(at, '{shape}') AS date, * EXCEPT at FROM ("
        f"SELECT toDateTime(bucket, 'UTC') AS at, {columns} FROM {_sources(q, metrics, unit)} "
        f"ORDER BY at WITH FILL FROM {fill_start} TO {fill_end} STEP INTERVAL 1 {step}"
        ") ORDER BY at"
    )
    return [_pick(row, metrics, "date") for row in _rows(storage, sql, parameters(q))]


def breakdown(
    storage: Storage,
    q: StatsQuery,
    prop: str,
    metrics: Sequence[str],
    limit: int = DEFAULT_LIMIT,
    *,
    k: int = 5,
) -> list[dict[str, Any]]:
    """The top values of ``prop`` (``event:page``, ``visit:country``... or a short name).

    Rows are ``{"page": "/x", "visitors": 9, ...}`` by visitors, most first;
    rows under ``k`` visitors are folded into one :data:`OTHER` row, which
    comes last. ``event:page`` and the event-level visit properties (region,
    city, utm_medium, utm_campaign) offer visitors, visits, pageviews and
    views_per_visit; bounce rate and duration break down by the properties a
    visit carries as a whole.
    """
    name = FILTERS.get(prop, prop)
    if name not in _LABELS:
        raise BadStatsQuery(f"Unknown property {prop!r}; use one of {', '.join(FILTERS)}.")
    metrics = check_metrics(metrics)
    limit = _limit(limit)
    # Properties of a whole visit come from the sessions (3 to 4 times fewer rows than
    # the events, and visits are then a plain count); page, region, city, UTM medium
    # and campaign only from the events.
    per_session = name in SESSION_COLUMNS
    if not per_session and any(m in SESSION_METRICS for m in metrics):
        raise BadStatsQuery(
            f"bounce_rate and visit_duration do not break down by {prop}; use visitors, visits, "
            "pageviews or views_per_visit, or a property of the whole visit (entry page, "
            "source, country, browser, os, device)."
        )
    needed = _with_needed([*metrics, "visitors"])
    column = _COLUMNS.get(name, name)
    if per_session:
        where = f"{name} != ''" if name in _SKIP_EMPTY else ""
        rows = functools.partial(session_rows, q, name, column, where=where)
        folded = _Shape(needed, _SESSION_PARTIAL, _SESSION_FINAL)
        exact = _Shape(needed, _SESSION_EXACT, _SESSION_EXACT_FINAL)
    else:
        where = " AND kind = 'pageview'" if name == "page" else ""
        where += f" AND {name} != ''" if name in _SKIP_EMPTY else ""
        rows = functools.partial(event_rows, q, name, column, where=where)
        folded = _Shape(needed, _EVENT_PARTIAL, _EVENT_FINAL)
        exact = _Shape(needed, _EVENT_EXACT, _EVENT_EXACT_FINAL)
    params = parameters(q, k=k, limit=limit)
    narrow = name in _MANY_VALUES
    return _folded(storage, q, name, _LABELS[name], rows, folded, exact, metrics, params, narrow)


class _Shape:
    """The per-value columns (``partial``) and the final columns of one way to count."""

    def __init__(
        self, needed: Sequence[str], partial: dict[str, str], finals: dict[str, str]
    ) -> None:
        chosen = [partial[m] for m in dict.fromkeys(needed) if m in partial]
        self.partial = ", ".join(chosen)
        # Each state's count: NAME_n beside NAME_state (see _merged).
        self.counts = "".join(
            f", finalizeAggregation({alias}) AS {alias.removesuffix('_state')}_n"
            for alias in (column.rsplit(" AS ", 1)[1] for column in chosen)
            if alias.endswith("_state")
        )
        self.columns = ", ".join(finals[m] for m in _ordered(needed, finals))


def _folded(
    storage: Storage,
    q: StatsQuery,
    name: str,
    label: str,
    rows: Callable[..., str],
    folded: _Shape,
    exact: _Shape,
    metrics: Sequence[str],
    params: dict[str, Any],
    narrow: bool,
) -> list[dict[str, Any]]:
    """Group ``rows`` by ``label``, fold rows under ``k`` visitors into OTHER, best first.

    With ``narrow``, only the values that can reach the top ``limit`` are read from
    the rollup (:func:`_contenders`); the answer is the same as merging all. When at least
    ``limit`` of them reach ``k`` visitors (``contenders.2``), the OTHER row
    would come after ``limit`` rows and be cut, so the ``exact`` branch counts
    each contender at once and drops those under ``k``; otherwise the
    ``folded`` branch keeps a state per value and merges the small ones into
    OTHER. Only one branch reads anything: the other's condition is a constant
    false once the contenders are known.
    """
    with_ = markers(q)
    keep = ""
    exact_branch = ""
    if with_ and narrow:
        with_ += f", {_contenders(label, rows(counts=True))} AS contenders "
        keep = "WHERE NOT contenders.2 "
        exact_branch = (
            f"SELECT value AS {name}, {exact.columns} FROM ("  # noqa: S608
            f"SELECT {label} AS value, {exact.partial} FROM ({rows()}) "
            f"WHERE contenders.2 AND has(contenders.1, {label}) GROUP BY value"
            ") WHERE visitors_n >= {k:UInt32} UNION ALL "
        )
    sql = (
        f"{with_}"  # noqa: S608
        f"SELECT * FROM ({exact_branch}"
        f"SELECT if(small, '{OTHER}', value) AS {name}, {folded.columns} FROM ("
        f"SELECT {label} AS value, {folded.partial}{folded.counts}, "
        "visitors_n < {k:UInt32} AS small "
        f"FROM ({rows()}) {keep}GROUP BY value"
        f") GROUP BY {name}) ORDER BY {name} = '{OTHER}', visitors DESC, {name} "
        "LIMIT {limit:UInt32}"
    )
    return [_pick(row, metrics, name) for row in _rows(storage, sql, params)]


_MANY_VALUES = ("page", "entry_page", "exit_page", "city", "region")
"""Properties with thousands of values, where narrowing pays for its pass.

Not the sources: a 30-day panel of them (2,000 referrer hosts on 10 million events)
merges every state in less time than the contenders pass and the merge of the
contenders take together (bench/dashboard.py).

Not the next pages (:func:`next_pages`): their rolled rows are days only (no merged
window), so a value's ``lower`` is its best single day, about a thirtieth of its
visitors over 30 days, and hundreds of values stay contenders (264 of 19,000 after
the top page on 10 million events); the extra pass over the days and today's events
then cost more than merging every state once (bench/dashboard.py)."""


def _contenders(label: str, rows: str) -> str:
    """The values that may be among the top ``limit``, and whether that list is enough.

    Every part of ``rows`` (the merged window, each later day, the raw rest)
    carries its own ``visitor_count``, so a value has between the largest part
    (``lower``) and the sum of its parts (``upper``) visitors, read without
    touching a state. When at least ``limit`` values have ``lower >= k``, the
    top ``limit`` rows all have at least ``t`` visitors, ``t`` being the
    ``limit``-th largest ``lower``, and no row of OTHER can make the cut; so only
    the values whose ``upper`` reaches ``t`` need their states merged (a dozen
    or two of 20,000 pages). Otherwise (``enough`` is false) every value is kept.
    """
    return (
        "(SELECT (arrayFilter((v, u) -> u >= t, values, uppers), enough) FROM ("  # noqa: S608
        "SELECT countIf(lower >= {k:UInt32}) >= {limit:UInt32} AS enough, "
        "arrayReverseSort(groupArray(lower))[{limit:UInt32}] AS t, "
        "groupArray(value) AS values, groupArray(upper) AS uppers FROM ("
        f"SELECT {label} AS value, sum(visitor_count) AS upper, max(visitor_count) AS lower "
        f"FROM ({rows}) GROUP BY value)))"
    )


def next_pages(
    storage: Storage, q: StatsQuery, page: str, limit: int = 10, *, k: int = 5
) -> list[dict[str, Any]]:
    """Where visitors went next from ``page``: ``[{"page": "/b", "visitors": 7, "pageviews": 9}]``.

    Read from each page view's ``prev_path`` (the same-origin referrer), with
    the same filters and the same k rule as a breakdown.
    """
    where = " AND kind = 'pageview' AND prev_path = {from_page:String}"
    rows = functools.partial(event_rows, q, "next", "path", where=where, from_page=True)
    metrics = ["visitors", "pageviews"]
    folded = _Shape(metrics, _EVENT_PARTIAL, _EVENT_FINAL)
    exact = _Shape(metrics, _EVENT_EXACT, _EVENT_EXACT_FINAL)
    params = parameters(q, k=k, limit=_limit(limit), from_page=page)
    return _folded(storage, q, "page", "key", rows, folded, exact, metrics, params, False)


def realtime(storage: Storage, site: str, now: datetime) -> dict[str, int]:
    """Visitors seen in the last 5 and the last 30 minutes before ``now``."""
    sql = (
        "SELECT uniqCombined64If(visitor_key, time >= {recent:DateTime64(3, 'UTC')}) "
        "AS last_5_minutes, "
        "uniqCombined64(visitor_key) AS last_30_minutes FROM events "
        "WHERE site = {site:String} AND time >= {start:DateTime64(3, 'UTC')} "
        "AND time <= {end:DateTime64(3, 'UTC')}"
    )
    q = StatsQuery(site, now - timedelta(minutes=30), now + timedelta(milliseconds=1))
    params = parameters(
        q, recent=(now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    )
    row = _rows(storage, sql, params)[0]
    return {
        "last_5_minutes": int(row["last_5_minutes"]),
        "last_30_minutes": int(row["last_30_minutes"]),
    }


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadStatsQuery(f"limit must be between 1 and {MAX_LIMIT}, not {limit}.")
    return limit


__all__ = [
    "BREAKDOWN_PROPERTIES",
    "EVENT_COLUMNS",
    "METRICS",
    "OTHER",
    "aggregate",
    "breakdown",
    "next_pages",
    "realtime",
    "timeseries",
]
