"""What marketing measures: goals and their conversion rates, custom events and their
props, downloads and broken links, read from the ``events`` rows of a question.

Custom events are kept a month with the rest of the events and the rollups do not
hold them, so these questions read the raw custom events (a projection keeps them
apart, migration 0017), with the same range and filters as every panel
(:func:`gateway.stats.sql.event_where`); page goals merge the page rollups.

The k rule holds on every figure: a goal reached by fewer than ``k`` visitors keeps
its row (admins named it) with its figures withheld (``None`` and
``"withheld": True``); a value of a breakdown (an event name, a prop value, a URL)
that fewer than ``k`` visitors share is folded into :data:`OTHER`, whose own
figures are withheld when the fold is still under ``k``.

A question with a goal filter (:attr:`~gateway.stats.query.StatsQuery.goals`) may
also ask for ``conversion_rate`` in its totals, time series and breakdowns
(:func:`converted_aggregate` and its siblings): the visitors who reached a goal
over the visitors of the same question without the goal filter, per bucket or
value, as Plausible gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.settings_analytics import Goal
from gateway.stats.filters import MAX_PATTERNS, Clause, Filter, Match, wildcard_regex
from gateway.stats.goals import goal_condition, list_goals
from gateway.stats.properties import PROPERTIES
from gateway.stats.queries import aggregate, breakdown, timeseries
from gateway.stats.query import StatsQuery, property_name
from gateway.stats.rollup import markers
from gateway.stats.rows import Unit, rows
from gateway.stats.sql import event_where, parameters
from gateway.stats.topn import OTHER
from gateway.storage import Storage
from gateway.storage.threads import thread_client

DOWNLOAD = "File Download"
NOT_FOUND = "404"
OUTBOUND = "Outbound Link: Click"
MAX_LINKING = 5  # pages listed as linking to one broken link
CONVERSION_RATE = "conversion_rate"


def withhold(row: dict[str, Any], figures: Sequence[str], visitors: int, k: int) -> dict[str, Any]:
    """``row`` with ``figures`` set to ``None`` and ``"withheld": True`` when ``visitors``
    (the distinct visitors the row counts) is 1 to ``k - 1``: a zero describes no one."""
    if 0 < visitors < k:
        row.update(dict.fromkeys(figures), withheld=True)
    return row


def conversion_rate(reached: int, total: int) -> float:
    """Percent of ``total`` visitors who reached a goal, to one decimal (Plausible's)."""
    return round(100 * reached / total, 1) if total else 0.0


def goal_figures(
    storage: Storage, q: StatsQuery, goals: Sequence[Goal], *, k: int
) -> list[dict[str, Any]]:
    """Each goal's visitors, events and conversion rate (over all visitors of ``q``).

    ``[{"goal": "Visit /apply*", "visitors": 9, "events": 12, "conversion_rate": 7.5}]``

    Three short queries rather than one long one: the visitors from the rollups, the
    page goals from the page rows (rolled up where the rollups serve ``q``: a merge of
    the matching pages' states), the event goals from the custom events alone (the
    ``custom_events`` projection, migration 0017).
    """
    if not goals:
        return []
    total = int(aggregate(storage, q, ["visitors"])["visitors"] or 0)
    answer = []
    for goal, (visitors, events) in zip(goals, goal_reach(storage, q, goals), strict=True):
        shown: dict[str, Any] = {
            "goal": goal.name,
            "visitors": visitors,
            "events": events,
            "conversion_rate": conversion_rate(visitors, total),
        }
        withhold(shown, ("visitors", "events", "conversion_rate"), visitors, k)
        if total < k:
            withhold(shown, ("conversion_rate",), total, k)
        answer.append(shown)
    return answer


def goal_reach(storage: Storage, q: StatsQuery, goals: Sequence[Goal]) -> list[tuple[int, int]]:
    """The visitors and events (page views for a page goal) that reached each goal."""
    reached = {**_page_goals(storage, q, goals), **_event_goals(storage, q, goals)}
    return [reached[i] for i in range(len(goals))]


def _page_goals(
    storage: Storage, q: StatsQuery, goals: Sequence[Goal]
) -> dict[int, tuple[int, int]]:
    """Visitors and page views of each page goal (by its index in ``goals``)."""
    pages = [(i, goal) for i, goal in enumerate(goals) if goal.kind == "page"]
    if not pages:
        return {}
    values = parameters(q)
    columns, matches = [], []
    for i, goal in pages:
        values[f"pg{i}"] = wildcard_regex(goal.target)
        matched = f"match(key, {{pg{i}:String}})"
        matches.append(matched)
        columns += [f"uniqCombined64MergeIf(visitors, {matched})", f"sumIf(pageviews, {matched})"]
    page = PROPERTIES["page"].dimension
    # The WHERE reaches each part's read, so only the matching pages' states are read.
    sql = (
        f"{markers(q)}SELECT {', '.join(columns)} "  # noqa: S608 (declared names only)
        f"FROM ({rows(q, page, ['visitors', 'pageviews'])}) WHERE {' OR '.join(matches)}"
    )
    row = thread_client(storage).query(sql, parameters=values).result_rows[0]
    return {i: (int(row[2 * n]), int(row[2 * n + 1])) for n, (i, _) in enumerate(pages)}


def _event_goals(
    storage: Storage, q: StatsQuery, goals: Sequence[Goal]
) -> dict[int, tuple[int, int]]:
    """Visitors and events of each event goal (by its index in ``goals``), read from the
    custom events of the goals' names only."""
    named = [(i, goal) for i, goal in enumerate(goals) if goal.kind == "event"]
    if not named:
        return {}
    values = parameters(q, goal_names=sorted({goal.target for _, goal in named}))
    columns = []
    for i, goal in named:
        condition, bound = goal_condition(goal, f"g{i}")
        values.update(bound)
        columns += [f"uniqCombined64If(visitor_key, {condition})", f"countIf({condition})"]
    sql = (
        f"SELECT {', '.join(columns)} FROM events "  # noqa: S608 (declared names only)
        f"WHERE {event_where(q)} AND kind = 'custom' AND name IN {{goal_names:Array(String)}}"
    )
    row = thread_client(storage).query(sql, parameters=values).result_rows[0]
    return {i: (int(row[2 * n]), int(row[2 * n + 1])) for n, (i, _) in enumerate(named)}


def event_rows(
    storage: Storage,
    q: StatsQuery,
    *,
    label: str,
    key: str,
    name: str | None = None,
    limit: int = 10,
    k: int,
    linking: bool = False,
    pageviews: bool = False,
) -> list[dict[str, Any]]:
    """Custom events grouped by ``key`` (``"name"`` or ``"prop"``), named ``label`` in
    each row: ``[{label: value, "visitors": 3, "events": 5}, ...]``, most visitors first.

    ``name`` narrows to one event; ``key="prop"`` groups by its prop ``label`` (a
    bound map key). ``linking`` adds each row's ``linked_from``: the pages of the
    site the visitors came from (a broken link's referring pages). ``pageviews``
    counts page views too, as events named ``pageview`` (Plausible's API does).
    """
    values = parameters(q, k=k, limit=min(max(limit, 1), 1000))
    kinds = "kind IN ('custom', 'pageview')" if pageviews else "kind = 'custom'"
    where = f"{event_where(q)} AND {kinds}"
    if name is not None:
        where += " AND name = {event_name:String}"
        values["event_name"] = name
    if key == "prop":
        value = "props[{prop_key:String}]"
        where += " AND mapContains(props, {prop_key:String})"
        values["prop_key"] = label
    else:
        value = "if(kind = 'pageview', 'pageview', name)" if pageviews else "name"
    extra = f", groupUniqArrayIf({MAX_LINKING})(prev_path, prev_path != '')" if linking else ""
    sql = (
        f"WITH shown AS (SELECT {value} AS v FROM events WHERE {where} GROUP BY v "  # noqa: S608
        "HAVING uniqCombined64(visitor_key) >= {k:UInt32} "
        "ORDER BY uniqCombined64(visitor_key) DESC, v LIMIT {limit:UInt32}) "
        f"SELECT if({value} IN shown, {value}, {{other:String}}) AS label, "
        f"uniqCombined64(visitor_key) AS visitors, count() AS events{extra} "
        f"FROM events WHERE {where} GROUP BY label "
        "ORDER BY label = {other:String}, visitors DESC, label"
    )
    values["other"] = OTHER
    rows = thread_client(storage).query(sql, parameters=values).result_rows
    answer = []
    for row in rows:
        shown: dict[str, Any] = {label: row[0], "visitors": int(row[1]), "events": int(row[2])}
        if linking:
            shown["linked_from"] = sorted(row[3]) if row[0] != OTHER else []
        answer.append(withhold(shown, ("visitors", "events"), int(row[1]), k))
    return answer


def custom_events(
    storage: Storage, q: StatsQuery, *, k: int, limit: int = 10
) -> list[dict[str, Any]]:
    """Visitors and events per custom event name (downloads, 404s and outbound clicks too)."""
    return event_rows(storage, q, label="name", key="name", k=k, limit=limit)


def event_props(
    storage: Storage, q: StatsQuery, event: str, prop: str, *, k: int, limit: int = 10
) -> list[dict[str, Any]]:
    """One custom event's visitors and events per value of its prop ``prop``."""
    return event_rows(storage, q, label=prop, key="prop", name=event, k=k, limit=limit)


def event_prop_keys(
    storage: Storage, q: StatsQuery, event: str, *, k: int, limit: int = 20
) -> list[str]:
    """The props custom event ``event`` carries, each sent by at least ``k`` visitors (a
    key only one visitor sent, through the beacon, says something about them)."""
    values = parameters(q, k=k, limit=limit)
    values["event_name"] = event
    sql = (
        "SELECT key FROM events ARRAY JOIN mapKeys(props) AS key "  # noqa: S608
        f"WHERE {event_where(q)} AND kind = 'custom' AND name = {{event_name:String}} "
        "GROUP BY key HAVING uniqCombined64(visitor_key) >= {k:UInt32} "
        "ORDER BY key LIMIT {limit:UInt32}"
    )
    return [str(row[0]) for row in thread_client(storage).query(sql, parameters=values).result_rows]


def downloads(storage: Storage, q: StatsQuery, *, k: int, limit: int = 10) -> list[dict[str, Any]]:
    """Files downloaded, by URL."""
    return event_rows(storage, q, label="url", key="prop", name=DOWNLOAD, k=k, limit=limit)


def broken_links(
    storage: Storage, q: StatsQuery, *, k: int, limit: int = 10
) -> list[dict[str, Any]]:
    """Paths answered 404, each with the site's pages that linked to it."""
    return event_rows(
        storage, q, label="path", key="prop", name=NOT_FOUND, k=k, limit=limit, linking=True
    )


def _asked(q: StatsQuery, metrics: Sequence[str]) -> tuple[list[str], bool]:
    """The metrics to count for ``metrics`` (``visitors`` among them for a conversion rate),
    and whether a conversion rate is asked; one without a goal filter is refused."""
    rate = CONVERSION_RATE in metrics
    if rate and q.goals is None:
        raise BadStatsQuery(
            "The metric conversion_rate needs a goal: add filters=event:goal==NAME, or break "
            "down by event:goal."
        )
    counted = [m for m in metrics if m != CONVERSION_RATE]
    return (counted if not rate or "visitors" in counted else [*counted, "visitors"]), rate


def _rate(reached: int | None, total: int | None) -> float | None:
    """A conversion rate, withheld (``None``) when either count is."""
    return None if reached is None or total is None else conversion_rate(reached, total)


def converted_aggregate(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], *, k: int
) -> dict[str, Any]:
    """:func:`~gateway.stats.queries.aggregate`, with ``conversion_rate`` when asked."""
    counted, rate = _asked(q, metrics)
    now = aggregate(storage, q, counted, k=k)
    if rate:
        total = aggregate(storage, replace(q, goals=None), ["visitors"], k=k)["visitors"]
        now[CONVERSION_RATE] = _rate(now["visitors"], total)
    return {m: now[m] for m in metrics}


def converted_timeseries(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], *, unit: Unit | None, k: int
) -> list[dict[str, Any]]:
    """:func:`~gateway.stats.queries.timeseries`, with each bucket's ``conversion_rate``."""
    counted, rate = _asked(q, metrics)
    series = timeseries(storage, q, counted, unit=unit, k=k)
    if rate:
        totals = timeseries(storage, replace(q, goals=None), ["visitors"], unit=unit, k=k)
        for row, total in zip(series, totals, strict=True):
            row[CONVERSION_RATE] = _rate(row["visitors"], total["visitors"])
    return [{"date": row["date"], **{m: row[m] for m in metrics}, **_flag(row)} for row in series]


def converted_breakdown(
    storage: Storage, q: StatsQuery, prop: str, metrics: Sequence[str], limit: int, *, k: int
) -> list[dict[str, Any]]:
    """:func:`~gateway.stats.queries.breakdown`, with each value's ``conversion_rate``: its
    visitors who reached the goal over its visitors (``None`` for the folded row)."""
    counted, rate = _asked(q, metrics)
    rows = breakdown(storage, q, prop, counted, limit, k=k)
    name = prop if prop in PROPERTIES else property_name(prop)
    if rate:
        values = [row[name] for row in rows if row[name] != OTHER]
        totals: dict[str, int | None] = {}
        for at in range(0, len(values), MAX_PATTERNS):
            chunk = values[at : at + MAX_PATTERNS]
            kept = Filter((Clause(tuple((Match.IS, v) for v in chunk)),))
            if name in q.conditions:
                kept = q.conditions[name].also(kept)
            whole = replace(q, goals=None, filters={**q.filters, name: kept})
            for row in breakdown(storage, whole, name, ["visitors"], len(chunk) + 1, k=k):
                totals[row[name]] = row["visitors"]
        for row in rows:
            row[CONVERSION_RATE] = _rate(row["visitors"], totals.get(row[name]))
    return [{name: row[name], **{m: row[m] for m in metrics}} for row in rows]


GOAL_METRICS = ("visitors", "events", "conversion_rate")
"""What a breakdown by goal counts."""


def goal_breakdown(
    storage: Storage, q: StatsQuery, metrics: Sequence[str], *, k: int
) -> list[dict[str, Any]]:
    """:func:`goal_figures` of the site's goals (those of ``q``'s goal filter, if any), the
    conversion rates over the visitors of ``q`` without its goal filter."""
    for name in metrics:
        if name not in GOAL_METRICS:
            raise BadStatsQuery(
                f"A breakdown by event:goal offers the metrics {', '.join(GOAL_METRICS)}, "
                f"not {name!r}."
            )
    goals = [stored.goal for stored in list_goals(storage, q.site)]
    if q.goals is not None:
        goals = [goal for goal in goals if goal in q.goals]
    reached = goal_figures(storage, replace(q, goals=None), goals, k=k)
    return [row for row in reached if row["visitors"] != 0]


def _flag(row: dict[str, Any]) -> dict[str, Any]:
    return {"withheld": True} if row.get("withheld") else {}
