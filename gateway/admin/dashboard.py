"""What one dashboard shows: the view a URL asks for, and every panel's numbers for it.

A :class:`View` is read from the query string (``period``, ``from``/``to`` for a
custom range, ``compare``, and one value per filter), so every state of the
dashboard is a plain link that can be bookmarked or shared. :func:`load` runs
every panel's query (each one parameterised query of :mod:`gateway.stats`,
two at a time, off the event loop) and, when comparing, the same for the
previous period of the same length. :func:`panel_table` gives one panel as a
header and rows, for its CSV download.

Only :mod:`gateway.stats` queries run here, so every row obeys the k rule.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gateway.admin.dashboard_history import history_answer, history_calls
from gateway.exceptions import BadStatsQuery
from gateway.settings import Settings
from gateway.stats import (
    FILTERS,
    METRICS,
    OTHER,
    aggregate,
    breakdown,
    consent_figures,
    history,
    next_pages,
    period_range,
    realtime,
    timeseries,
)
from gateway.stats.goals import list_goals
from gateway.stats.query import StatsQuery
from gateway.stats.rollup import marked
from gateway.storage import Storage

RANGES = {
    "day": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "6mo": "Last 6 months",
    "12mo": "Last 12 months",
    "custom": "Custom",
}
TOP_METRICS = METRICS  # the top panel shows every metric
SERIES_METRICS = ("visitors", "pageviews")
FILTER_NAMES = tuple(FILTERS.values())
# The filters offered as form fields; clicking a row adds any of FILTER_NAMES.
FORM_FILTERS = ("page", "source", "country", "browser", "os", "device")
ROWS = 10


@dataclass(frozen=True)
class Panel:
    """A breakdown panel: a title, the property it breaks down by, its metrics."""

    name: str
    title: str
    prop: str
    metrics: tuple[str, ...]


PANELS: tuple[Panel, ...] = (
    Panel("pages", "Top pages", "page", ("visitors", "pageviews")),
    Panel("entry_pages", "Entry pages", "entry_page", ("visitors", "visits")),
    Panel("exit_pages", "Exit pages", "exit_page", ("visitors", "visits")),
    Panel("sources", "Sources", "source", ("visitors", "visits", "bounce_rate")),
    Panel("utm_sources", "UTM sources", "utm_source", ("visitors", "visits")),
    Panel("utm_mediums", "UTM mediums", "utm_medium", ("visitors", "visits")),
    Panel("utm_campaigns", "UTM campaigns", "utm_campaign", ("visitors", "visits")),
    Panel("countries", "Countries", "country", ("visitors", "visits")),
    Panel("regions", "Regions", "region", ("visitors", "visits")),
    Panel("cities", "Cities", "city", ("visitors", "visits")),
    Panel("browsers", "Browsers", "browser", ("visitors", "visits")),
    Panel("os", "Operating systems", "os", ("visitors", "visits")),
    Panel("devices", "Devices", "device", ("visitors", "visits")),
)
PANEL_BY_NAME = {panel.name: panel for panel in PANELS}
SPECIAL_PANELS = ("top", "timeseries", "navigation", "consent")
EXPORTABLE = (*SPECIAL_PANELS, *PANEL_BY_NAME)


@dataclass(frozen=True)
class View:
    """One state of the dashboard, as its URL says it."""

    site: str
    period: str = "7d"
    start_day: str = ""
    end_day: str = ""
    compare: bool = False
    compare_year: bool = False  # compare with the same period a year before (the history)
    filters: Mapping[str, str] = field(default_factory=dict)
    goal: str = ""  # a goal's name: only the visits that reached it
    event: str = ""  # a custom event whose props the Custom events panel breaks down
    prop: str = ""  # which of its props

    @classmethod
    def from_params(cls, site: str, params: Mapping[str, str]) -> View:
        period = params.get("period", "7d")
        if period not in RANGES:
            raise BadStatsQuery(f"Unknown range {period!r}; choose one of {', '.join(RANGES)}.")
        filters = {
            name: params[name].strip()[:500]
            for name in FILTER_NAMES
            if params.get(name, "").strip()
        }
        return cls(
            site=site,
            period=period,
            start_day=params.get("from", "")[:10],
            end_day=params.get("to", "")[:10],
            compare=params.get("compare", "") in ("1", "on", "true", "year"),
            compare_year=params.get("compare", "") == "year",
            filters=filters,
            goal=params.get("goal", "").strip()[:600],
            event=params.get("event", "").strip()[:200],
            prop=params.get("prop", "").strip()[:200],
        )

    def query(self, now: datetime) -> StatsQuery:
        date = f"{self.start_day},{self.end_day}" if self.period == "custom" else None
        start, end = period_range(self.period, now, date)
        return StatsQuery(self.site, start, end, self.filters)

    def earlier(self, q: StatsQuery) -> StatsQuery:
        """The question ``q`` is compared with: the period before, or a year before."""
        return history.year_before(q) if self.compare_year else q.previous()

    def marks(self) -> dict[str, str]:
        """The view's goal and event choices, as the URL names them."""
        return {"goal": self.goal, "event": self.event, "prop": self.prop}

    def reached(self, storage: Storage, q: StatsQuery) -> StatsQuery:
        """``q`` kept to the visits that reached the view's goal, if it names one (by the
        name the Goals panel shows; a name the site has no goal for keeps nothing)."""
        if not self.goal:
            return q
        goals = tuple(g.goal for g in list_goals(storage, q.site) if g.goal.name == self.goal)
        return replace(q, goals=goals)

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this view with ``changes`` (``None`` removes a key)."""
        params: dict[str, str] = {"period": self.period}
        if self.period == "custom":
            params.update({"from": self.start_day, "to": self.end_day})
        if self.compare:
            params["compare"] = "year" if self.compare_year else "1"
        params.update(self.filters)
        params.update({k: v for k, v in self.marks().items() if v})
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        return params


@dataclass
class Table:
    """A breakdown panel's rows, with the previous period's visitors per label."""

    panel: Panel
    rows: list[dict[str, Any]]
    previous: dict[str, int] = field(default_factory=dict)


@dataclass
class Dashboard:
    """Every panel of one view."""

    view: View
    query: StatsQuery
    top: dict[str, Any]
    top_previous: dict[str, Any] | None
    series: list[dict[str, Any]]
    series_previous: list[dict[str, Any]] | None
    tables: list[Table]
    navigation_from: str
    navigation: list[dict[str, Any]]
    consent: dict[str, Any]
    consent_previous: dict[str, Any] | None
    live: dict[str, int | None]
    # For a range older than the events' month: what the anonymous history holds.
    history: dict[str, Any] | None = None


QUERIES_AT_ONCE = 2


async def load(storage: Storage, settings: Settings, view: View, now: datetime) -> Dashboard:
    """Run every panel's query for ``view`` (and the previous period when comparing).

    Two workers take the queries in turn. The top pages go first, and the
    navigation, which starts from the top page, goes next as soon as they are
    in, so it runs beside the other panels instead of alone after them.
    """
    k = settings.stats_min_visitors
    categories = settings.consent_categories
    asked = [await storage.run(functools.partial(view.reached, storage, view.query(now)))]
    first = asked[0]
    old = view.compare_year or await storage.run(lambda: history.answers(storage, first, now))
    if old:
        asked = [await storage.run(functools.partial(history.clipped, storage, asked[0]))]
    if view.compare:
        asked.append(view.earlier(asked[0]))
    # Where the rollups end, read once per question instead of in each of its queries.
    questions = [await storage.run(functools.partial(marked, storage, one)) for one in asked]
    q = questions[0]

    # Each query already uses every core inside ClickHouse: more than two at once
    # only made them fight (a 30-day page over 10M events took 12.5 s all at once
    # and 6.8 s one after another on two cores; bench/dashboard.py).
    todo: deque[tuple[tuple[int, str], Callable[[], Any]]] = deque()
    for n, question in enumerate(questions):
        if old:
            calls = history_calls(storage, n, question, PANELS, TOP_METRICS, SERIES_METRICS, ROWS)
            todo.extend(calls)
        else:
            todo.extend(
                ((n, panel.name), functools.partial(_breakdown, storage, question, panel, k))
                for panel in PANELS
            )
            todo.append(
                ((n, "top"), functools.partial(aggregate, storage, question, TOP_METRICS, k=k))
            )
            todo.append(
                (
                    (n, "series"),
                    functools.partial(timeseries, storage, question, SERIES_METRICS, k=k),
                )
            )
        todo.append(
            ((n, "consent"), functools.partial(consent_figures, storage, question, categories))
        )
    todo.append(((0, "live"), functools.partial(realtime, storage, view.site, now, k=k)))
    if old:
        todo.append(((0, "history"), functools.partial(history.coverage, storage, q)))
    results: dict[tuple[int, str], Any] = {}
    navigation_from = view.filters.get("page", "")

    async def worker() -> None:
        nonlocal navigation_from
        while todo:
            key, call = todo.popleft()
            results[key] = await storage.run(call)
            if key == (0, PANELS[0].name) and not old:  # the history has no next pages
                navigation_from = navigation_from or _top_page(results[key])
                if navigation_from:
                    navigation = functools.partial(
                        next_pages, storage, _leaving(q), navigation_from, ROWS, k=k
                    )
                    todo.appendleft(((0, "navigation"), navigation))

    await asyncio.gather(*(worker() for _ in range(QUERIES_AT_ONCE)))
    tables = [Table(panel, results[0, panel.name]) for panel in PANELS]
    if view.compare:
        for table in tables:
            rows = results[1, table.panel.name]
            table.previous = {row[table.panel.prop]: row["visitors"] for row in rows}
    compare = view.compare
    return Dashboard(
        view=view,
        query=q,
        top=results[0, "top"],
        top_previous=results[1, "top"] if compare else None,
        series=results[0, "series"],
        series_previous=results[1, "series"] if compare else None,
        tables=tables,
        navigation_from=navigation_from,
        navigation=results.get((0, "navigation"), []),
        consent=results[0, "consent"],
        consent_previous=results[1, "consent"] if compare else None,
        live=results[0, "live"],
        history=results.get((0, "history")),
    )


def _breakdown(storage: Storage, q: StatsQuery, panel: Panel, k: int) -> list[dict[str, Any]]:
    return breakdown(storage, q, panel.prop, panel.metrics, ROWS, k=k)


def _leaving(q: StatsQuery) -> StatsQuery:
    """``q`` without its page filter: the next pages are, by definition, other pages."""
    return replace(q, filters={k: v for k, v in q.filters.items() if k != "page"})


def _top_page(rows: list[dict[str, Any]]) -> str:
    return next((str(row["page"]) for row in rows if row["page"] != OTHER), "")


async def panel_table(
    storage: Storage, settings: Settings, view: View, name: str, now: datetime
) -> tuple[list[str], list[list[Any]]]:
    """One panel as a CSV header and rows (with the previous period's when comparing)."""
    if name not in EXPORTABLE:
        raise BadStatsQuery(f"Unknown panel {name!r}; export one of {', '.join(EXPORTABLE)}.")
    q = await storage.run(functools.partial(view.reached, storage, view.query(now)))
    k = settings.stats_min_visitors
    old = view.compare_year or await storage.run(lambda: history.answers(storage, q, now))

    async def ask(question: StatsQuery) -> Any:
        if old and name != "consent":
            panel_of = PANEL_BY_NAME.get(name)
            return await storage.run(
                lambda: history_answer(storage, question, name, panel_of, TOP_METRICS)
            )
        if name == "top":
            return await storage.run(lambda: aggregate(storage, question, TOP_METRICS, k=k))
        if name == "timeseries":
            return await storage.run(lambda: timeseries(storage, question, TOP_METRICS, k=k))
        if name == "consent":
            categories = settings.consent_categories
            return await storage.run(lambda: consent_figures(storage, question, categories))
        if name == "navigation":
            start = view.filters.get("page", "/")
            return await storage.run(
                lambda: next_pages(storage, _leaving(question), start, 100, k=k)
            )
        panel = PANEL_BY_NAME[name]
        return await storage.run(
            lambda: breakdown(storage, question, panel.prop, panel.metrics, 100, k=k)
        )

    header, rows = await _table(ask, q, view, name)
    hidden = f"< {k}"  # a figure the k rule withholds
    return header, [[hidden if cell is None else cell for cell in row] for row in rows]


async def _table(
    ask: Callable[[StatsQuery], Any], q: StatsQuery, view: View, name: str
) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of panel ``name``, its figures as the queries give them."""
    current = await ask(q)
    previous = await ask(view.earlier(q)) if view.compare else None
    if name in ("top", "consent"):
        flat = _flatten(current)
        before = _flatten(previous) if previous is not None else {}
        header = ["metric", "value", *(["previous_value"] if view.compare else [])]
        rows = [
            [key, value, *([before.get(key, "")] if view.compare else [])]
            for key, value in flat.items()
        ]
        return header, rows
    rows_in: list[dict[str, Any]] = current
    if name == "navigation":
        header = ["page", "visitors", "pageviews"]
    elif name == "timeseries":
        header = ["date", *TOP_METRICS]
    else:
        header = [PANEL_BY_NAME[name].prop, *PANEL_BY_NAME[name].metrics]
    if name == "timeseries" or previous is None:
        return header, [[row.get(column, "") for column in header] for row in rows_in]
    label = header[0]
    earlier = {row[label]: row.get("visitors", "") for row in previous}
    return [*header, "previous_visitors"], [
        [*(row.get(column, "") for column in header), earlier.get(row[label], 0)] for row in rows_in
    ]


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):  # opt_in.analytics, by_regime.opt-out.shown
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat
