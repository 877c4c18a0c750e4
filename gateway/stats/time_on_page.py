"""Plausible's ``time_on_page``: how long a page was looked at before the visit went on.

The events of a visit (page views and custom events, not engagement beacons) are
put in time order, and each but the last is timed to the next one, in whole
seconds (Plausible's timestamps are). The times are summed per (page, next
page, visit); a page's time on page is its sums' total over the number of sums
that lead to a *different* page: a reload, or a custom event on the page, adds
its time without counting as a new look. A visit's last page is not timed
onward, and a bounce not at all. Several pages (the aggregate, a wildcard
filter) weigh their times together: the totals over the counts. This is
Plausible's definition for data without engagement time (``Legacy.TimeOnPage``),
read from the raw events, which are kept a month.

The question's filters choose the visits; a filter on the page chooses which
pages are timed, never which page views count as "the next one".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway.stats.query import StatsQuery
from gateway.stats.sql import event_where, parameters
from gateway.storage import Storage
from gateway.storage.threads import thread_client

METRIC = "time_on_page"

_TIMED = """
SELECT path, sum(duration) AS seconds, countIf(onward) AS looks
FROM (
    SELECT path, next_path != path AS onward, sum(next_at - at) AS duration
    FROM (
        SELECT
            path,
            session_id,
            toInt64(toUnixTimestamp(time)) AS at,
            leadInFrame(toInt64(toUnixTimestamp(time))) OVER visit AS next_at,
            leadInFrame(path) OVER visit AS next_path
        FROM events
        WHERE {where} AND kind != 'engagement'
        WINDOW visit AS (
            PARTITION BY session_id ORDER BY time ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING
        )
    )
    WHERE next_at != 0 AND {timed}
    GROUP BY path, next_path, session_id
)
GROUP BY path
"""


def _timed(storage: Storage, q: StatsQuery, timed: str, **more: Any) -> dict[str, tuple[int, int]]:
    """Each timed page's total seconds and count of onward looks, for ``q``'s visits."""
    visits = replace(q, filters={n: f for n, f in q.filters.items() if n != "page"}, marks=None)
    sql = _TIMED.format(where=event_where(visits), timed=timed)
    result = thread_client(storage).query(sql, parameters=parameters(q, **more))
    return {path: (int(seconds), int(looks)) for path, seconds, looks in result.result_rows}


def _seconds(total: int, looks: int) -> int | None:
    return round(total / looks) if looks else None


def time_on_page(storage: Storage, q: StatsQuery) -> int:
    """The time on the pages ``q``'s page filter keeps (every page without one), in
    seconds; 0 when no page view of them was followed by another."""
    timed = q.conditions["page"].sql("path", "f_page") if "page" in q.filters else "1"
    pages = _timed(storage, q, timed).values()
    return _seconds(sum(s for s, _ in pages), sum(n for _, n in pages)) or 0


def times_on_pages(storage: Storage, q: StatsQuery, pages: Sequence[str]) -> dict[str, int | None]:
    """The time on each of ``pages`` (a page breakdown's rows), ``None`` for a page no
    page view of which was followed by another."""
    found = _timed(storage, q, "path IN {timed_pages:Array(String)}", timed_pages=list(pages))
    return {page: _seconds(*found.get(page, (0, 0))) for page in pages}
