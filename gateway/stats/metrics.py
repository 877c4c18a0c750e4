"""What the statistics count, declared once: the sources, the columns of their rows, the metrics.

Every query aggregates rows of one or both sources (:data:`EVENTS`, :data:`SESSIONS`),
each row a value's (or a time bucket's) counts in one part of the range: a merged
window, a rolled-up day, or the raw rows after them (:mod:`gateway.stats.rows`).
:data:`COLUMNS` says how each source counts a column from its raw rows; the rollups
hold the same columns under the same names. A :class:`Metric` is either a count
that totals one column of each source it can be read from, or a formula over other
metrics, readable wherever all of them are.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.exceptions import BadStatsQuery


@dataclass(frozen=True)
class Source:
    """Where rows come from: the events, or the visits (finalised sessions) they make."""

    name: str
    time: str  # the column a time series is bucketed by: a visit counts when it started


EVENTS = Source("events", "time")
SESSIONS = Source("sessions", "start_time")
SOURCES = (EVENTS, SESSIONS)
"""In order of preference: a total is read from the first source that offers it."""


@dataclass(frozen=True)
class Column:
    """A column of the rows: its aggregate over each source's raw rows.

    A ``state`` is a ``uniqCombined64`` state (merged, so a visitor of several
    parts counts once); any other column is a number (summed). A column that is
    not ``rolled`` is read from the raw rows only.
    """

    name: str
    raw: Mapping[Source, str]
    state: bool = False
    rolled: bool = True

    def total(self) -> str:
        """The column over many rows, as a number."""
        return f"uniqCombined64Merge({self.name})" if self.state else f"sum({self.name})"

    def partial(self) -> str:
        """The column over many rows, still mergeable with other rows."""
        return f"uniqCombined64MergeState({self.name})" if self.state else f"sum({self.name})"


def _alike(aggregate: str) -> dict[Source, str]:
    return {EVENTS: aggregate, SESSIONS: aggregate}


COLUMNS = {
    column.name: column
    for column in (
        # Each part's own visitor count, read without a state (see gateway.stats.topn).
        Column("visitor_count", _alike("uniqCombined64(visitor_key)")),
        Column("visitors", _alike("uniqCombined64State(visitor_key)"), state=True),
        Column("visits", _alike("uniqCombined64State(session_id)"), state=True),
        Column(
            "pageviews",
            {EVENTS: "countIf(kind = 'pageview')", SESSIONS: "toUInt64(sum(page_count))"},
        ),
        Column("sessions", {SESSIONS: "count()"}),
        Column("bounces", {SESSIONS: "countIf(bounce)"}),
        Column("duration", {SESSIONS: "toUInt64(sum(duration))"}),
        # Page views and custom events (Plausible's events; engagement pings are not).
        Column("events", {EVENTS: "countIf(kind != 'engagement')"}, rolled=False),
    )
}
"""The rows' columns by name; a source without an entry does not count that column."""


@dataclass(frozen=True)
class Metric:
    """A figure a question asks for: a count of one column, or a formula over other metrics.

    ``reads`` names, per source, the column a count totals; ``formula`` names the
    metrics it uses in braces. ``public`` metrics are the ones callers ask for; the
    others exist for a formula's sake.
    """

    name: str
    reads: Mapping[Source, str] = field(default_factory=dict)
    formula: str = ""
    public: bool = True

    @property
    def uses(self) -> tuple[str, ...]:
        """The metrics the formula uses (none for a count)."""
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.formula) if name)

    def sources(self) -> tuple[Source, ...]:
        """The sources that can give this metric, in order of preference."""
        if not self.formula:
            return tuple(source for source in SOURCES if source in self.reads)
        usable = [set(_METRIC[name].sources()) for name in self.uses]
        return tuple(source for source in SOURCES if all(source in s for s in usable))

    def column(self, source: Source) -> Column:
        """The column a count totals in ``source``."""
        return COLUMNS[self.reads[source]]

    def expression(self, prefix: str = "") -> str:
        """This metric over the columns of a query that hold each count, named ``prefix`` + name."""
        if not self.formula:
            return prefix + self.name
        return self.formula.format_map({name: prefix + name for name in self.uses})


_DECLARED = (
    # Unique visitor keys (a hash of the consent id), exact up to 8,192 in a row.
    Metric("visitors", {EVENTS: "visitors", SESSIONS: "visitors"}),
    # Visits (30 minutes idle ends one): unique session ids of the events, or the sessions.
    Metric("visits", {EVENTS: "visits", SESSIONS: "sessions"}),
    Metric("pageviews", {EVENTS: "pageviews", SESSIONS: "pageviews"}),
    Metric("views_per_visit", formula="round(if({visits} = 0, 0, {pageviews} / {visits}), 2)"),
    # Percent of visits with at most one page view and no custom event.
    Metric(
        "bounce_rate",
        formula="toUInt32(round(if({visits} = 0, 0, 100 * {bounces} / {visits})))",
    ),
    # Mean seconds from a visit's first to its last event.
    Metric("visit_duration", formula="toUInt32(round(if({visits} = 0, 0, {duration} / {visits})))"),
    # Page views and custom events: the API's, not a dashboard panel's (read raw).
    Metric("events", {EVENTS: "events"}, public=False),
    Metric("bounces", {SESSIONS: "bounces"}, public=False),
    Metric("duration", {SESSIONS: "duration"}, public=False),
)
_METRIC = {metric.name: metric for metric in _DECLARED}

METRICS = tuple(metric.name for metric in _DECLARED if metric.public)
"""Every metric of the dashboard's panels, in Plausible's names."""

QUERYABLE = (*METRICS, "events")
"""Every metric a question may ask for: the panels' and ``events``."""


def metric(name: str) -> Metric:
    """The declared metric ``name``."""
    return _METRIC[name]


def offered(source: Source) -> tuple[str, ...]:
    """The metrics a caller may ask of ``source``'s rows alone."""
    return tuple(name for name in METRICS if source in _METRIC[name].sources())


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """``metrics`` without repeats, or :class:`BadStatsQuery` naming an unknown one."""
    chosen = list(dict.fromkeys(metrics))
    if not chosen:
        raise BadStatsQuery(f"Ask for at least one metric: {', '.join(QUERYABLE)}.")
    for name in chosen:
        if name not in QUERYABLE:
            raise BadStatsQuery(f"Unknown metric {name!r}; use one of {', '.join(QUERYABLE)}.")
    return chosen


def counts(metrics: Sequence[str]) -> list[Metric]:
    """The counts ``metrics`` are made of (themselves, or what their formulas use), in order."""
    wanted: set[str] = set()
    todo = list(metrics)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_METRIC[name].uses)
    return [m for m in _DECLARED if m.name in wanted and not m.formula]


def formulas(metrics: Sequence[str]) -> list[Metric]:
    """The metrics among ``metrics`` that are formulas, in declaration order."""
    return [m for m in _DECLARED if m.name in metrics and m.formula]
