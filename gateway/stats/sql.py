"""The raw rows of each source for a question: its range and filters, and the finalised sessions.

``events`` holds one row per event, with what is the same for a whole visit
(country, region, city, browser, OS, device) on every row. The sessions come
from ``sessions_agg`` (``0002_sessions.sql``), whose partial per-session states are
merged here with ``FINAL`` into entry and exit page, source, page count, bounce
and duration: read directly rather than through the ``sessions`` view, whose
``GROUP BY session_id`` over a whole month is much slower, as ``FINAL`` merges
only within a day's partition. A session belongs to the range its first event
falls in. One difference from the view: a session still running at midnight
whose events reached ClickHouse in two batches, one each side of midnight, has a
partial row under each day (the materialized view dates each batch's part by its
first event), and ``FINAL`` does not merge across days, so it counts as two
visits, the second entering at its first page after midnight.

A filter on something a source does not carry becomes a ``session_id IN (...)``
over the other source, so every filter means the same in every panel: "the
visits that ...". Values are always bound parameters (``{f_country:String}``),
never spliced into the text (:mod:`gateway.stats.filters`); column names come from
:data:`~gateway.stats.properties.PROPERTIES` only.
"""

from __future__ import annotations

from typing import Any

from gateway.stats.goals import goals_condition
from gateway.stats.properties import PROPERTIES, Property
from gateway.stats.query import StatsQuery

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
    finalizeAggregation(utm_source_state) AS utm_source,
    country_any AS country,
    device_any AS device,
    browser_any AS browser,
    os_any AS os
FROM sessions_agg FINAL
WHERE site = {site:String}
  AND start_date >= toDate({start:DateTime64(3, 'UTC')})
  AND start_date <= toDate({end:DateTime64(3, 'UTC')})
  AND first_time >= {start:DateTime64(3, 'UTC')} AND first_time < {end:DateTime64(3, 'UTC')}
"""

# ``rolled_day`` and ``recent_upto`` are where the rollups end (gateway.stats.rollup.markers).
LATER_EVENTS = "toDate(time) > rolled_day AND time >= recent_upto"
"""The events that no rollup holds: after the rolled days, from the recent rows' cut on."""

LATER_VISITS = (
    "start_date > rolled_day AND first_time >= recent_upto "
    "AND (recent_upto = toDateTime64(0, 3, 'UTC') OR session_id IN (SELECT session_id "
    "FROM sessions_agg WHERE site = {site:String} AND start_date > rolled_day "
    "AND first_time >= recent_upto))"
)
"""The visits that no rollup holds: started after the rolled days, from the cut on.

A visit started at the cut or later when its merged ``first_time`` is, which
``FINAL`` knows only after reading and merging every visit of the day. A visit
that did has all its rows at the cut or later, so the ids of the rows that are,
read without merging, narrow the merged read to those visits through the
table's key (not needed when everything is read raw)."""


def parameters(q: StatsQuery, **more: Any) -> dict[str, Any]:
    """The bound parameters of ``q``: site, range, one ``f_NAME`` per filter, and its marks."""
    values: dict[str, Any] = {"site": q.site, "start": _stamp(q.start), "end": _stamp(q.end)}
    for name, kept in q.conditions.items():
        values.update(kept.parameters(f"f_{name}"))
    if q.goals is not None:
        values.update(goals_condition(q.goals)[1])
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


def _equals(q: StatsQuery, column: str, prop: Property) -> str:
    """The filter on ``prop``, compared with the value shown for stored ``column``."""
    return q.conditions[prop.name].sql(prop.label(column), f"f_{prop.name}")


def _visits_carrying(q: StatsQuery, prop: Property) -> str:
    """The visits with an event in the range that carries the filtered value of ``prop``."""
    carried = _equals(q, prop.events, prop)
    if prop.pageviews_only:
        carried = f"kind = 'pageview' AND {carried}"
    return f"session_id IN (SELECT session_id FROM events WHERE {RANGE} AND {carried})"  # noqa: S608


def _visits_converting(q: StatsQuery) -> str:
    """The visits with an event in the range that reached one of ``q``'s goals."""
    reached = goals_condition(q.goals or ())[0]
    return f"session_id IN (SELECT session_id FROM events WHERE {RANGE} AND {reached})"  # noqa: S608


def event_where(q: StatsQuery, *, unrolled: bool = False) -> str:
    """The ``WHERE`` of an events query: the range, and every filter as "of visits that...".

    ``unrolled`` keeps only the events that no rollup holds (:data:`LATER_EVENTS`).
    """
    conditions = [RANGE]
    of_visits: list[str] = []
    for name in q.filters:
        prop = PROPERTIES[name]
        if prop.events and not prop.landing_only:
            conditions.append(_equals(q, prop.events, prop))
        elif prop.events:
            conditions.append(_visits_carrying(q, prop))
        else:
            of_visits.append(_equals(q, prop.sessions, prop))
    if of_visits:
        conditions.append(
            f"session_id IN (SELECT session_id FROM ({sessions(q)}) "  # noqa: S608
            f"WHERE {' AND '.join(of_visits)})"
        )
    if q.goals is not None:  # the events that reached a goal, as a page filter keeps pages
        conditions.append(goals_condition(q.goals)[0])
    if unrolled:
        conditions.append(LATER_EVENTS)
    return " AND ".join(conditions)


def sessions(q: StatsQuery, *, unrolled: bool = False) -> str:
    """A subquery of the sessions that started in ``q``'s range and pass its filters.

    ``unrolled`` keeps only the sessions that no rollup holds (:data:`LATER_VISITS`).
    """
    conditions = [LATER_VISITS] if unrolled else []
    named = ""
    if "source" in q.filters:  # the source's name, only when filtered on: the list is long
        named = f"    , {PROPERTIES['source'].shown_sql('referrer')} AS source\n"
    for name in q.filters:
        prop = PROPERTIES[name]
        conditions.append(
            _equals(q, prop.sessions, prop) if prop.sessions else _visits_carrying(q, prop)
        )
    if q.goals is not None:
        conditions.append(_visits_converting(q))
    select, where = SESSIONS.split("FROM sessions_agg FINAL")
    conditions_sql = "".join(f"  AND {condition}\n" for condition in conditions)
    return f"{select}{named}FROM sessions_agg FINAL{where}{conditions_sql}"
