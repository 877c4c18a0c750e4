"""What one report says: a site's figures for a week or a month, read through the stats layer.

Every figure comes from :mod:`gateway.stats` (the same queries as the dashboard,
with the same ``k``), so a withheld figure is ``None`` here as it is there, and
a range the stats layer answers from older data answers here too. A comparison
is made from the events where they reach back to the compared period's first
day (:func:`data_since`), from the anonymous history (:mod:`gateway.stats.history`)
where it holds days of an older period, and otherwise reads "no data", never a
made-up 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.settings import Settings
from gateway.stats import OTHER, aggregate, breakdown, consent_figures, history
from gateway.stats.annotations import Annotation, list_annotations
from gateway.stats.conversions import goal_figures, withhold
from gateway.stats.goals import list_goals
from gateway.stats.query import StatsQuery
from gateway.stats.v1 import change
from gateway.storage import Storage
from gateway.storage.threads import thread_client

KEY_METRICS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
ROWS = 10


@dataclass(frozen=True)
class Period:
    """A report's period: ``kind`` is ``week`` (Monday to Sunday) or ``month``; UTC days."""

    kind: str
    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=UTC)

    def previous(self) -> Period:
        """The week or the calendar month before."""
        return period_of(self.kind, self.first - timedelta(days=1))

    def year_before(self) -> Period:
        """The same period a year before: the week 52 weeks back (same weekdays), or the
        same calendar month."""
        if self.kind == "week":
            return period_of("week", self.first - timedelta(weeks=52))
        return period_of("month", self.first.replace(year=self.first.year - 1))

    @property
    def label(self) -> str:
        if self.kind == "month":
            return self.first.strftime("%B %Y")
        return f"{self.first:%d %b} to {self.last:%d %b %Y}"


def period_of(kind: str, day: date) -> Period:
    """The week (Monday first) or calendar month that holds ``day``."""
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return Period("week", first, first + timedelta(days=6))
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period("month", first, following - timedelta(days=1))


def last_complete(kind: str, now: datetime) -> Period:
    """The last whole week or month before ``now``: what a scheduled report covers."""
    return period_of(kind, now.astimezone(UTC).date()).previous()


@dataclass(frozen=True)
class Comparison:
    """A key figure now, then, and the change; ``None`` where the k rule withholds a figure
    (``withheld``) or the data has no such period (``no_data``)."""

    value: float | None
    previous: float | None
    change: float | None
    no_data: bool


@dataclass(frozen=True)
class Report:
    """Everything one report shows, the k rule already applied."""

    site: str
    period: Period
    k: int
    totals: dict[str, Any]
    against_previous: dict[str, Comparison]
    against_last_year: dict[str, Comparison]
    pages: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    goals: list[dict[str, Any]]
    consent: dict[str, Any]
    annotations: list[Annotation]


def data_since(storage: Storage, site: str) -> date | None:
    """The first day the site's stored statistics hold, or ``None`` when there are none."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT min(time), count() FROM events WHERE site = {site:String}",
            parameters={"site": site},
        )
        .result_rows
    )
    first, count = rows[0]
    return first.date() if count else None


def read_report(
    storage: Storage,
    settings: Settings,
    site: str,
    period: Period,
    now: datetime | None = None,
) -> Report:
    """The report of ``site`` for ``period`` (blocking: several queries, run it off the loop).

    ``now`` says which compared periods are old enough for the anonymous history."""
    k = settings.stats_min_visitors
    now = now or datetime.now(UTC)
    q = StatsQuery(site, period.start, period.end)
    totals = aggregate(storage, q, KEY_METRICS, k=k)
    since = data_since(storage, site)
    goals = list_goals(storage, site)
    return Report(
        site=site,
        period=period,
        k=k,
        totals=totals,
        against_previous=_compare(storage, q, period.previous(), totals, since, k, now),
        against_last_year=_compare(storage, q, period.year_before(), totals, since, k, now),
        pages=top_rows(storage, q, "page", ("visitors", "pageviews"), k),
        sources=top_rows(storage, q, "source", ("visitors", "visits"), k),
        goals=goal_figures(storage, q, [stored.goal for stored in goals], k=k),
        consent=_consent(storage, q, settings, k),
        annotations=list_annotations(storage, site, period.first, period.last),
    )


def top_rows(
    storage: Storage,
    q: StatsQuery,
    prop: str,
    metrics: tuple[str, ...],
    k: int,
    limit: int = ROWS,
) -> list[dict[str, Any]]:
    """The top rows of ``prop``; the folded row's figures too are withheld when it counts
    fewer than k visitors (the dashboard shows them, a report reaches further)."""
    rows = breakdown(storage, q, prop, metrics, limit, k=k)
    for row in rows:
        if row[prop] == OTHER and isinstance(row["visitors"], int):
            withhold(row, metrics, row["visitors"], k)
    return rows


def _consent(storage: Storage, q: StatsQuery, settings: Settings, k: int) -> dict[str, Any]:
    """The consent panel's figures, each withheld when it counts 1 to k - 1 choices or
    displays: the dashboard shows these counts to its users, a report reaches further."""
    figures = consent_figures(storage, q, settings.consent_categories)
    choices = ("choices", "accepted", "rejected", "custom", *_RATES)
    withhold(figures, choices, figures["choices"], k)
    if figures.get("withheld"):
        figures["opt_in"] = dict.fromkeys(figures["opt_in"])
    return withhold(figures, ("shown", "gpc_share"), figures["shown"], k)


_RATES = ("acceptance_rate", "rejection_rate", "custom_rate")


def _compare(
    storage: Storage,
    q: StatsQuery,
    then: Period,
    totals: dict[str, Any],
    since: date | None,
    k: int,
    now: datetime,
) -> dict[str, Comparison]:
    """Each key figure against ``then``: from the events when they reach back to its first
    day, from the anonymous history when it holds days of it, else "no data". The
    history's visitors are a sum of daily visitors, which a period's unique visitors
    cannot be compared with: that one comparison reads "no data" then."""
    asked = replace(q, start=then.start, end=then.end)
    unknown: tuple[str, ...] = KEY_METRICS
    before: dict[str, Any] = {}
    if history.answers(storage, asked, now):
        before = history.aggregate(storage, asked, KEY_METRICS)
        unknown = ("visitors",)
    elif since is not None and since <= then.first:
        before = aggregate(storage, asked, KEY_METRICS, k=k)
        unknown = ()
    compared = {}
    for metric in KEY_METRICS:
        value = totals[metric]
        if metric in unknown:
            compared[metric] = Comparison(value, None, None, no_data=True)
            continue
        old = before[metric]
        moved = change(metric, value, old) if value is not None and old is not None else None
        compared[metric] = Comparison(value, old, moved, no_data=False)
    return compared
