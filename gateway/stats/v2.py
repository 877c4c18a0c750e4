"""``POST /api/v2/query``: Plausible's Stats API v2 query, for what the stored data answers.

    {"site_id": "example.org", "metrics": ["visitors", "bounce_rate"],
     "date_range": "7d", "dimensions": ["visit:source"],
     "filters": [["is", "visit:country", ["FR", "DE"]],
                 ["not", ["contains", "event:page", ["/admin"]]]],
     "order_by": [["visitors", "desc"]], "pagination": {"limit": 10, "offset": 0}}
    -> {"results": [{"dimensions": ["Google"], "metrics": [12, 40]}, ...],
        "meta": {}, "query": {...the query as read, dates resolved...}}

A query has no dimension (totals), one property, one time dimension
(``time``, ``time:hour``, ``time:day``, ``time:month``), or ``event:goal``
(``visitors``, ``events``, ``conversion_rate`` per goal). ``event:goal`` filters
keep the visitors who reached the goals they name; ``conversion_rate`` needs one
(or the goal dimension). Filters are ``is``,
``is_not``, ``contains``, ``contains_not``, ``matches``, ``matches_not``,
``matches_wildcard``, and ``and``, ``or`` (of one property) and ``not`` (of one
filter) over them. Breakdowns obey the k rule: rows under k visitors are folded
into one ``(other)`` row, last. Anything else is a 400 that names it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from gateway.exceptions import BadStatsQuery, JsonTooDeep
from gateway.json_body import parse_json
from gateway.stats.filters import Clause, Filter, Match
from gateway.stats.metrics import QUERYABLE
from gateway.stats.query import StatsQuery, filter_property, period_range, property_name
from gateway.stats.rows import UNITS, Unit

MAX_BODY = 64 * 1024
KEYS = {"site_id", "metrics", "date_range", "dimensions", "filters", "order_by", "include",
        "pagination", "date"}  # fmt: skip
DATE_RANGES = ("day", "7d", "30d", "month", "6mo", "12mo", "year")
TIME_DIMENSIONS = {"time": "day", "time:hour": "hour", "time:day": "day", "time:month": "month"}
GOAL_DIMENSION = "event:goal"
GOAL_METRICS = ("visitors", "events", "conversion_rate")
"""What a breakdown by goal counts (:func:`gateway.stats.conversions.goal_figures`)."""
ASKABLE = (*QUERYABLE, "conversion_rate")
OPERATORS = {
    "is": (Match.IS, False),
    "is_not": (Match.IS, True),
    "contains": (Match.CONTAINS, False),
    "contains_not": (Match.CONTAINS, True),
    "matches": (Match.MATCHES, False),
    "matches_not": (Match.MATCHES, True),
    "matches_wildcard": (Match.WILDCARD, False),
    "matches_wildcard_not": (Match.WILDCARD, True),
}


def read_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a query, or a 400 saying what is wrong with it."""
    if len(body) > MAX_BODY:
        raise BadStatsQuery(f"The query is larger than {MAX_BODY} bytes.")
    try:
        query = parse_json(body)
    except (JsonTooDeep, ValueError):
        raise BadStatsQuery("The body is not a JSON object (a query).") from None
    if not isinstance(query, dict):
        raise BadStatsQuery("The body is not a JSON object (a query).")
    unknown = set(query) - KEYS
    if unknown:
        raise BadStatsQuery(
            f"Unknown key {sorted(unknown)[0]!r}; a query takes {', '.join(sorted(KEYS))}."
        )
    return query


def date_range(value: Any, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of ``date_range``: a name or two ISO days, both included."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return period_range("custom", now, f"{value[0][:10]},{value[1][:10]}")
    if value == "year":  # this calendar year, as Plausible's "year"
        first = now.date().replace(month=1, day=1)
        start = datetime.combine(first, time(0), tzinfo=UTC)
        return start, start.replace(year=first.year + 1)
    if value in DATE_RANGES:
        return period_range(str(value), now, plausible=True)
    raise BadStatsQuery(
        f"date_range {value!r} is not one of {', '.join(DATE_RANGES)} or two days "
        '["YYYY-MM-DD", "YYYY-MM-DD"].'
    )


def metrics_of(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
        raise BadStatsQuery(f"metrics must be a non-empty list of {', '.join(ASKABLE)}.")
    for name in value:
        if name not in ASKABLE:
            raise BadStatsQuery(f"Unknown metric {name!r}; use {', '.join(ASKABLE)}.")
    if len(set(value)) != len(value):
        raise BadStatsQuery("Each metric may be asked for once.")
    return list(value)


def dimensions_of(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise BadStatsQuery("dimensions must be a list of property names.")
    if len(value) > 1:
        raise BadStatsQuery("One dimension at a time here: several at once are not supported yet.")
    for name in value:
        if name not in TIME_DIMENSIONS and name != GOAL_DIMENSION:
            property_name(name)  # a 400 naming an unknown one
    return list(value)


def filters_of(value: Any) -> dict[str, Filter]:
    """The v2 filters (a list, all holding) as one :class:`Filter` per property."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise BadStatsQuery("filters must be a list of filters.")
    found: dict[str, Filter] = {}
    for item in value:
        for name, clause in _clauses(item):
            one = Filter((clause,))
            found[name] = found[name].also(one) if name in found else one
    return found


def _clauses(item: Any) -> list[tuple[str, Clause]]:
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise BadStatsQuery(f"The filter {item!r} is not [OPERATOR, DIMENSION, [VALUES]].")
    operator = item[0]
    if operator == "and" and len(item) == 2 and isinstance(item[1], list):
        return [pair for sub in item[1] for pair in _clauses(sub)]
    if operator == "not" and len(item) == 2:
        inner = _clauses(item[1])
        if len(inner) != 1:
            raise BadStatsQuery("not takes one filter of one property here.")
        name, clause = inner[0]
        return [(name, replace(clause, negated=not clause.negated))]
    if operator == "or" and len(item) == 2 and isinstance(item[1], list) and item[1]:
        inner = [pair for sub in item[1] for pair in _clauses(sub)]
        names = {name for name, _ in inner}
        if len(names) != 1 or any(clause.negated for _, clause in inner):
            raise BadStatsQuery("or takes filters of one property, none negated, here.")
        patterns = tuple(p for _, clause in inner for p in clause.patterns)
        return [(names.pop(), Clause(patterns))]
    if operator not in OPERATORS:
        raise BadStatsQuery(
            f"Unknown filter operator {operator!r}; use {', '.join(OPERATORS)}, and, or, not."
        )
    if len(item) == 4 and item[3] in ({}, {"case_sensitive": True}):
        item = item[:3]
    if len(item) != 3 or not isinstance(item[1], str) or not isinstance(item[2], list):
        raise BadStatsQuery(f"The filter {item!r} is not [OPERATOR, DIMENSION, [VALUES]].")
    values = item[2]
    if not values or not all(_text(v) for v in values):
        raise BadStatsQuery(f"The filter {item!r} needs a list of strings (or GeoNames ids).")
    values = [str(v) for v in values]
    how, negated = OPERATORS[operator]
    name = filter_property(item[1])
    return [(name, Clause(tuple((how, v) for v in values), negated=negated))]


def _text(value: Any) -> bool:
    """A filter value: a string, or a whole number (``visit:city`` takes GeoNames ids)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def order_of(value: Any, metrics: list[str], dimensions: list[str]) -> list[tuple[str, bool]]:
    """``order_by`` as (name, descending) pairs over the query's metrics and dimensions."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadStatsQuery('order_by must be a list of [NAME, "asc" or "desc"].')
    order = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or item[0] not in (*metrics, *dimensions)
            or item[1] not in ("asc", "desc")
        ):
            raise BadStatsQuery(
                f'order_by {item!r} is not [NAME, "asc" or "desc"] of an asked metric or dimension.'
            )
        order.append((str(item[0]), item[1] == "desc"))
    return order


def pagination_of(value: Any) -> tuple[int, int]:
    if value is None:
        return 10_000, 0
    limit, offset = (value.get(k) if isinstance(value, dict) else None for k in ("limit", "offset"))
    limit = 10_000 if limit is None else limit
    offset = 0 if offset is None else offset
    if not isinstance(limit, int) or not isinstance(offset, int) or isinstance(limit, bool):
        raise BadStatsQuery("pagination takes whole numbers: limit (1 to 10000) and offset.")
    if not 1 <= limit <= 10_000 or not 0 <= offset <= 10_000 - limit:
        raise BadStatsQuery("pagination: limit 1 to 10000, offset 0 or more, together 10000.")
    return limit, offset


def include_of(value: Any) -> dict[str, bool]:
    if value is None:
        return {}
    allowed = {"time_labels", "total_rows", "imports"}
    if not isinstance(value, dict) or not set(value) <= allowed:
        raise BadStatsQuery(f"include takes {', '.join(sorted(allowed))}.")
    if not all(isinstance(v, bool) for v in value.values()):
        raise BadStatsQuery("include's values are true or false.")
    return dict(value)


def time_labels(q: StatsQuery, unit: str) -> list[str]:
    """Every bucket's label of a time dimension over ``q``'s range."""
    labels = []
    moment = q.start
    while moment < q.end:
        if unit == "hour":
            labels.append(moment.strftime("%Y-%m-%d %H:00:00"))
            moment += timedelta(hours=1)
        elif unit == "month":
            labels.append(moment.strftime("%Y-%m-01"))
            moment = (moment.replace(day=1) + timedelta(days=32)).replace(day=1)
        else:
            labels.append(moment.strftime("%Y-%m-%d"))
            moment += timedelta(days=1)
    return labels


def unit_of(dimension: str) -> Unit:
    """The bucket of a time dimension."""
    return UNITS[TIME_DIMENSIONS[dimension]]
