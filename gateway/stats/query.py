"""What a statistics question is: a site, a time range, filters; and how to read one.

:class:`StatsQuery` is the one value every query function takes. The helpers
here turn Plausible's Stats API v1 parameters into it, so the dashboard pages
and the JSON API read ``period``, ``date`` and ``filters`` the same way:

    period_range("7d", now)                     the last 7 whole days and today
    period_range("custom", now, "2026-11-01,2026-11-07")
    parse_filters("event:page==/blog/**;visit:country!=GB|FR")  ->  {"page": Filter(...), ...}

Every time is UTC, and a range is half-open: ``start <= time < end``. Bad
input raises :class:`~gateway.exceptions.BadStatsQuery`, whose message names
the parameter and what it accepts; the API answers it with a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType

from gateway.clock import Clock, system_clock
from gateway.exceptions import BadStatsQuery
from gateway.settings_analytics import Goal
from gateway.stats.filters import Filter, v1_clause
from gateway.stats.properties import PLANNED, PROPERTIES

PERIODS = ("realtime", "day", "yesterday", "7d", "30d", "month", "6mo", "12mo", "custom")
"""The ``period`` values; ``day`` is today (or ``date``), ``month`` the calendar month,
``6mo`` and ``12mo`` that month and the 5 or 11 before it."""

FILTERS: dict[str, str] = {prop.plausible: prop.name for prop in PROPERTIES.values()}
"""Plausible's property names and the short names :attr:`StatsQuery.filters` uses.

The same names are the breakdown properties."""

GOAL = "goal"
"""The short name of Plausible's ``event:goal`` filter, which :func:`parse_filters` returns
beside the others; the API resolves it to :attr:`StatsQuery.goals`."""

MAX_RANGE = timedelta(days=3660)
"""The longest custom range: ten years, more than the rollups keep (25 months)."""

FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2199, 12, 31)
"""The days a question may name: ClickHouse's DateTime64 holds them, and their periods."""


@dataclass(frozen=True)
class RollupMarks:
    """Where the rollups of a question end, read once for a page's many queries.

    :func:`gateway.stats.rollup.marked` reads them; a question without them
    reads the same values inside each of its queries.
    """

    rolled_day: date  # the newest day of stats_daily
    window_day: date  # the last day of the merged window that starts with the range
    recent_upto: datetime  # the cut of stats_recent's newest usable refresh, or 1970


@dataclass(frozen=True)
class StatsQuery:
    """One question: ``site`` from ``start`` (inclusive) to ``end`` (exclusive), filtered.

    ``filters`` maps a short property name (``page``, ``source``, ``country``,
    ... the values of :data:`FILTERS`) to a :class:`~gateway.stats.filters.Filter`,
    or to the one value it must equal. A source of ``Direct / None`` means
    visits without a referrer. ``goals``, when set, keeps only the events that
    reach one of them and the visits that had one (a goal filter; empty when it
    names no goal the site has, which keeps nothing). ``marks``,
    when set, are where the rollups ended when the page began (see
    :class:`RollupMarks`).
    """

    site: str
    start: datetime
    end: datetime
    filters: Mapping[str, Filter | str] = field(default_factory=dict)
    marks: RollupMarks | None = None
    goals: tuple[Goal, ...] | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise BadStatsQuery("A statistics range needs timezone-aware (UTC) datetimes.")
        if self.end <= self.start:
            raise BadStatsQuery("The end of a statistics range must come after its start.")
        unknown = set(self.filters) - set(FILTERS.values())
        if unknown:
            raise BadStatsQuery(
                f"Unknown filter {sorted(unknown)[0]!r}; filter on one of "
                f"{', '.join(FILTERS.values())}."
            )
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        kept = {
            name: Filter.equal(value) if isinstance(value, str) else value
            for name, value in self.filters.items()
        }
        object.__setattr__(self, "filters", MappingProxyType(kept))

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def hourly(self) -> bool:
        """Whether a time series of this range goes by the hour (up to two days) or the day."""
        return self.length <= timedelta(days=2)

    def previous(self) -> StatsQuery:
        """The same question for the period of the same length just before this one."""
        return replace(self, start=self.start - self.length, end=self.start, marks=None)

    @property
    def conditions(self) -> Mapping[str, Filter]:
        """The filters, each a :class:`~gateway.stats.filters.Filter` (plain values converted)."""
        return {
            name: Filter.equal(value) if isinstance(value, str) else value
            for name, value in self.filters.items()
        }

    def where(self, **filters: str) -> StatsQuery:
        """This question with more filters (a dashboard click on a row adds one)."""
        return replace(self, filters={**self.filters, **filters})


def utc_now(clock: Clock = system_clock) -> datetime:
    """The moment ``clock`` tells, as the aware UTC datetime a period counts back from."""
    return datetime.fromtimestamp(clock(), UTC)


def period_range(
    period: str, now: datetime, date_param: str | None = None, *, plausible: bool = False
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of a Plausible ``period`` at ``now`` (UTC).

    ``day`` is today, or the day ``date`` names; ``yesterday`` the day before;
    ``7d`` and ``30d`` the last 7 or 30 days including today (or ``date``);
    ``month`` the calendar month of ``date`` or today, ``6mo`` and ``12mo`` it
    and the 5 or 11 months before; ``realtime`` the last 30 minutes; ``custom``
    needs ``date=YYYY-MM-DD,YYYY-MM-DD``, both days included. With
    ``plausible``, ``30d`` is what Plausible's API means by it: today and the 30
    days before (``Date.range(date - 30, date)``, 31 days).
    """
    now = now.astimezone(UTC)
    today = (
        _day(date_param, "date")
        if date_param and period in ("day", "month", "7d", "30d", "6mo", "12mo")
        else now.date()
    )
    if period == "realtime":
        return now - timedelta(minutes=30), now
    if period == "day":
        return _midnight(today), _midnight(today + timedelta(days=1))
    if period == "yesterday":
        return _midnight(today - timedelta(days=1)), _midnight(today)
    if period in ("7d", "30d"):
        days = int(period[:-1]) + (1 if plausible and period == "30d" else 0)
        return _midnight(today - timedelta(days=days - 1)), _midnight(today + timedelta(days=1))
    if period in ("month", "6mo", "12mo"):
        months = {"month": 1, "6mo": 6, "12mo": 12}[period]
        first = today.replace(day=1)
        for _ in range(months - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        following = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        return _midnight(first), _midnight(following)
    if period == "custom":
        if not date_param or "," not in date_param:
            raise BadStatsQuery(
                "period=custom needs date=YYYY-MM-DD,YYYY-MM-DD (the first and last day, UTC)."
            )
        first_text, last_text = date_param.split(",", 1)
        first, last = _day(first_text, "date"), _day(last_text, "date")
        if last < first:
            raise BadStatsQuery("In date=FIRST,LAST the last day must not come before the first.")
        start, end = _midnight(first), _midnight(last + timedelta(days=1))
        if end - start > MAX_RANGE:
            raise BadStatsQuery("A custom range may span at most 3660 days (ten years).")
        return start, end
    raise BadStatsQuery(f"Unknown period {period!r}; use one of {', '.join(PERIODS)}.")


def parse_filters(text: str | None) -> dict[str, Filter]:
    """Plausible v1 filters (``event:page==/blog/**;visit:country!=GB|FR``) by short name.

    ``==`` keeps the values that match, ``!=`` those that do not; ``a|b`` is
    either, ``\\|`` a literal bar, ``*`` a wildcard (see
    :func:`~gateway.stats.filters.v1_clause`). Filters are joined by ``;`` and
    all hold, several on one property included. ``event:goal`` comes back under
    :data:`GOAL`, for the caller to read as the site's goals. Anything else, an
    unknown property or operator, raises :class:`BadStatsQuery` naming it.
    """
    filters: dict[str, Filter] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        found = [(part.find(op), op) for op in ("==", "!=") if op in part]
        if not found:
            raise BadStatsQuery(
                f"The filter {part!r} has no operator; write PROPERTY==VALUE or PROPERTY!=VALUE, "
                "for example filters=event:page==/blog/**;visit:country==GB|FR."
            )
        at, op = min(found)
        name, value = part[:at].strip(), part[at + 2 :].strip()
        clause = v1_clause(value)
        if op == "!=":
            clause = replace(clause, negated=True)
        short = filter_property(name)
        one = Filter((clause,))
        filters[short] = filters[short].also(one) if short in filters else one
    return filters


def filter_property(name: str) -> str:
    """The short name of a filter's property, or :class:`BadStatsQuery` naming it."""
    return _short_name(name, "filter property")


def property_name(text: str) -> str:
    """The short name of a breakdown ``property`` (``visit:country`` -> ``country``)."""
    return _short_name(text, "property")


def _short_name(name: str, what: str) -> str:
    if name in FILTERS:
        return FILTERS[name]
    if name == "event:goal" and what == "filter property":
        return GOAL
    if name in PLANNED or name.startswith("event:props:"):
        raise BadStatsQuery(f"The {what} {name!r} is not supported: {_why(name)}.")
    raise BadStatsQuery(f"Unknown {what} {name!r}; use one of {', '.join(FILTERS)}.")


def _why(name: str) -> str:
    return PLANNED.get(name, "custom properties are not in the stats API yet")


def _day(text: str, parameter: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadStatsQuery(f"{parameter}={text!r} is not a day written YYYY-MM-DD.") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadStatsQuery(f"{parameter}={text!r} is not between {FIRST_DAY} and {LAST_DAY}.")
    return day


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
