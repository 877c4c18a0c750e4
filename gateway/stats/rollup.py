"""Where a statistics query reads its rows: the rollups for what they hold, raw for the rest.

Two tables hold, per site, day, dimension and value, mergeable counts:
``uniqCombined64`` states of visitor keys and session ids (exact up to 8,192 in
a row, about 0.3 % off beyond), page views, and per visit dimension the
visits, bounces and seconds of the visits that started that day.

``stats_daily`` (migration ``0007_stats_daily.sql``)
    each day once it is over (by 03:00 UTC the next day), appended hourly; the
    merged windows of ``stats_window`` (0008) hold its usual 30- and 7-day spans.
``stats_recent`` (migration ``0009_stats_recent.sql``)
    the days after the newest rolled one, up to a moment (``upto``) a minute
    before its latest refresh, computed whole every five minutes; a query reads
    only the newest refresh (:data:`RECENT`).

Every query here builds the same rows from each part and merges them:

* the days ``stats_daily`` holds (up to ``max(day)`` of the table), through
  the newest window that starts with the range and the days after it;
* the later days up to ``upto``, from ``stats_recent``;
* every later moment (a few minutes), live from ``events`` or ``sessions_agg``,
  aggregated into the same states; visits count by their start, so a visit
  that started before ``upto`` is counted as it stood at the refresh.

Merging the states counts a visitor of several parts once, as
``uniqCombined64`` over the raw rows does, so the answer does not depend on which
part served a day; tests/test_stats_rollup.py checks each panel both ways. The
rollups serve a question only when it has no filter and starts and ends at
midnight UTC (every dashboard range does); a filtered or part-day question
reads everything live, as before.

Each builder returns the text of a subquery with the columns ``key`` (the
breakdown value, the time bucket, or none), ``visitors``, ``visits``,
``pageviews``, ``sessions``, ``bounces`` and ``duration``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from clickhouse_connect.driver.client import Client

from gateway.exceptions import StorageError
from gateway.stats.query import RollupMarks, StatsQuery
from gateway.stats.sql import event_where, parameters, sessions
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
without reading the window's other quarter of a million rows (2.5 ms of every
30-day query on 10 million events). Each
dimension's rows are stored from the most visitors down, 16 a granule (migration
0008), so the few values a top-N panel merges (:func:`gateway.stats.queries._contenders`)
share a granule or two."""

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
gives the newest without reading a row (the same marker read per site, from
the rows, took 10 to 15 ms with the twenty refreshes the benchmark left
behind), and its ``after`` is in that one partition. With no refresh yet (or
only expired ones), both are 1970-01-01. See :data:`RECENT_UPTO`."""

RECENT_UPTO = "if(recent.2 > rolled_day, toDateTime64(0, 3, 'UTC'), recent.1)"
"""Where the raw rows begin after the rolled days: the newest recent refresh's cut.

A query reads that refresh's rows for the days after its own newest rolled
day, and the raw rows from the cut on. A refresh made after a day that
``stats_daily`` no longer holds (an erasure drops rolled days until it has
rolled them up again) lacks that day's rows, so it is not used at all: the cut
is then 1970-01-01 and everything after the rolled days is read raw."""

EVENT_DIMS = ("page", "next", "region", "city", "utm_medium", "utm_campaign")
"""Dimensions rolled up from the events (``''`` is the whole site)."""

SESSION_DIMS = (
    "entry_page",
    "exit_page",
    "source",
    "utm_source",
    "country",
    "browser",
    "os",
    "device",
)
"""Dimensions rolled up from the sessions (``visit`` is the whole site)."""

LATER_EVENTS = "toDate(time) > rolled_day AND time >= recent_upto"
"""The events that no rollup holds: after the rolled days, from the recent rows' cut on."""

LATER_VISITS = (
    "start_date > rolled_day AND first_time >= recent_upto "
    "AND (recent_upto = toDateTime64(0, 3, 'UTC') OR session_id IN (SELECT session_id "
    "FROM sessions_agg WHERE site = {site:String} AND start_date > rolled_day "
    "AND first_time >= recent_upto))"
)
"""The visits that no rollup holds: started after the rolled days, from the cut on.

A visit started at the cut or later when its merged ``first_time`` is, which
``FINAL`` knows only after reading and merging every visit of the day (about
5 ms of each visit panel's query on 10 million events, twice in a top-N
panel). A visit that did has all its rows at the cut or later, so the ids of
the rows that are, read without merging, narrow the merged read to those
visits through the table's key (not needed when everything is read raw)."""

_EVENT_STATES = (
    "uniqCombined64(visitor_key) AS visitor_count, uniqCombined64State(visitor_key) AS visitors, "
    "uniqCombined64State(session_id) AS visits, "
    "countIf(kind = 'pageview') AS pageviews, toUInt64(0) AS sessions, "
    "toUInt64(0) AS bounces, toUInt64(0) AS duration"
)
_SESSION_STATES = (
    "uniqCombined64(visitor_key) AS visitor_count, uniqCombined64State(visitor_key) AS visitors, "
    "uniqCombined64State(session_id) AS visits, "
    "toUInt64(sum(page_count)) AS pageviews, count() AS sessions, "
    "countIf(bounce) AS bounces, toUInt64(sum(duration)) AS duration"
)
_COUNT = "uniqCombined64(visitor_key) AS visitor_count"
_COLUMNS = "toUInt64(visitor_count) AS visitor_count, visitors, visits, " + (
    "toUInt64(pageviews) AS pageviews, toUInt64(sessions) AS sessions, "
    "toUInt64(bounces) AS bounces, toUInt64(duration) AS duration"
)


def served(q: StatsQuery, *, hourly: bool = False) -> bool:
    """Whether the rollup can serve ``q``: no filter, whole UTC days, not by the hour."""
    whole_days = all(
        moment.hour == moment.minute == moment.second == moment.microsecond == 0
        for moment in (q.start, q.end)
    )
    return whole_days and not q.filters and not hourly


def markers(q: StatsQuery, *, hourly: bool = False) -> str:
    """The ``WITH`` that a query over these rows starts with: where each rollup ends.

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

    Each query's own markers took about 10 ms of it (bench/dashboard.py). The
    marks stay right for as long as a page takes: a day rolled up meanwhile is
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


def event_rows(
    q: StatsQuery,
    dim: str,
    key: str = "",
    *,
    where: str = "",
    from_page: bool = False,
    counts: bool = False,
) -> str:
    """The rows of ``dim`` from the events, grouped by ``key`` (an events expression).

    ``dim`` is ``''`` (the whole site), ``page``, ``next`` (``from_page``: the
    page the views came from), ``region``, ``city``, ``utm_medium`` or
    ``utm_campaign``; ``where`` narrows the live rows the same way the rollup
    narrowed its rows of ``dim`` when it was built. A ``key`` of
    ``toStartOfDay(time)`` is read as ``day`` from the rollup.
    """
    live = f"WHERE {event_where(q)}{where}"
    states = _COUNT if counts else _EVENT_STATES
    return _rows(q, dim, key, f"{states} FROM events {live}", "time", from_page, counts=counts)


def session_rows(
    q: StatsQuery, dim: str, key: str = "", *, where: str = "", counts: bool = False
) -> str:
    """The rows of ``dim`` from the sessions that started in ``q``, grouped by ``key``.

    ``dim`` is ``visit`` (the whole site) or one of :data:`SESSION_DIMS`; the
    key is an expression over the columns of :func:`~gateway.stats.sql.sessions`
    (``referrer`` for the source, ``toStartOfDay(start_time)`` for days).
    """
    rolled = served(q, hourly=key.startswith("toStartOfHour"))
    source = f"({sessions(q, later=LATER_VISITS if rolled else '')})"
    states = _COUNT if counts else _SESSION_STATES
    live = f"{states} FROM {source} AS s {'WHERE ' + where if where else ''}"
    return _rows(q, dim, key, live, "start_time", False, rolled_already=rolled, counts=counts)


def _rows(
    q: StatsQuery,
    dim: str,
    key: str,
    live: str,
    time_column: str,
    from_page: bool,
    *,
    rolled_already: bool | None = None,
    counts: bool = False,
) -> str:
    """``live`` (rows from the raw tables) after the rollup's: window, days, then raw."""
    hourly = key.startswith("toStartOfHour")
    rolled = served(q, hourly=hourly) if rolled_already is None else rolled_already
    if _bucket(key):
        key_live, key_rolled = (
            f"toDateTime({key}, 'UTC') AS key, ",
            "toDateTime(day, 'UTC') AS key, ",
        )
    elif key:
        key_live, key_rolled = f"toString({key}) AS key, ", "value AS key, "
    else:
        key_live = key_rolled = ""
    group = " GROUP BY key" if key else ""
    if rolled and time_column == "time":
        live = f"{live} AND {LATER_EVENTS}"
    text = f"SELECT {key_live}{live}{group}"
    if not rolled:
        return text
    page = "{from_page:String}" if from_page else "''"
    columns = "toUInt64(visitor_count) AS visitor_count" if counts else _COLUMNS
    of_dim = f"site = {{site:String}} AND dim = '{dim}' AND from_page = {page}"
    in_range = (
        "day >= toDate({start:DateTime64(3, 'UTC')}) AND day < toDate({end:DateTime64(3, 'UTC')})"
    )
    days = (
        f"SELECT {key_rolled}{columns} FROM stats_daily "  # noqa: S608 (constant names only)
        f"WHERE {of_dim} AND {in_range} AND day <= rolled_day"
    )
    recent = (
        f"SELECT {key_rolled}{columns} FROM stats_recent "  # noqa: S608 (constant names only)
        f"WHERE {of_dim} AND upto = recent_upto AND day > rolled_day AND {in_range}"
    )
    text = f"{recent} UNION ALL {text}"
    if dim == "next" or _bucket(key):
        return f"{days} UNION ALL {text}"
    window = (
        f"SELECT {key_rolled}{columns} FROM stats_window "  # noqa: S608 (constant names only)
        f"WHERE {of_dim} AND span = toUInt8(window_day - toDate({{start:DateTime64(3, 'UTC')}})) "
        f"AND first_day = toDate({{start:DateTime64(3, 'UTC')}}) AND last_day = window_day"
    )
    return f"{window} UNION ALL {days} AND day > window_day UNION ALL {text}"


def _bucket(key: str) -> bool:
    return key.startswith(("toStartOfDay", "toStartOfHour"))


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
                before = _last_attempt(client, view)[1]
                if before is not None and before >= _now(client):
                    time.sleep(1)  # attempts are stamped to the second: be a second later
                client.command(f"SYSTEM REFRESH VIEW {view}{on_cluster}")
                deadline = time.monotonic() + timeout
                while True:
                    status, last, error = _last_attempt(client, view)
                    if status == "Scheduled" and last is not None and last != before:
                        break
                    if time.monotonic() > deadline:
                        raise StorageError(f"The {view} refresh did not finish in {timeout} s.")
                    time.sleep(0.05)
                if error:
                    raise StorageError(f"The {view} refresh failed: {error.splitlines()[0]}")
    finally:
        client.close()


def _last_attempt(client: Client, view: str) -> tuple[str, datetime | None, str]:
    rows = client.query(
        "SELECT status, last_refresh_time, exception FROM system.view_refreshes "
        "WHERE database = currentDatabase() AND view = {view:String}",
        parameters={"view": view},
    ).result_rows
    if not rows:
        raise StorageError(f"There is no {view} view; run `consent-gateway migrate`.")
    status, last, error = rows[0]
    return str(status), last, str(error)


def refreshing(client: Client, view: str = "stats_daily_refresh") -> bool:
    """Whether a refresh of ``view`` is running now (on a cluster: this node's)."""
    return _last_attempt(client, view)[0] == "Running"


def _now(client: Client) -> datetime:
    return client.query("SELECT now()").result_rows[0][0]  # type: ignore[no-any-return]


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
