"""The rows every statistics query aggregates: the rollups for what they hold, raw for the rest.

:func:`rows` builds the same rows from each part of a question's range and
puts them one after another:

* the days ``stats_daily`` holds (up to ``max(day)`` of the table), through
  the newest merged window that starts with the range and the days after it;
* the later days up to the newest ``stats_recent`` refresh's cut;
* every later moment (a few minutes), live from ``events`` or the sessions
  (:mod:`gateway.stats.sql`), aggregated into the same columns; visits count by
  their start, so a visit that started before the cut is counted as it stood
  at the refresh.

Merging the states counts a visitor of several parts once, as ``uniqCombined64``
over the raw rows does, so the answer does not depend on which part served a
day; tests/test_stats_rollup.py checks each panel both ways. A question the
rollups do not serve (:func:`gateway.stats.rollup.served`) is read live whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.stats.metrics import COLUMNS, EVENTS
from gateway.stats.properties import Dimension
from gateway.stats.query import StatsQuery
from gateway.stats.rollup import served
from gateway.stats.sql import event_where, sessions


@dataclass(frozen=True)
class Unit:
    """The bucket of a time series: the function that cuts it, its interval, its label."""

    function: str
    step: str  # the SQL interval unit from one bucket to the next
    shape: str  # how a bucket reads, for formatDateTime
    rolled: bool  # whether the rollups hold rows per bucket (days, not hours)


HOUR = Unit("toStartOfHour", "HOUR", "%Y-%m-%d %H:00:00", rolled=False)
DAY = Unit("toStartOfDay", "DAY", "%Y-%m-%d", rolled=True)
MONTH = Unit("toStartOfMonth", "MONTH", "%Y-%m-01", rolled=True)
UNITS = {"hour": HOUR, "day": DAY, "month": MONTH}

_IN_RANGE = (
    "day >= toDate({start:DateTime64(3, 'UTC')}) AND day < toDate({end:DateTime64(3, 'UTC')})"
)


def rows(
    q: StatsQuery, dimension: Dimension, columns: Sequence[str], *, unit: Unit | None = None
) -> str:
    """A subquery of ``q``'s rows of ``dimension``: ``key`` and ``columns`` (of COLUMNS).

    ``key`` is the time bucket of ``unit`` when given, else the value of the
    dimension's column; the whole site's rows have none. Rows from different
    parts may share a key: the caller merges them.
    """
    rolled = (
        dimension.rolled
        and all(COLUMNS[name].rolled for name in columns)
        and served(q, hourly=unit is not None and not unit.rolled)
    )
    live = _live(q, dimension, columns, unit, rolled=rolled)
    if not rolled:
        return live
    key = (
        "toDateTime(day, 'UTC') AS key, " if unit else "value AS key, " if dimension.column else ""
    )
    selected = key + ", ".join(_rolled(name) for name in columns)
    page = "{from_page:String}" if dimension.after_page else "''"
    of_dim = f"site = {{site:String}} AND dim = '{dimension.name}' AND from_page = {page}"
    days = (
        f"SELECT {selected} FROM stats_daily "  # noqa: S608 (declared names only)
        f"WHERE {of_dim} AND {_IN_RANGE} AND day <= rolled_day"
    )
    recent = (
        f"SELECT {selected} FROM stats_recent "  # noqa: S608 (declared names only)
        f"WHERE {of_dim} AND upto = recent_upto AND day > rolled_day AND {_IN_RANGE}"
    )
    if unit or not dimension.windowed:
        return f"{days} UNION ALL {recent} UNION ALL {live}"
    window = (
        f"SELECT {selected} FROM stats_window "  # noqa: S608 (declared names only)
        f"WHERE {of_dim} AND span = toUInt8(window_day - toDate({{start:DateTime64(3, 'UTC')}})) "
        f"AND first_day = toDate({{start:DateTime64(3, 'UTC')}}) AND last_day = window_day"
    )
    return f"{window} UNION ALL {days} AND day > window_day UNION ALL {recent} UNION ALL {live}"


def _rolled(name: str) -> str:
    """A column as the rollups hold it, typed as the raw rows give it."""
    return name if COLUMNS[name].state else f"toUInt64({name}) AS {name}"


def _live(
    q: StatsQuery, dimension: Dimension, columns: Sequence[str], unit: Unit | None, *, rolled: bool
) -> str:
    """The rows from the raw tables; with ``rolled``, only those no rollup holds."""
    source = dimension.source
    if unit:
        key = f"toDateTime({unit.function}({source.time}), 'UTC') AS key, "
    elif dimension.column:
        key = f"toString({dimension.column}) AS key, "
    else:
        key = ""
    selected = key + ", ".join(f"{COLUMNS[name].raw[source]} AS {name}" for name in columns)
    group = " GROUP BY key" if key else ""
    narrowed = _narrowed(dimension)
    if source is EVENTS:
        where = " AND ".join([event_where(q, unrolled=rolled), *narrowed])
        return f"SELECT {selected} FROM events WHERE {where}{group}"  # noqa: S608
    where = f" WHERE {' AND '.join(narrowed)}" if narrowed else ""
    return f"SELECT {selected} FROM ({sessions(q, unrolled=rolled)}) AS s{where}{group}"  # noqa: S608


def _narrowed(dimension: Dimension) -> list[str]:
    """The conditions that keep the raw rows the rollups keep of ``dimension``."""
    conditions = []
    if dimension.pageviews_only:
        conditions.append("kind = 'pageview'")
    if dimension.after_page:
        conditions.append("prev_path = {from_page:String}")
    if dimension.non_empty:
        conditions.append(f"{dimension.column} != ''")
    return conditions
