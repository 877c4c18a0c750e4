"""The dashboard's panels for a range older than the events' month, from the history.

:func:`history_calls` gives :func:`gateway.admin.dashboard.load` the calls that fill
the overview, the chart (by month past 60 days) and every panel the anonymous history
keeps (:mod:`gateway.stats.history`); the cities and the next pages are not kept, and
their panels stay empty. :func:`history_answer` does the same for one panel's CSV.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gateway.stats import history
from gateway.stats.query import StatsQuery
from gateway.storage import Storage


class PanelLike(Protocol):
    """What a dashboard panel is to this module: a name, a property, its metrics."""

    @property
    def name(self) -> str: ...
    @property
    def prop(self) -> str: ...
    @property
    def metrics(self) -> tuple[str, ...]: ...


Call = tuple[tuple[int, str], Callable[[], Any]]


def history_calls(
    storage: Storage,
    n: int,
    q: StatsQuery,
    panels: Sequence[PanelLike],
    top: Sequence[str],
    series: Sequence[str],
    rows: int,
) -> list[Call]:
    """The calls for question ``n`` (0: the range, 1: the compared one), keyed as ``load`` does."""
    history.check(q, top)  # a filter is a clear error before anything runs
    calls: list[Call] = [
        ((n, "top"), functools.partial(history.aggregate, storage, q, top)),
        ((n, "series"), functools.partial(history.timeseries, storage, q, series)),
    ]
    for panel in panels:
        calls.append(((n, panel.name), functools.partial(_panel, storage, q, panel, rows)))
    return calls


def history_answer(
    storage: Storage, q: StatsQuery, name: str, panel: PanelLike | None, top: Sequence[str]
) -> Any:
    """Panel ``name``'s figures for a CSV (``panel`` for a breakdown; consent is not here)."""
    if name == "top":
        return history.aggregate(storage, q, top)
    if name == "timeseries":
        return history.timeseries(storage, q, top)
    if panel is None:  # the next pages
        return []
    return _panel(storage, q, panel, 100)


def _panel(storage: Storage, q: StatsQuery, panel: PanelLike, rows: int) -> list[dict[str, Any]]:
    if panel.prop not in history.HISTORY_PROPERTIES:
        return []
    return history.breakdown(storage, q, panel.prop, panel.metrics, rows)
