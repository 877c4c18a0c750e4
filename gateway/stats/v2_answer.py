"""The answer to a v2 query once it is read: totals, a time series, goals or a breakdown,
in the requested order, paginated, with the query echoed as Plausible echoes it.

:mod:`gateway.stats.v2` reads and checks the body; :mod:`gateway.stats.api` routes it
here. A withheld figure (the k rule) is ``null`` with ``"withheld": true`` on its row,
and the folded ``(other)`` row stays last whatever the order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gateway.stats import v2
from gateway.stats.conversions import (
    converted_aggregate,
    converted_breakdown,
    converted_timeseries,
    goal_breakdown,
)
from gateway.stats.queries import MAX_LIMIT
from gateway.stats.query import StatsQuery, property_name
from gateway.stats.topn import OTHER
from gateway.storage import Storage

Row = dict[str, Any]


async def answer(
    storage: Storage,
    q: StatsQuery,
    body: dict[str, Any],
    metrics: list[str],
    dimensions: list[str],
    k: int,
) -> dict[str, Any]:
    """The response body for ``body``, already read into ``q``, ``metrics`` and
    ``dimensions``: ``{"results": [...], "meta": {...}, "query": {...}}``."""
    order = v2.order_of(body.get("order_by"), metrics, dimensions)
    limit, offset = v2.pagination_of(body.get("pagination"))
    include = v2.include_of(body.get("include"))
    meta: dict[str, Any] = {}
    results: list[Row]
    if not dimensions:
        totals = await storage.run(lambda: converted_aggregate(storage, q, metrics, k=k))
        results = [{"metrics": [totals[m] for m in metrics], "dimensions": []}]
        if any(totals[m] is None for m in metrics):
            results[0]["withheld"] = True
    elif dimensions[0] in v2.TIME_DIMENSIONS:
        unit = v2.unit_of(dimensions[0])
        series = await storage.run(
            lambda: converted_timeseries(storage, q, metrics, unit=unit, k=k)
        )
        results = [
            {"metrics": [row[m] for m in metrics], "dimensions": [row["date"]], **_flag(row)}
            for row in series
            if row.get("withheld") or any(row[m] for m in metrics)
        ]
        if include.get("time_labels"):
            meta["time_labels"] = v2.time_labels(q, unit.step.lower())
    elif dimensions[0] == v2.GOAL_DIMENSION:
        goals = await storage.run(lambda: goal_breakdown(storage, q, metrics, k=k))
        results = [
            {"metrics": [row[m] for m in metrics], "dimensions": [row["goal"]], **_flag(row)}
            for row in goals
        ]
        order = order or [(metrics[0], True)]
    else:
        prop = property_name(dimensions[0])
        rows = await storage.run(
            lambda: converted_breakdown(storage, q, prop, metrics, MAX_LIMIT, k=k)
        )
        results = [
            {"metrics": [row[m] for m in metrics], "dimensions": [row[prop]], **_flag(row)}
            for row in rows
        ]
        order = order or [(metrics[0], True)]
    names = [*metrics, *dimensions]
    for name, descending in reversed(order):
        at = names.index(name)
        results.sort(
            key=lambda r: _sortable((r["metrics"] + r["dimensions"])[at]), reverse=descending
        )
    results.sort(key=lambda r: r["dimensions"] == [OTHER])  # the folded row stays last
    if include.get("total_rows"):
        meta["total_rows"] = len(results)
    echo = {
        "site_id": q.site,
        "metrics": metrics,
        "date_range": [q.start.isoformat(), (q.end - timedelta(milliseconds=1)).isoformat()],
        "filters": body.get("filters") or [],
        "dimensions": dimensions,
        "order_by": [[name, "desc" if down else "asc"] for name, down in order],
        "include": include,
        "pagination": {"limit": limit, "offset": offset},
    }
    return {"results": results[offset : offset + limit], "meta": meta, "query": echo}


def _sortable(value: Any) -> tuple[bool, Any]:
    """A sort key where a withheld ``None`` goes after every figure in descending order."""
    return (value is not None, value if value is not None else 0)


def _flag(row: Row) -> Row:
    return {"withheld": True} if row.get("withheld") else {}
