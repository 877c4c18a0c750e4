"""Plausible's Stats API v1: its parameters (metrics, interval, pages), the compared
change, the page breakdown's visit figures, read by the entry page as v1 reads them,
and ``time_on_page`` (:mod:`gateway.stats.time_on_page`) beside the other metrics.

The endpoints in :mod:`gateway.stats.api` use these; bad values raise
:class:`~gateway.exceptions.BadStatsQuery` naming the parameter and what it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.stats.metrics import METRICS
from gateway.stats.queries import MAX_LIMIT, breakdown
from gateway.stats.query import StatsQuery
from gateway.stats.rows import UNITS, Unit
from gateway.stats.time_on_page import METRIC as TIME_ON_PAGE
from gateway.stats.time_on_page import time_on_page, times_on_pages
from gateway.stats.topn import OTHER
from gateway.storage import Storage

IGNORED = frozenset({"with_imported"})
"""Parameters Plausible documents that change nothing here (there is no imported data)."""

PLANNED_METRICS = ("scroll_depth",)
"""Plausible's metrics this API does not offer yet: a question for them is a 400 saying so."""

INTERVALS = {"date": "day", "day": "day", "hour": "hour", "month": "month"}
"""The ``interval`` values (``date`` is v1's name, ``day`` v2's) and the unit each means."""

MAX_ROWS = MAX_LIMIT
"""A breakdown's ``limit`` times its ``page`` may reach this many rows, no more."""


def metric_names(params: Mapping[str, str]) -> list[str]:
    """The ``metrics`` asked for (default ``visitors``), a planned one refused by name."""
    text = params.get("metrics", "visitors")
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name in PLANNED_METRICS:
            raise BadStatsQuery(
                f"The metric {name!r} is not supported yet. Use {', '.join(METRICS)}, events, "
                "or conversion_rate with a goal filter."
            )
    return names


def untimed(metrics: list[str], where: str) -> list[str]:
    """``metrics``, or a 400 when they ask for time on page where it is not offered."""
    if TIME_ON_PAGE in metrics:
        raise BadStatsQuery(
            f"{TIME_ON_PAGE} is not offered by {where}: ask the aggregate or a breakdown by "
            "event:page for it."
        )
    return metrics


Totals = Callable[..., dict[str, Any]]
"""An aggregate's figures: ``totals(storage, q, metrics, k=k)``."""


def timed_aggregate(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], totals: Totals, *, k: int
) -> dict[str, Any]:
    """``totals`` (:func:`~gateway.stats.queries.aggregate` or one like it) with
    ``time_on_page`` among its metrics, withheld with the others when they count 1 to
    ``k - 1`` visitors."""
    others = [m for m in metrics if m != TIME_ON_PAGE]
    figures = totals(storage, q, others or ["visitors"], k=k)
    if TIME_ON_PAGE not in metrics:
        return figures
    withheld = all(value is None for value in figures.values())
    timed = None if withheld else time_on_page(storage, q)
    return {m: timed if m == TIME_ON_PAGE else figures[m] for m in metrics}


def interval_unit(text: str) -> Unit | None:
    """The time series' bucket for ``interval`` (None: hours up to two days, days beyond)."""
    if not text:
        return None
    if text not in INTERVALS:
        raise BadStatsQuery(
            f"Unknown interval {text!r}; use one of {', '.join(INTERVALS)} (by default hours "
            "up to two days, days beyond)."
        )
    return UNITS[INTERVALS[text]]


def whole_number(text: str, name: str) -> int:
    """``text`` as a whole number, or a 400 naming parameter ``name``."""
    try:
        return int(text)
    except ValueError:
        raise BadStatsQuery(f"{name}={text!r} is not a whole number.") from None


def page_window(limit: int, page: int) -> tuple[int, int]:
    """The first and last (excluded) row of ``page`` (from 1) of ``limit`` rows."""
    if not 1 <= limit <= 1000:
        raise BadStatsQuery(f"limit must be between 1 and 1000, not {limit}.")
    if page < 1 or limit * page > MAX_ROWS:
        raise BadStatsQuery(
            f"page must be at least 1, and limit times page at most {MAX_ROWS}, not {page}."
        )
    return limit * (page - 1), limit * page


def change(metric: str, now: float, before: float) -> float | int | None:
    """Plausible's ``change``: percent for counts, points for the bounce and conversion rates."""
    if metric == "conversion_rate":
        return round(now - before, 1)
    if metric == "bounce_rate":
        return None if before == 0 and now == 0 else round(now - before)
    if before == 0:
        return 100 if now else 0
    return round((now - before) / before * 100)


ENTRY_METRICS = ("bounce_rate", "visit_duration")
"""What a v1 page breakdown reads from the visits that entered on each page."""


def page_breakdown(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], limit: int, *, k: int
) -> list[dict[str, Any]]:
    """A breakdown by page whose bounce rate and visit duration are those of the visits
    that entered on it, as Plausible's v1 gives them; ``None`` (withheld) for a page
    that fewer than ``k`` visitors entered on, and for the ``(other)`` row. Its
    ``time_on_page`` is ``None`` for ``(other)`` and for a page never left for another."""
    timed = TIME_ON_PAGE in metrics
    metrics = [m for m in metrics if m != TIME_ON_PAGE]
    rows = _entered(storage, q, metrics, limit, k=k)
    if timed:
        pages = [row["page"] for row in rows if row["page"] != OTHER]
        times = times_on_pages(storage, q, pages) if pages else {}
        for row in rows:
            row[TIME_ON_PAGE] = times.get(row["page"])
    return rows


def _entered(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], limit: int, *, k: int
) -> list[dict[str, Any]]:
    entry = [m for m in metrics if m in ENTRY_METRICS]
    others = [m for m in metrics if m not in ENTRY_METRICS] or ["visitors"]
    rows = breakdown(storage, q, "page", others, limit, k=k)
    if not entry:
        return rows
    entered = breakdown(storage, q, "entry_page", ["visitors", *entry], MAX_LIMIT, k=k)
    by_page = {row["entry_page"]: row for row in entered if row["entry_page"] != OTHER}
    return [
        {
            "page": row["page"],
            **{m: row[m] if m in others else by_page.get(row["page"], {}).get(m) for m in metrics},
        }
        for row in rows
    ]
