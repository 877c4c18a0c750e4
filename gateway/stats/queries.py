"""The dashboard's and the API's questions, each answered by ONE ClickHouse query.

Every function here is blocking and takes the :class:`~gateway.storage.Storage`;
callers on the event loop use ``await storage.run(lambda: aggregate(storage, q, metrics))``.
All arithmetic (counting, folding small rows, filling gaps) happens in
ClickHouse; Python only names the columns of the few rows that come back.

The queries are composed from declarations: the metrics and the columns they
count (:mod:`gateway.stats.metrics`), the properties (:mod:`gateway.stats.properties`),
the rows of each source (:mod:`gateway.stats.rows`) and the top-N query with
the k rule (:mod:`gateway.stats.topn`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.stats.metrics import (
    EVENTS,
    METRICS,
    SESSIONS,
    SOURCES,
    Source,
    check_metrics,
    counts,
    metric,
    offered,
)
from gateway.stats.properties import NEXT_PAGES, PROPERTIES, WHOLE_SITE
from gateway.stats.query import FILTERS, StatsQuery, property_name
from gateway.stats.rollup import markers
from gateway.stats.rows import DAY, HOUR, Unit, rows
from gateway.stats.sql import parameters
from gateway.stats.topn import OTHER, TopN
from gateway.storage import Storage
from gateway.storage.threads import thread_client

BREAKDOWN_PROPERTIES = tuple(FILTERS)
"""Every ``property`` :func:`breakdown` accepts, in Plausible's names."""

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000  # rows of one top-N question (the API pages through them)

# Each side of a totals query: its alias, and the prefix of its columns (the events'
# counts keep their names).
_SIDES = {EVENTS: ("e", ""), SESSIONS: ("s", "s_")}


def aggregate(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], *, k: int = 1
) -> dict[str, Any]:
    """Each metric over the whole range, e.g. ``{"visitors": 12, "bounce_rate": 40}``;
    every metric ``None`` when 1 to ``k - 1`` visitors are counted (:func:`withheld`)."""
    metrics = check_metrics(metrics)
    asked = _with_visitors(metrics, k)
    columns, sources = _totals(q, asked)
    sql = f"{markers(q)}SELECT {columns} FROM {sources}"  # noqa: S608
    row = _rows(storage, sql, parameters(q))[0]
    if withheld(row, k):
        return dict.fromkeys(metrics)
    return {name: row[name] for name in metrics}


def withheld(row: dict[str, Any], k: int) -> bool:
    """The k rule on a total or a bucket: whether its figures count 1 to ``k - 1``
    visitors. None at all is shown (a zero describes no one)."""
    return k > 1 and 0 < int(row.get("visitors") or 0) < k


def _with_visitors(metrics: list[str], k: int) -> list[str]:
    """``metrics`` and, for the k rule, the visitors they count."""
    return metrics if k <= 1 or "visitors" in metrics else [*metrics, "visitors"]


def timeseries(
    storage: Storage,
    q: StatsQuery,
    metrics: Sequence[str],
    *,
    hourly: bool | None = None,
    unit: Unit | None = None,
    k: int = 1,
) -> list[dict[str, Any]]:
    """One row per hour (ranges up to two days, or ``hourly=True``), day or ``unit``
    (:data:`~gateway.stats.rows.UNITS`), gaps filled with zeros.

    Each row is ``{"date": "2026-11-22", ...metrics}``; hourly rows read
    ``"2026-11-22 14:00:00"``, monthly ones ``"2026-11-01"``. Page views count
    in the bucket they happened in, visits (with their bounce rate and duration)
    in the bucket they started in. Hourly series are limited to 31 days (744 rows).
    A bucket counting 1 to ``k - 1`` visitors has every metric ``None`` and
    ``"withheld": True``.
    """
    metrics = check_metrics(metrics)
    asked = _with_visitors(metrics, k)
    if unit is None:
        unit = HOUR if (q.hourly if hourly is None else hourly) else DAY
    hourly = unit is HOUR
    if hourly and q.length > timedelta(days=31):
        raise BadStatsQuery("An hourly time series may span at most 31 days; ask for days.")
    columns, sources = _totals(q, asked, unit)
    fill_start = (
        f"toDateTime({unit.function}(toDateTime({{start:DateTime64(3, 'UTC')}}, 'UTC')), 'UTC')"
    )
    fill_end = "toDateTime({end:DateTime64(3, 'UTC')}, 'UTC')"
    sql = (
        f"{markers(q, hourly=hourly)}"  # noqa: S608
        f"SELECT formatDateTime(at, '{unit.shape}') AS date, * EXCEPT at FROM ("
        f"SELECT toDateTime(bucket, 'UTC') AS at, {columns} FROM {sources} "
        f"ORDER BY at WITH FILL FROM {fill_start} TO {fill_end} STEP INTERVAL 1 {unit.step}"
        ") ORDER BY at"
    )
    series = []
    for row in _rows(storage, sql, parameters(q)):
        if withheld(row, k):
            series.append({"date": row["date"], **dict.fromkeys(metrics), "withheld": True})
        else:
            series.append(_pick(row, metrics, "date"))
    return series


def _totals(q: StatsQuery, metrics: Sequence[str], unit: Unit | None = None) -> tuple[str, str]:
    """The columns and the FROM of a totals query: each metric from the first source that has it.

    Each source's side totals the counts its metrics need into one row, or with
    ``unit`` one row per bucket, the sides joined on it.
    """
    side = {name: metric(name).sources()[0] for name in metrics}
    key, group = (
        (f"toDateTime({unit.function}(key), 'UTC') AS bucket, ", " GROUP BY bucket")
        if unit
        else ("", "")
    )
    sides = []
    for source in (source for source in SOURCES if source in side.values()):
        alias, prefix = _SIDES[source]
        needed = counts([name for name in metrics if side[name] is source])
        totals = ", ".join(f"{c.column(source).total()} AS {prefix}{c.name}" for c in needed)
        selected = rows(q, WHOLE_SITE[source], [c.reads[source] for c in needed], unit=unit)
        sides.append(f"(SELECT {key}{totals} FROM ({selected}){group}) AS {alias}")  # noqa: S608
    columns = []
    for name in metrics:
        expression = metric(name).expression(_SIDES[side[name]][1])
        columns.append(name if expression == name else f"{expression} AS {name}")
    join = " FULL OUTER JOIN " if unit else " CROSS JOIN "
    using = " USING bucket" if unit and len(sides) == 2 else ""
    return ", ".join(columns), join.join(sides) + using


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
    rows under ``k`` visitors are folded into one :data:`~gateway.stats.topn.OTHER`
    row, which comes last. ``event:page`` and the event-level visit properties
    (region, city, utm_medium, utm_campaign) offer visitors, visits, pageviews and
    views_per_visit; bounce rate and duration break down by the properties a
    visit carries as a whole.
    """
    name = prop if prop in PROPERTIES else property_name(prop)
    metrics = check_metrics(metrics)
    limit = _limit(limit)
    declared = PROPERTIES[name]
    source = declared.dimension.source
    if any(source not in metric(m).sources() for m in metrics):
        raise BadStatsQuery(_unreadable(prop, source))
    landing = [m for m in metrics if m in ("pageviews", "views_per_visit")]
    if declared.landing_only and landing:
        # Only the landing view carries the value: the other views of its visit are not
        # in its rows (nor in the rollups'), so these would count too few.
        raise BadStatsQuery(
            f"{' and '.join(landing)} do not break down by {prop} (only a visit's landing "
            "page carries it); use visitors or visits."
        )
    top = TopN(
        q,
        declared.dimension,
        metrics,
        name,
        shown=declared.label("key"),
        narrow=declared.many_values,
    )
    found = _rows(storage, top.sql(), parameters(q, k=k, limit=limit))
    if declared.number:  # a GeoNames id is answered as a number, the folded row as text
        for row in found:
            row[name] = int(row[name]) if row[name].isdigit() else row[name]
    return [_folded(row, metrics, name, k) for row in found]


def _unreadable(prop: str, source: Source) -> str:
    """Why some metrics do not break down by ``prop``, a property of ``source``'s rows."""
    usable = offered(source)
    missing = [name for name in METRICS if name not in usable]
    whole_visit = [p.name for p in PROPERTIES.values() if p.dimension.source is SESSIONS]
    return (
        f"{' and '.join(missing)} do not break down by {prop}; use "
        f"{', '.join(usable[:-1])} or {usable[-1]}, or a property of the whole visit "
        f"({', '.join(whole_visit)})."
    )


def next_pages(
    storage: Storage, q: StatsQuery, page: str, limit: int = 10, *, k: int = 5
) -> list[dict[str, Any]]:
    """Where visitors went next from ``page``: ``[{"page": "/b", "visitors": 7, "pageviews": 9}]``.

    Read from each page view's ``prev_path`` (the same-origin referrer), with
    the same filters and the same k rule as a breakdown.
    """
    metrics = ["visitors", "pageviews"]
    top = TopN(q, NEXT_PAGES, metrics, "page")
    params = parameters(q, k=k, limit=_limit(limit), from_page=page)
    return [_folded(row, metrics, "page", k) for row in _rows(storage, top.sql(), params)]


def realtime(storage: Storage, site: str, now: datetime, *, k: int = 1) -> dict[str, int | None]:
    """Visitors seen in the last 5 and the last 30 minutes before ``now``; ``None`` for
    a count of 1 to ``k - 1``."""
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
        name: None if withheld({"visitors": row[name]}, k) else int(row[name])
        for name in ("last_5_minutes", "last_30_minutes")
    }


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadStatsQuery(f"limit must be between 1 and {MAX_LIMIT}, not {limit}.")
    return limit


def _rows(storage: Storage, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = thread_client(storage).query(sql, parameters=params)
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def _pick(row: dict[str, Any], metrics: Sequence[str], *keys: str) -> dict[str, Any]:
    return {key: row[key] for key in (*keys, *metrics)}


def _folded(row: dict[str, Any], metrics: Sequence[str], key: str, k: int) -> dict[str, Any]:
    """A breakdown row; the :data:`OTHER` row withheld when what it gathers adds up to
    1 to ``k - 1`` visitors (every other row has at least ``k``)."""
    picked = _pick(row, metrics, key)
    if row[key] == OTHER and withheld(row, k):
        picked.update(dict.fromkeys(metrics), withheld=True)
    return picked
