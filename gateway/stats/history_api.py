"""The stats API's answers from the anonymous history (:mod:`gateway.stats.history`).

:mod:`gateway.stats.api` hands a question here when its range starts beyond the
events' month, or when it compares with the year before. Every answer carries a
``history`` object saying where its figures come from, up to which day, and that
its ``visitors`` are the sum of each day's unique visitors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.stats import history
from gateway.stats.query import StatsQuery
from gateway.stats.rows import Unit
from gateway.stats.v1 import change
from gateway.storage import Storage

COMPARE = ("previous_period", "year")
"""The ``compare`` values: the period just before, or the same period a year before."""


def aggregate(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], compare: str
) -> dict[str, Any]:
    """The totals of ``q`` (ending with the history), compared as ``compare`` asks."""
    history.check(q, metrics)
    q = history.clipped(storage, q)
    now = history.aggregate(storage, q, metrics)
    results: dict[str, dict[str, Any]] = {m: {"value": v} for m, v in now.items()}
    if compare:
        earlier = history.year_before(q) if compare == "year" else q.previous()
        before = history.aggregate(storage, earlier, metrics)
        for metric, value in before.items():
            current = now[metric]
            both = current is not None and value is not None
            results[metric]["change"] = change(metric, current, value) if both else None
            results[metric]["comparison_value"] = value
    return {"results": results, "history": history.coverage(storage, q)}


def timeseries(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], unit: Unit | None
) -> dict[str, Any]:
    """``metrics`` per day or month over ``q``, from the history."""
    rows = history.timeseries(storage, q, metrics, unit)
    return {"results": rows, "history": history.coverage(storage, q)}


def breakdown(
    storage: Storage, q: StatsQuery, prop: str, metrics: Sequence[str], limit: int, *, key: str
) -> dict[str, Any]:
    """The top values of ``prop`` over ``q``, from the history, each under ``key``."""
    rows = history.breakdown(storage, q, prop, metrics, limit)
    rows = [{key if name == prop else name: value for name, value in r.items()} for r in rows]
    return {"results": rows, "history": history.coverage(storage, q)}


def refuse(what: str) -> BadStatsQuery:
    """The 400 for a kind of question the history cannot answer (goals, v2)."""
    return BadStatsQuery(
        f"{what} cannot be answered for a range that starts more than {history.RAW_DAYS} days "
        "ago: the anonymous history keeps totals and breakdowns only; ask the aggregate, "
        "timeseries or breakdown endpoints of /api/v1/stats."
    )
