"""The consent panel: how visitors answered the banner, from ``consent_counts``.

``consent_counts`` (migration 0003) holds hourly sums of banner outcomes
without any identifier: ``shown``, ``accept_all``, ``reject_all``,
``custom``, ``object``, ``withdraw``, ``erase``, each with the categories the
choice granted, whether the browser sent ``Sec-GPC: 1`` and the regime that
applied (0020; empty before it). It has no page,
country or browser, on purpose, so the dashboard's filters do not apply to
this panel; its range is rounded out to whole hours.

Rates are percentages with one decimal:

    acceptance_rate, rejection_rate, custom_rate, objection_rate   of all choices made
    opt_in[category]   choices that granted the category, of all choices
    gpc_share          banner displays to browsers sending Sec-GPC, of all displays

``by_regime`` holds the same figures for each regime, so an opt-out regime's
objections are not read as an opt-in regime's rejections; its counts add up to
the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.stats.query import StatsQuery
from gateway.storage import Storage
from gateway.storage.threads import thread_client

_CHOICES = "outcome IN ('accept_all', 'reject_all', 'custom', 'object')"

_FIGURES = f"""
    sumIf(count, outcome = 'shown') AS shown,
    sumIf(count, outcome = 'accept_all') AS accepted,
    sumIf(count, outcome = 'reject_all') AS rejected,
    sumIf(count, outcome = 'custom') AS custom,
    sumIf(count, outcome = 'object') AS objected,
    sumIf(count, outcome = 'withdraw') AS withdrawn,
    sumIf(count, {_CHOICES}) AS choices,
    round(if(choices = 0, 0, 100 * accepted / choices), 1) AS acceptance_rate,
    round(if(choices = 0, 0, 100 * rejected / choices), 1) AS rejection_rate,
    round(if(choices = 0, 0, 100 * custom / choices), 1) AS custom_rate,
    round(if(choices = 0, 0, 100 * objected / choices), 1) AS objection_rate,
    round(if(shown = 0, 0, 100 * sumIf(count, gpc AND outcome = 'shown') / shown), 1)
        AS gpc_share,
    sumMapIf(
        arrayMap(category -> toString(category), categories),
        arrayResize(CAST([], 'Array(UInt64)'), length(categories), count),
        {_CHOICES}
    ) AS granted,
    arrayMap(
        category -> round(if(choices = 0, 0,
            100 * if(has(granted.1, category), granted.2[indexOf(granted.1, category)], 0)
            / choices), 1),
        {{categories:Array(String)}}
    ) AS opt_in
"""
_WHERE = """
WHERE site = {site:String}
  AND hour >= toStartOfHour(toDateTime({start:DateTime64(3, 'UTC')}, 'UTC'))
  AND hour < toDateTime({end:DateTime64(3, 'UTC')}, 'UTC')
"""
_SQL = f"SELECT {_FIGURES} FROM consent_counts {_WHERE}"  # noqa: S608 (constant text)
_BY_REGIME = (
    f"SELECT regime, {_FIGURES} FROM consent_counts {_WHERE} "  # noqa: S608 (constant text)
    "GROUP BY regime ORDER BY regime"
)


def consent_figures(
    storage: Storage, q: StatsQuery, categories: Sequence[str] = ("analytics", "marketing")
) -> dict[str, Any]:
    """Banner outcomes and opt-in rates for ``q``'s site and range (filters ignored).

    ``categories`` are the optional consent categories to give an opt-in rate
    for (``Settings.consent_categories`` less ``necessary``).
    """
    categories = [c for c in categories if c != "necessary"]
    stamp = "%Y-%m-%d %H:%M:%S"
    parameters = {
        "site": q.site,
        "start": q.start.strftime(stamp),
        "end": q.end.strftime(stamp),
        "categories": categories,
    }
    client = thread_client(storage)
    result = client.query(_SQL, parameters=parameters)
    figures = _figures(result.column_names, result.result_rows[0], categories)
    split = client.query(_BY_REGIME, parameters=parameters)
    figures["by_regime"] = {
        row[0] or UNRECORDED: _figures(split.column_names[1:], row[1:], categories)
        for row in split.result_rows
    }
    return figures


UNRECORDED = "unrecorded"
"""The ``by_regime`` key of outcomes counted before the regime was (migration 0020)."""


def _figures(names: Sequence[str], values: Sequence[Any], categories: list[str]) -> dict[str, Any]:
    row = dict(zip(names, values, strict=True))
    row["opt_in"] = dict(zip(categories, row["opt_in"], strict=True))
    del row["granted"]
    return row
