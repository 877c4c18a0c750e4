"""The rollups (stats_daily, stats_window, stats_recent) answer exactly what the raw tables answer.

Every panel is asked on the scripted visits of tests/stats_visits.py (plus a
visit across midnight and one today) twice: before the roll-up, when the
rollup tables are empty and everything is read raw, and after
``rollup.refresh``, when the finished days come from ``stats_daily`` and the
merged windows, today from ``stats_recent``, and only what came after its
refresh from the raw tables. The answers must be the same, with and without
filters, for whole days, several days and part days. An erasure rolls the
visitor's days up again, so the counts drop by the visitor.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.analytics.events import visitor_key
from gateway.privacy.erasure import erase_everywhere
from gateway.stats import (
    BREAKDOWN_PROPERTIES,
    METRICS,
    StatsQuery,
    aggregate,
    breakdown,
    next_pages,
    period_range,
    timeseries,
)
from gateway.stats.properties import PROPERTIES
from gateway.stats.rollup import marked, refresh, served
from gateway.storage import Storage
from gateway.storage.migrator import load_migrations, render
from tests.analytics_helpers import FIREFOX, IPHONE
from tests.chdb import migrated_storage
from tests.stats_visits import LONDON, PARIS, SITE, _e, day_d, write_events, write_scripted_visits

LANDING_PROPERTIES = [p.plausible for p in PROPERTIES.values() if p.landing_only]
VISIT_PROPERTIES = (
    "visit:entry_page",
    "visit:exit_page",
    "visit:source",
    "visit:utm_source",
    "visit:country",
    "visit:browser",
    "visit:os",
    "visit:device",
)


def _today() -> datetime:
    return day_d() + timedelta(days=1)


def _more_visits(storage: Storage, spool: Path) -> None:
    """A visit from the evening before day D into day D, one today (never rolled up), and
    visits 5 and 28 days before D, so that the 7-day and 30-day windows are merged."""
    d, today = day_d(), _today()
    before = d - timedelta(days=1)
    write_events(
        storage,
        spool,
        [
            _e("s8", "A", FIREFOX, "/blog", d - timedelta(days=28), "09:00", LONDON),
            _e("s9", "H", FIREFOX, "/", d - timedelta(days=5), "09:00", PARIS),
            _e("s6", "F", IPHONE, "/", before, "23:50", PARIS),
            _e("s6", "F", IPHONE, "/blog", before, "23:58", PARIS, referrer="http://gateway.test/"),
            _e("s6", "F", IPHONE, "/pricing", d, "00:10", PARIS, referrer="http://gateway.test/b"),
            _e("s7", "G", FIREFOX, "/blog", today, "00:00:01", LONDON),
        ],
    )


def _questions() -> list[StatsQuery]:
    d, now = day_d(), datetime.now(UTC)
    seven, thirty = period_range("7d", now), period_range("30d", now)
    return [
        StatsQuery(SITE, d, d + timedelta(days=1)),  # day D, all rolled up
        StatsQuery(SITE, d - timedelta(days=1), d + timedelta(days=1)),  # across midnight
        StatsQuery(SITE, *seven),  # a window (after 03:00 UTC) and today, raw
        StatsQuery(SITE, *thirty),
        StatsQuery(SITE, d - timedelta(days=3), d + timedelta(days=2)),  # days and today
        StatsQuery(SITE, d + timedelta(hours=10), d + timedelta(hours=13)),  # part day: raw
        StatsQuery(SITE, d, d + timedelta(days=1), {"country": "GB"}),  # filtered: raw
    ]


def _answers(storage: Storage, questions: list[StatsQuery] | None = None) -> dict[str, Any]:
    """Every panel for every question (or ``questions``), keyed by a readable name."""
    out: dict[str, Any] = {}
    for q in _questions() if questions is None else questions:
        name = f"{q.start:%m-%d %H}..{q.end:%m-%d %H} {dict(q.filters)}"
        out[f"{name} aggregate"] = aggregate(storage, q, METRICS)
        out[f"{name} daily"] = timeseries(storage, q, METRICS, hourly=False)
        out[f"{name} hourly"] = timeseries(storage, q, ["visitors", "pageviews"], hourly=True)
        for page in ("/", "/blog"):
            out[f"{name} next {page}"] = next_pages(storage, q, page, k=1)
            out[f"{name} next {page} limit=1"] = next_pages(storage, q, page, 1, k=1)
            # k 2 and 3 fold the next pages under k into OTHER, counting each visitor once
            for k in (2, 3):
                out[f"{name} next {page} k={k}"] = next_pages(storage, q, page, k=k)
                out[f"{name} next {page} k={k} limit=1"] = next_pages(storage, q, page, 1, k=k)
        for prop in BREAKDOWN_PROPERTIES:
            metrics = ["visitors", "visits", "pageviews", "views_per_visit"]
            if prop in LANDING_PROPERTIES:  # only the landing view carries them
                metrics = ["visitors", "visits"]
            if prop in VISIT_PROPERTIES:
                metrics += ["bounce_rate", "visit_duration"]
            # limit 2 with k 1, limit 1 with k 2: the rollup merges only the values that can
            # make the top rows, and counts them without states when none is folded
            for k, limit in ((1, 100), (2, 100), (1, 2), (2, 1)):
                rows = breakdown(storage, q, prop, metrics, limit, k=k)
                out[f"{name} {prop} k={k} limit={limit}"] = rows
    return out


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    storage = migrated_storage()
    write_scripted_visits(storage, tmp_path_factory.mktemp("spool"))
    _more_visits(storage, tmp_path_factory.mktemp("spool"))
    # A refresh can run between the two writes (seen in about one run in five: the days
    # of the first write rolled up, the days only the second write has left out), and a
    # rolled day is never rolled again. The tests start from no rollups instead.
    _truncate_rollups(storage)
    return storage


def _value(storage: Storage, sql: str) -> Any:
    client = storage.connect()
    try:
        return client.query(sql).result_rows[0][0]
    finally:
        client.close()


def _now(storage: Storage, sql: str = "SELECT now64(3, 'UTC')") -> datetime:
    moment: datetime = _value(storage, sql)
    return moment.replace(tzinfo=UTC)


def _count(storage: Storage, sql: str) -> int:
    return int(_value(storage, sql))


def _truncate_rollups(storage: Storage) -> None:
    client = storage.connect()
    try:
        for table in ("stats_daily", "stats_window", "stats_recent"):
            client.command(f"TRUNCATE TABLE {table}")
    finally:
        client.close()


def test_rolled_up_answers_equal_the_raw_answers(storage: Storage) -> None:
    refresh(storage)  # rolls up nothing: the migration's first refresh saw no events
    _truncate_rollups(storage)
    raw = _answers(storage)
    refresh(storage)
    rolled_days = _count(storage, "SELECT uniqExact(day) FROM stats_daily")
    # D-1 is always over; D is once 03:00 UTC has passed today. Today never is.
    assert rolled_days >= 2
    assert _count(storage, "SELECT countIf(day >= today()) FROM stats_daily") == 0
    assert _count(storage, "SELECT uniqExact(span) FROM stats_window") >= 2
    assert _answers(storage) == raw
    # Day D read through the rollup still gives the hand-worked figures.
    d = day_d()
    assert aggregate(storage, StatsQuery(SITE, d, d + timedelta(days=1)), ["visitors"]) == {
        "visitors": 5  # A, B, C, D, and F, whose visit began the evening before
    }


def test_only_whole_unfiltered_days_are_served_by_the_rollup() -> None:
    d = day_d()
    assert served(StatsQuery(SITE, d, d + timedelta(days=2)))
    assert not served(StatsQuery(SITE, d, d + timedelta(days=2)), hourly=True)
    assert not served(StatsQuery(SITE, d + timedelta(hours=1), d + timedelta(days=2)))
    assert not served(StatsQuery(SITE, d, d + timedelta(days=2), {"page": "/"}))


def test_a_second_refresh_adds_nothing(storage: Storage) -> None:
    refresh(storage)
    before = _count(storage, "SELECT count() FROM stats_daily")
    windows = _count(storage, "SELECT count() FROM stats_window")
    answers = _answers(storage, _thirty_days())
    refresh(storage)
    assert _count(storage, "SELECT count() FROM stats_daily") == before
    assert _count(storage, "SELECT count() FROM stats_window") == windows
    # Every refresh of the recent rows stays until it expires; a query reads the newest.
    assert _count(storage, "SELECT uniqExact(upto) FROM stats_recent") >= 2
    assert _answers(storage, _thirty_days()) == answers


def test_erasure_rolls_the_visitors_days_up_again(storage: Storage) -> None:
    refresh(storage)
    d = day_d()
    two_days = StatsQuery(SITE, d - timedelta(days=1), d + timedelta(days=1))
    assert aggregate(storage, two_days, ["visitors", "pageviews"]) == {
        "visitors": 6,  # A B C D E F
        "pageviews": 12,  # 8 on D, 1 by E, 3 by F
    }
    f_id = "F" * 8 + "0" * 24  # tests/stats_visits.py's consent id of visitor F
    erased_at = _now(storage)
    erase_everywhere(storage, f_id)
    # The recent rows were dropped with the rest and made again from the cleaned events.
    assert _now(storage, "SELECT min(upto) FROM stats_recent") > erased_at - timedelta(minutes=1)
    assert aggregate(storage, two_days, ["visitors", "pageviews"]) == {
        "visitors": 5,
        "pageviews": 9,
    }
    # The rebuilt days are rolled up again, and no rolled row counts F any more.
    assert _count(storage, "SELECT uniqExact(day) FROM stats_daily") >= 2
    rolled = _count(
        storage,
        "SELECT uniqCombined64Merge(visitors) FROM stats_daily WHERE dim = 'page' AND value = '/'",
    )
    raw = _count(
        storage,
        "SELECT uniqCombined64(visitor_key) FROM events WHERE path = '/' AND kind = 'pageview' "
        "AND toDate(time) <= (SELECT max(day) FROM stats_daily)",
    )
    assert rolled == raw  # F viewed / on D-1: not counted any more
    assert (
        _count(
            storage,
            f"SELECT count() FROM events WHERE visitor_key = '{visitor_key(f_id)}'",
        )
        == 0
    )


def test_whole_days_are_read_from_the_rollup_not_the_events(storage: Storage) -> None:
    refresh(storage)
    d = day_d() - timedelta(days=1)
    client = storage.connect()
    client.command(
        "INSERT INTO stats_daily (site, day, dim, from_page, value, pageviews) "
        "VALUES ('no-events.example', {day:Date}, '', '', '', 1000)",
        parameters={"day": d.date()},
    )
    whole_day = StatsQuery("no-events.example", d, d + timedelta(days=1))
    assert aggregate(storage, whole_day, ["pageviews"]) == {"pageviews": 1000}
    part_day = StatsQuery("no-events.example", d, d + timedelta(hours=23))
    assert aggregate(storage, part_day, ["pageviews"]) == {"pageviews": 0}


def test_the_window_layout_migration_can_run_again(storage: Storage) -> None:
    """0008 drops the merged windows and makes them anew (and 0010 sets their expiry
    again): the answers stay the same while they are gone (read from stats_daily) and
    once the next refresh has merged them."""
    refresh(storage)
    assert _count(storage, "SELECT count() FROM stats_window") > 0
    before = _answers(storage)
    client = storage.connect()
    for migration in [m for m in load_migrations() if m.version in (8, 10)]:
        for statement in migration.statements:
            sql = render(statement, storage.database, "")
            if sql is not None:
                client.command(sql)
    assert _count(storage, "SELECT count() FROM stats_window") == 0
    assert _answers(storage) == before
    refresh(storage)
    assert _count(storage, "SELECT count() FROM stats_window") > 0
    assert _answers(storage) == before


def test_each_dimensions_window_rows_are_stored_most_visitors_first(storage: Storage) -> None:
    refresh(storage)
    client = storage.connect()
    rows = client.query(
        "SELECT site, span, dim, groupArray(visitor_count) FROM (SELECT *, _part AS part "
        "FROM stats_window ORDER BY _part, _part_offset) GROUP BY part, site, span, dim"
    ).result_rows
    assert rows
    for site, span, dim, counts in rows:
        assert counts == sorted(counts, reverse=True), (site, span, dim)


def _views(storage: Storage, spool: Path, at: datetime, script: list[tuple[str, str]]) -> None:
    """Visitor J's page views ``(session, path)``, a second apart from ``at`` on."""
    referrer = "http://gateway.test/"
    views = []
    for second, (session, path) in enumerate(script):
        moment = at + timedelta(seconds=second)
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        clock = f"{moment:%H:%M:%S}"
        views.append(_e(session, "J", FIREFOX, path, day, clock, LONDON, referrer=referrer))
    write_events(storage, spool, views)


def _now_on_the_day_of(ago: timedelta) -> datetime:
    """Now, to the second, once ``ago`` before it is the same UTC day (waiting out the
    first moments after midnight): a visit whose events reach ClickHouse on both sides
    of midnight counts as two visits, one each day (gateway/stats/sql.py)."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - ago < midnight:
        time.sleep((midnight + ago - now).total_seconds() + 1)
        now = datetime.now(UTC)
    return now.replace(microsecond=0)


def _thirty_days() -> list[StatsQuery]:
    return [StatsQuery(SITE, *period_range("30d", datetime.now(UTC)))]


def test_events_after_the_newest_recent_refresh_are_read_raw(
    storage: Storage, tmp_path: Path
) -> None:
    refresh(storage)
    now = datetime.now(UTC).replace(microsecond=0)
    assert now > _now(storage, "SELECT max(upto) FROM stats_recent")  # so it cannot hold them
    _views(storage, tmp_path, now, [("s10", "/"), ("s10", "/blog")])
    served_answers = _answers(storage, _thirty_days())
    _truncate_rollups(storage)
    assert _answers(storage, _thirty_days()) == served_answers
    refresh(storage)  # and the next refresh holds them, with the same answers
    assert _answers(storage, _thirty_days()) == served_answers


def test_a_visit_running_at_a_refresh_ends_where_the_next_refresh_finds_it(
    storage: Storage, tmp_path: Path
) -> None:
    """Page views count at once; the visit's exit page, length and bounce as they stood at
    the newest refresh, until the next one (at most five minutes)."""
    now = _now_on_the_day_of(timedelta(minutes=2))
    # Two minutes ago: before the cut of the refresh, a minute before it.
    _views(storage, tmp_path, now - timedelta(minutes=2), [("s11", "/"), ("s11", "/about")])
    refresh(storage)
    _views(storage, tmp_path, now, [("s11", "/contact")])
    (thirty,) = _thirty_days()

    def contact(prop: str) -> list[dict[str, Any]]:
        rows = breakdown(storage, thirty, prop, ["visitors", "pageviews"], k=1)
        return [row for row in rows if row[prop.split(":")[1]] == "/contact"]

    assert contact("event:page") == [{"page": "/contact", "visitors": 1, "pageviews": 1}]
    assert contact("visit:exit_page") == []  # s11 still ends on /about
    refresh(storage)
    assert contact("visit:exit_page") == [{"exit_page": "/contact", "visitors": 1, "pageviews": 3}]


def test_marks_read_once_for_a_page_answer_the_same_after_a_refresh(storage: Storage) -> None:
    """A page reads where the rollups end once (rollup.marked) and asks all its questions
    with those marks; a day rolled up and a window merged meanwhile change nothing."""
    refresh(storage)
    (q,) = _thirty_days()
    expected = _answers(storage, [q])
    assert _answers(storage, [marked(storage, q)]) == expected
    newest = _value(storage, "SELECT max(day) FROM stats_daily")
    client = storage.connect()
    client.command(f"ALTER TABLE stats_daily DROP PARTITION '{newest.isoformat()}'")
    client.command("TRUNCATE TABLE stats_window")
    # The recent rows were made after that day: with the day gone they are not used.
    before = marked(storage, q)  # the marks of a page that began before the refresh
    assert before.marks is not None and before.marks.rolled_day < newest
    assert before.marks.recent_upto == datetime(1970, 1, 1, tzinfo=UTC)
    assert _answers(storage, [q]) == expected
    refresh(storage)
    assert _answers(storage, [before]) == expected
