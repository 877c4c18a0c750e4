"""Stats API v1 breakdowns by goal, event name and event prop, as Plausible answers them.

    GET /api/v1/stats/breakdown?property=event:goal&metrics=visitors,events,conversion_rate
        {"results": [{"goal": "Visit /apply*", "visitors": 9, "events": 12,
                      "conversion_rate": 7.5}, ...]}
    GET /api/v1/stats/breakdown?property=event:name
    GET /api/v1/stats/breakdown?property=event:props:url&filters=event:goal==File Download

A prop breakdown needs the event it is about: a filter ``event:goal==NAME`` (an
event goal) or ``event:name==NAME``. Figures under k are ``null`` with
``"withheld": true`` (:mod:`gateway.stats.conversions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.stats.conversions import event_props, event_rows, goal_figures
from gateway.stats.goals import list_goals
from gateway.stats.query import StatsQuery
from gateway.storage import Storage

EVENT_PROPERTIES = ("event:goal", "event:name")
PROPS = "event:props:"
EVENT_FILTERS = ("event:goal==", "event:name==")
EVENT_METRICS = {"visitors", "events", "conversion_rate"}


def is_event_breakdown(prop: str) -> bool:
    """Whether a breakdown ``property`` is one this module answers."""
    return prop in EVENT_PROPERTIES or (prop.startswith(PROPS) and len(prop) > len(PROPS))


def split_event_filter(filters: str) -> tuple[str, str]:
    """``(event filter, the other filters)`` of a v1 ``filters`` string: at most one
    ``event:goal==X`` or ``event:name==X``, the rest left for the usual parser."""
    event, rest = "", []
    for part in filters.split(";") if filters else []:
        if part.strip().startswith(EVENT_FILTERS):
            if event:
                raise BadStatsQuery("Filter by one goal or event name at a time.")
            event = part.strip()
        else:
            rest.append(part)
    return event, ";".join(rest)


def event_metrics(text: str, prop: str) -> list[str]:
    """The ``metrics`` a goal or event breakdown may ask for (default ``visitors``)."""
    names = [name.strip() for name in text.split(",") if name.strip()] or ["visitors"]
    offered = EVENT_METRICS if prop == "event:goal" else EVENT_METRICS - {"conversion_rate"}
    for name in names:
        if name not in offered:
            raise BadStatsQuery(
                f"A breakdown by {prop} offers the metrics {', '.join(sorted(offered))}, "
                f"not {name!r}."
            )
    return names


def event_breakdown(
    storage: Storage,
    q: StatsQuery,
    prop: str,
    event_filter: str,
    metrics: Sequence[str],
    limit: int,
    *,
    k: int,
) -> list[dict[str, Any]]:
    """The rows of a breakdown by ``prop`` (``event:goal``, ``event:name`` or
    ``event:props:KEY``) with the asked ``metrics``."""
    goals = [stored.goal for stored in list_goals(storage, q.site)]
    if prop == "event:goal":
        if event_filter:
            raise BadStatsQuery("A breakdown by event:goal takes no goal or event filter.")
        rows = reached_goals(goal_figures(storage, q, goals, k=k))[:limit]
        label = "goal"
    elif prop == "event:name":
        if event_filter:
            raise BadStatsQuery("A breakdown by event:name takes no goal or event filter.")
        rows = event_rows(storage, q, label="name", key="name", k=k, limit=limit, pageviews=True)
        label = "name"
    else:
        label = prop[len(PROPS) :]
        name = _event_name(event_filter, goals)
        # No such goal: nothing reached it, as Plausible answers.
        rows = [] if name is None else event_props(storage, q, name, label, k=k, limit=limit)
    return [
        {label: row[label], **{m: row.get(m) for m in metrics}, **_withheld(row)} for row in rows
    ]


def reached_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The goals someone reached, by visitors, most first (withheld ones last), then by name,
    as Plausible lists them."""
    rows = [row for row in rows if row["visitors"] != 0]
    return sorted(rows, key=lambda r: (r["visitors"] is None, -(r["visitors"] or 0), r["goal"]))


def _withheld(row: dict[str, Any]) -> dict[str, Any]:
    return {"withheld": True} if row.get("withheld") else {}


def _event_name(event_filter: str, goals: Sequence[Any]) -> str | None:
    """The event a prop breakdown is about, from its ``event:goal`` or ``event:name`` filter."""
    if not event_filter:
        raise BadStatsQuery(
            "A breakdown by an event prop needs the event: add filters=event:goal==NAME "
            "or event:name==NAME."
        )
    kind, _, value = event_filter.partition("==")
    if kind.strip() == "event:name":
        return value
    for goal in goals:
        if goal.name == value or (goal.kind == "event" and goal.target == value):
            return str(goal.target) if goal.kind == "event" else None
    return None
