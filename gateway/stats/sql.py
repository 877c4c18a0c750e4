"""The SQL pieces every statistics query shares: the range, the filters, the sessions.

Two sources answer every question:

``events``
    one row per event; counts visitors (``uniqCombined64(visitor_key)``), visits
    (``uniqCombined64(session_id)``) and page views, and carries what is the same for a
    whole session (country, region, city, browser, OS, device) on every row.

``sessions_agg``
    partial per-session aggregate states (``0002_sessions.sql``), merged
    here with ``FINAL`` into entry and exit page, source, page count, bounce
    and duration. It is read directly rather than through the ``sessions``
    view, whose ``GROUP BY session_id`` over the site's whole month costs 2 to
    4 times more on 10 million events (bench/dashboard.py): ``FINAL`` merges
    only within a day's partition and reads merged parts as they are. A
    session belongs to the range its first event falls in. One difference
    from the view: a session still running at midnight whose events reached
    ClickHouse in two batches, one each side of midnight, has a partial row
    under each day (the materialized view dates each batch's part by its
    first event), and ``FINAL`` does not merge across days, so it counts as
    two visits, the second entering at its first page after midnight.

A filter on something a source does not carry becomes a ``session_id IN
(...)`` over the other source, so every filter means the same in every panel:
"the visits that ...". Values are always bound parameters (``{f_country:String}``),
never spliced into the text.
"""

from __future__ import annotations

from typing import Any

from gateway.stats.query import StatsQuery

DIRECT = "Direct / None"
"""The source of a visit without a referrer from another site (Plausible's wording)."""

OTHER = "(other)"
"""The label of the row that gathers every breakdown row under ``k`` visitors."""

UNKNOWN = "(unknown)"
"""The label of an empty location or device value (no GeoIP database, say)."""

EVENT_COLUMNS = {
    "page": "path",
    "country": "country",
    "region": "region",
    "city": "city",
    "browser": "browser",
    "os": "os",
    "device": "device",
}
"""Filters the events table answers row by row (the rest are per visit)."""

SESSION_COLUMNS = {
    "entry_page": "entry_page",
    "exit_page": "exit_page",
    "source": "source",
    "utm_source": "utm_source",
    "country": "country",
    "browser": "browser",
    "os": "os",
    "device": "device",
}
"""Filters (and breakdown properties) the finalised sessions carry."""

EVENT_ONLY_VISIT_FILTERS = ("utm_medium", "utm_campaign")
"""Visit properties only the landing event carries: filtered through its session."""

RANGE = (
    "site = {site:String} AND time >= {start:DateTime64(3, 'UTC')} "
    "AND time < {end:DateTime64(3, 'UTC')}"
)

SESSIONS = """
SELECT
    session_id,
    visitor_any AS visitor_key,
    first_time AS start_time,
    toUInt32(dateDiff('second', first_time, last_time)) AS duration,
    finalizeAggregation(entry_state) AS entry_page,
    finalizeAggregation(exit_state) AS exit_page,
    pageviews AS page_count,
    page_count <= 1 AND interactions = 0 AS bounce,
    finalizeAggregation(referrer_state) AS referrer,
    if(referrer = '', '{direct}', referrer) AS source,
    finalizeAggregation(utm_source_state) AS utm_source,
    country_any AS country,
    device_any AS device,
    browser_any AS browser,
    os_any AS os
FROM sessions_agg FINAL
WHERE site = {{site:String}}
  AND start_date >= toDate({{start:DateTime64(3, 'UTC')}})
  AND start_date <= toDate({{end:DateTime64(3, 'UTC')}})
  AND first_time >= {{start:DateTime64(3, 'UTC')}} AND first_time < {{end:DateTime64(3, 'UTC')}}
"""


def parameters(q: StatsQuery, **more: Any) -> dict[str, Any]:
    """The bound parameters of ``q``: site, range, one ``f_NAME`` per filter, and its marks."""
    values: dict[str, Any] = {"site": q.site, "start": _stamp(q.start), "end": _stamp(q.end)}
    values.update({f"f_{name}": value for name, value in q.filters.items()})
    if q.marks is not None:
        values.update(
            rolled_day=q.marks.rolled_day,
            window_day=q.marks.window_day,
            recent_upto=_stamp(q.marks.recent_upto),
        )
    values.update(more)
    return values


def _stamp(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])


def _bound(name: str) -> str:
    return "{f_" + name + ":String}"


def _events_with(condition: str) -> str:
    return f"session_id IN (SELECT session_id FROM events WHERE {RANGE} AND {condition})"  # noqa: S608


def event_where(q: StatsQuery) -> str:
    """The ``WHERE`` of an events query: the range, and every filter as "of visits that..."."""
    conditions = [RANGE]
    visit_level: list[str] = []
    for name in q.filters:
        if name in EVENT_COLUMNS:
            conditions.append(f"{EVENT_COLUMNS[name]} = {_bound(name)}")
        elif name in EVENT_ONLY_VISIT_FILTERS:
            conditions.append(_events_with(f"{name} = {_bound(name)}"))
        else:
            visit_level.append(f"{SESSION_COLUMNS[name]} = {_bound(name)}")
    if visit_level:
        conditions.append(
            f"session_id IN (SELECT session_id FROM ({sessions(q)}) "  # noqa: S608
            f"WHERE {' AND '.join(visit_level)})"
        )
    return " AND ".join(conditions)


def sessions(q: StatsQuery, *, later: str = "") -> str:
    """A subquery of the sessions that started in ``q``'s range and pass its filters.

    ``later`` (a condition) keeps only the sessions that no rollup holds:
    the rest of the range is read from the rollups.
    """
    conditions: list[str] = [later] if later else []
    for name in q.filters:
        if name in SESSION_COLUMNS:
            conditions.append(f"{SESSION_COLUMNS[name]} = {_bound(name)}")
        elif name == "page":
            conditions.append(_events_with(f"kind = 'pageview' AND path = {_bound(name)}"))
        else:
            conditions.append(_events_with(f"{name} = {_bound(name)}"))
    text = SESSIONS.format(direct=DIRECT)
    return text + "".join(f"  AND {condition}\n" for condition in conditions)
