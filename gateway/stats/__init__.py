"""Aggregated statistics for the dashboard and the stats API: never an individual.

The interface the dashboard pages and the JSON API both use:

    from gateway.stats import StatsQuery, period_range, aggregate, breakdown, ...

    start, end = period_range("7d", now)              # or "day", "yesterday", "30d",
    q = StatsQuery(site, start, end, {"country": "GB"})  # "month", "custom" + date=A,B
    q.previous()                                      # the period just before, same length
    q.where(page="/blog")                             # one more filter

    totals = await storage.run(lambda: aggregate(storage, q, METRICS))
    # {"visitors": 12, "visits": 15, "pageviews": 40, "views_per_visit": 2.67,
    #  "bounce_rate": 40, "visit_duration": 78}
    timeseries(storage, q, ["visitors", "pageviews"])
    # [{"date": "2026-11-21", "visitors": 4, ...}, ...] hourly up to two days, gaps filled
    k = settings.stats_min_visitors
    breakdown(storage, q, "event:page", ["visitors", "pageviews"], limit=10, k=k)
    # [{"page": "/blog", "visitors": 9, "pageviews": 12}, {"page": OTHER, ...}]
    next_pages(storage, q, "/blog", limit=10, k=...)  # [{"page": "/pricing", "visitors": 5, ...}]
    realtime(storage, site, now)                      # {"last_5_minutes": 2, "last_30_minutes": 9}
    consent_figures(storage, q, settings.consent_categories)
    # {"shown", "accepted", "rejected", "custom", "withdrawn", "choices", "acceptance_rate",
    #  "rejection_rate", "custom_rate", "gpc_share", "opt_in": {"analytics": 62.5, ...}}

Every function is blocking (run it with ``storage.run``) and runs exactly one
parameterised ClickHouse query. Filters and breakdown properties use the short
names of :data:`FILTERS` (``page``, ``entry_page``, ``exit_page``, ``source``,
``referrer``, ``utm_source``, ``utm_medium``, ``utm_campaign``, ``country``,
``region``, ``city``, ``region_code``, ``city_id``, ``browser``, ``browser_version``,
``os``, ``os_version``, ``device``, ``hostname``) or Plausible's (``event:page``,
``visit:country``...); a filter is a value to equal or a
:class:`~gateway.stats.filters.Filter` (Plausible's
operators, from :func:`parse_filters`). Values read as Plausible names them
(``Google``, ``Chrome``, ``Desktop``: :mod:`gateway.stats.names`). Bad input
raises :class:`~gateway.exceptions.BadStatsQuery`.

The k rule: a breakdown or navigation row counting fewer than ``k`` visitors
(``CG_STATS_MIN_VISITORS``, default 5) is folded into one row labelled
:data:`OTHER`, so no row describes one identifiable person; a total, a time
bucket or a real-time count of 1 to ``k - 1`` visitors is ``None`` (pass ``k=``).
Goals, custom events, downloads and broken links are in ``conversions``, the
goals themselves in ``goals``, funnels in ``funnels`` (their finished days kept
by ``funnel_days``), the admins' dated notes in ``annotations``.

``api`` serves the same numbers as Plausible's Stats API v1 under
``/api/v1/stats/`` (parameters read by ``v1``, Plausible's time on page timed
by ``time_on_page``) and its v2 query at ``/api/v2/query`` (read by ``v2``,
answered by ``v2_answer``) on the admin listener, with bearer tokens from
``tokens`` and the OpenAPI document of ``openapi``.

A range that starts more than a month back is answered from the anonymous history
(daily counts kept 25 months, every row at or above k): ``history_rollup`` writes
it, ``history`` reads it, ``history_api`` answers the API from it.
"""

from __future__ import annotations

from gateway.stats.consent import consent_figures
from gateway.stats.metrics import METRICS
from gateway.stats.properties import DIRECT, UNKNOWN
from gateway.stats.queries import (
    BREAKDOWN_PROPERTIES,
    aggregate,
    breakdown,
    next_pages,
    realtime,
    timeseries,
)
from gateway.stats.query import FILTERS, PERIODS, StatsQuery, parse_filters, period_range
from gateway.stats.topn import OTHER

__all__ = [
    "BREAKDOWN_PROPERTIES",
    "DIRECT",
    "FILTERS",
    "METRICS",
    "OTHER",
    "PERIODS",
    "UNKNOWN",
    "StatsQuery",
    "aggregate",
    "breakdown",
    "consent_figures",
    "next_pages",
    "parse_filters",
    "period_range",
    "realtime",
    "timeseries",
]
