"""The rollups: where they end for a question, and bringing them up to date.

Two tables hold, per site, day, dimension and value, the mergeable columns of
:data:`gateway.stats.metrics.COLUMNS` (``uniqCombined64`` states of visitor keys
and session ids, page views, and per visit dimension the visits, bounces and
seconds of the visits that started that day):

``stats_daily`` (migration ``0007_stats_daily.sql``)
    each day once it is over (by 03:00 UTC the next day), appended hourly; the
    merged windows of ``stats_window`` (0008) hold its usual 30- and 7-day spans.
``stats_recent`` (migration ``0009_stats_recent.sql``)
    the days after the newest rolled one, up to a moment (``upto``) a minute
    before its latest refresh, computed whole every five minutes; a query reads
    only the newest refresh (:data:`RECENT`).

They serve a question only when it has no filter and starts and ends at
midnight UTC (every dashboard range does, :func:`served`); :mod:`gateway.stats.rows`
reads them, and the raw tables for the rest, in the same query.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from clickhouse_connect.driver.client import Client

from gateway.exceptions import StorageError
from gateway.stats.query import RollupMarks, StatsQuery
from gateway.stats.sql import parameters
from gateway.storage import Storage
from gateway.storage.threads import thread_client

ROLLED = "(SELECT max(day) FROM stats_daily SETTINGS optimize_use_implicit_projections = 1)"
"""The last day the rollup holds: every day up to it is read from there (the partition
key's min-max index answers this without reading a row)."""

WINDOW = (
    "(SELECT max(last_day) FROM stats_window WHERE site = {site:String} AND dim = '' "
    "AND first_day = toDate({start:DateTime64(3, 'UTC')}) "
    "AND last_day < toDate({end:DateTime64(3, 'UTC')}))"
)
"""The last day of the newest merged window that starts with the range, or 1970-01-01.

Each window is kept whole in its own partition (its last day) until it expires, so
the newest one is always complete, and the days after it are in stats_daily. Only
the whole-site rows (``dim = ''``) are looked at: every window that has rows has one
(a visit's first event is in the window its start is), and the key finds them
without reading the window's other rows. Each dimension's rows are stored from the
most visitors down, 16 a granule (migration 0008), so the few values a top-N panel
merges (:mod:`gateway.stats.topn`) share a granule or two."""

RECENT = (
    "(SELECT (max(upto), any(after)) FROM stats_recent WHERE upto = "
    "(SELECT max(upto) FROM stats_recent SETTINGS optimize_use_implicit_projections = 1))"
)
"""The newest refresh of ``stats_recent``: up to when, and after which day.

Its rows count the events before ``upto`` (and the visits that started before
it) of every day after ``after``, the newest rolled day when it was computed.
Each refresh covers every site, so the newest one is the newest for each site:
a site it has no rows of had no events before its cut. Each refresh is one
part in its own partition, written at once; the partitions' min-max index
gives the newest without reading a row, and its ``after`` is in that one
partition. With no refresh yet (or only expired ones), both are 1970-01-01.
See :data:`RECENT_UPTO`."""

RECENT_UPTO = "if(recent.2 > rolled_day, toDateTime64(0, 3, 'UTC'), recent.1)"
"""Where the raw rows begin after the rolled days: the newest recent refresh's cut.

A query reads that refresh's rows for the days after its own newest rolled
day, and the raw rows from the cut on. A refresh made after a day that
``stats_daily`` no longer holds (an erasure drops rolled days until it has
rolled them up again) lacks that day's rows, so it is not used at all: the cut
is then 1970-01-01 and everything after the rolled days is read raw."""


def served(q: StatsQuery, *, hourly: bool = False) -> bool:
    """Whether the rollup can serve ``q``: no filter (nor goal), whole UTC days, not by the
    hour."""
    whole_days = all(
        moment.hour == moment.minute == moment.second == moment.microsecond == 0
        for moment in (q.start, q.end)
    )
    return whole_days and not q.filters and q.goals is None and not hourly


def markers(q: StatsQuery, *, hourly: bool = False) -> str:
    """The ``WITH`` that a query over the rollups starts with: where each rollup ends.

    Read in the query, or bound from ``q.marks`` when the page read them once
    for all its queries (:func:`marked`).
    """
    if not served(q, hourly=hourly):
        return ""
    if q.marks is None:
        return (
            f"WITH {ROLLED} AS rolled_day, {WINDOW} AS window_day, {RECENT} AS recent, "
            f"{RECENT_UPTO} AS recent_upto "
        )
    return (
        "WITH {rolled_day:Date} AS rolled_day, {window_day:Date} AS window_day, "
        "{recent_upto:DateTime64(3, 'UTC')} AS recent_upto "
    )


def marked(storage: Storage, q: StatsQuery) -> StatsQuery:
    """``q`` with the rollups' marks, read once, for a page that asks many questions of it.

    The marks stay right for as long as a page takes: a day rolled up meanwhile is
    still read raw (the rolled rows are read up to ``rolled_day`` only), a newer
    window or recent refresh leaves the older one in place for minutes.
    """
    if not served(q):
        return q
    sql = f"{markers(replace(q, marks=None))}SELECT rolled_day, window_day, recent_upto"
    rolled_day, window_day, upto = (
        thread_client(storage).query(sql, parameters=parameters(q)).result_rows[0]
    )
    marks = RollupMarks(rolled_day, window_day, upto.replace(tzinfo=UTC))
    return replace(q, marks=marks)


def refresh(storage: Storage, timeout: float = 3600) -> None:
    """Roll up every finished day not yet in ``stats_daily``, merge the windows, roll up the
    hours since into ``stats_recent``, and wait.

    The scheduled refreshes do the same on their own; the benchmark, the tests and
    an erasure call this to have it at once. ``SYSTEM WAIT VIEW`` returns at once
    when the refresh asked for has not started yet, so this watches
    ``system.view_refreshes`` for a finished attempt newer than the last one.
    On a cluster the refresh is asked of every node, and this node is watched.
    """
    on_cluster = f" ON CLUSTER {storage.cluster}" if storage.cluster else ""
    client = storage.connect()
    try:
        for view in ("stats_daily_refresh", "stats_window_refresh", "stats_recent_refresh"):
            # Twice: a refresh already running (the hourly one, or the first one after
            # the migration) may have started before the latest rows; the second
            # finds only what the first missed, if anything.
            for _ in range(2):
                before = _last_attempt(client, view)
                if before.this_second:
                    time.sleep(1)  # attempts are stamped to the second: be a second later
                client.command(f"SYSTEM REFRESH VIEW {view}{on_cluster}")
                deadline = time.monotonic() + timeout
                while True:
                    attempt = _last_attempt(client, view)
                    if attempt.status == "Scheduled" and attempt.last not in (None, before.last):
                        break
                    if time.monotonic() > deadline:
                        raise StorageError(f"The {view} refresh did not finish in {timeout} s.")
                    time.sleep(0.05)
                if attempt.error:
                    raise StorageError(
                        f"The {view} refresh failed: {attempt.error.splitlines()[0]}"
                    )
    finally:
        client.close()


class _Attempt(NamedTuple):
    """A refreshable view's last refresh attempt."""

    status: str
    last: datetime | None  # when it was made, to the second (the engine's clock)
    error: str
    this_second: bool  # made in the engine's current second


def _last_attempt(client: Client, view: str) -> _Attempt:
    rows = client.query(
        "SELECT status, last_refresh_time, exception, last_refresh_time >= now() "
        "FROM system.view_refreshes WHERE database = currentDatabase() AND view = {view:String}",
        parameters={"view": view},
    ).result_rows
    if not rows:
        raise StorageError(f"There is no {view} view; run `consent-gateway migrate`.")
    status, last, error, this_second = rows[0]
    return _Attempt(str(status), last, str(error), bool(this_second))


def refreshing(client: Client, view: str = "stats_daily_refresh") -> bool:
    """Whether a refresh of ``view`` is running now (on a cluster: this node's)."""
    return _last_attempt(client, view).status == "Running"


def visitor_first_day(storage: Storage, key: str) -> date | None:
    """The first day the visitor with ``key`` (a visitor key) has events on, if any."""
    client = storage.connect()
    try:
        rows = client.query(
            "SELECT min(toDate(time)) FROM events WHERE visitor_key = {key:UUID} "
            "HAVING count() > 0",
            parameters={"key": key},
        ).result_rows
    finally:
        client.close()
    return rows[0][0] if rows else None


def rebuild_from(storage: Storage, first: date) -> None:
    """Roll up again every day from ``first`` on, after an erasure cleaned the raw tables.

    The rolled rows hold sketches of the erased visitor's key, so they go: the
    recent rows and the merged windows first, then each day's partition from
    ``first`` on (until then a query reads those days from the raw tables,
    which are already clean), and the refreshes roll the days up again from
    the cleaned rows.
    """
    suffix = "_local" if storage.cluster else ""
    on_cluster = f" ON CLUSTER {storage.cluster}" if storage.cluster else ""
    client = storage.connect()
    try:
        for table in ("stats_recent", "stats_window"):
            client.command(f"TRUNCATE TABLE IF EXISTS {table}{suffix}{on_cluster}")
        last = client.query("SELECT max(day) FROM stats_daily").result_rows[0][0]
        day = first
        while day <= last:  # a partition per day; a day without one is skipped
            client.command(
                f"ALTER TABLE stats_daily{suffix}{on_cluster} DROP PARTITION '{day.isoformat()}'"
            )
            day += timedelta(days=1)
    finally:
        client.close()
    refresh(storage)
