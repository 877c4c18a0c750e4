"""What marketing measures: goals and their conversion rates, custom events and their
props, downloads and broken links, read from the ``events`` rows of a question.

Custom events are kept a month with the rest of the events and the rollups do not
hold them, so these questions read the raw rows, with the same range and filters
as every panel (:func:`gateway.stats.sql.event_where`). Each runs one query.

The k rule holds on every figure: a goal reached by fewer than ``k`` visitors keeps
its row (admins named it) with its figures withheld (``None`` and
``"withheld": True``); a value of a breakdown (an event name, a prop value, a URL)
that fewer than ``k`` visitors share is folded into :data:`OTHER`, whose own
figures are withheld when the fold is still under ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.settings_analytics import Goal
from gateway.stats.goals import goal_condition
from gateway.stats.query import StatsQuery
from gateway.stats.sql import event_where, parameters
from gateway.stats.topn import OTHER
from gateway.storage import Storage
from gateway.storage.threads import thread_client

DOWNLOAD = "File Download"
NOT_FOUND = "404"
OUTBOUND = "Outbound Link: Click"
MAX_LINKING = 5  # pages listed as linking to one broken link


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
    """
    if not goals:
        return []
    values = parameters(q)
    columns = ["uniqCombined64(visitor_key)"]
    for i, goal in enumerate(goals):
        condition, bound = goal_condition(goal, f"g{i}")
        values.update(bound)
        columns += [f"uniqCombined64If(visitor_key, {condition})", f"countIf({condition})"]
    sql = f"SELECT {', '.join(columns)} FROM events WHERE {event_where(q)}"  # noqa: S608
    row = thread_client(storage).query(sql, parameters=values).result_rows[0]
    total = int(row[0])
    answer = []
    for i, goal in enumerate(goals):
        reached, events = int(row[1 + 2 * i]), int(row[2 + 2 * i])
        shown: dict[str, Any] = {
            "goal": goal.name,
            "visitors": reached,
            "events": events,
            "conversion_rate": conversion_rate(reached, total),
        }
        withhold(shown, ("visitors", "events", "conversion_rate"), reached, k)
        if total < k:
            withhold(shown, ("conversion_rate",), total, k)
        answer.append(shown)
    return answer


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
) -> list[dict[str, Any]]:
    """Custom events grouped by ``key`` (``"name"`` or ``"prop"``), named ``label`` in
    each row: ``[{label: value, "visitors": 3, "events": 5}, ...]``, most visitors first.

    ``name`` narrows to one event; ``key="prop"`` groups by its prop ``label`` (a
    bound map key). ``linking`` adds each row's ``linked_from``: the pages of the
    site the visitors came from (a broken link's referring pages).
    """
    values = parameters(q, k=k, limit=min(max(limit, 1), 1000))
    where = f"{event_where(q)} AND kind = 'custom'"
    if name is not None:
        where += " AND name = {event_name:String}"
        values["event_name"] = name
    if key == "prop":
        value = "props[{prop_key:String}]"
        where += " AND mapContains(props, {prop_key:String})"
        values["prop_key"] = label
    else:
        value = "name"
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
