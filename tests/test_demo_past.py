"""The demo's past: a month of visits through the real ingest steps, a year of history."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.demo.past import fill_past, first_day
from gateway.stats import history
from gateway.stats.annotations import list_annotations
from gateway.stats.query import StatsQuery, period_range
from gateway.storage import Storage
from tests.chdb import migrated_storage
from tests.conftest import make_settings

pytestmark = pytest.mark.slow  # a month of events through the writer and the rollups: ~15 s

SITE = "demo"


def test_the_past_month_never_starts_past_the_events_ttl() -> None:
    for today, first in [
        (date(2026, 12, 6), date(2026, 11, 7)),  # Nov 6 + 1 month is today: expired
        (date(2026, 3, 30), date(2026, 3, 1)),  # February has 28 days
        (date(2026, 1, 15), date(2025, 12, 16)),
        (date(2026, 3, 1), date(2026, 2, 2)),
    ]:
        assert first_day(today) == first


def test_the_demo_fills_a_month_with_a_school_week_and_a_year_with_an_admissions_season(
    tmp_path: Path,
) -> None:
    storage: Storage = migrated_storage()
    settings = make_settings("http://127.0.0.1:9", tmp_path, site_id=SITE)
    today = datetime.now(UTC).date()
    days = (today - first_day(today)).days  # 28 to 30: since this date last month
    done = fill_past(storage, settings, {SITE: 600, "second": 600})
    assert f"over {days} days; second: " in done and "demo: 365 days of history" in done
    client = storage.connect()
    per_day: dict[Any, int] = dict(
        client.query(
            "SELECT toDate(time), uniq(session_id) FROM events WHERE kind = 'pageview' "
            "AND site = 'demo' GROUP BY 1"
        ).result_rows  # type: ignore[arg-type]
    )
    assert len(per_day) == days and min(per_day) == first_day(today)
    by_weekday: Counter[int] = Counter()
    for day, visits in per_day.items():
        by_weekday[day.weekday()] += visits
    assert min(by_weekday[n] for n in range(5)) > by_weekday[5]  # Saturdays are quiet
    hours: dict[int, int] = dict(
        client.query("SELECT toHour(time), count() FROM events GROUP BY 1").result_rows  # type: ignore[arg-type]
    )
    assert hours.get(20, 0) > 4 * hours.get(3, 0)  # evenings, not nights
    # The year before the month is in the history, every row at or above k, with its seasons.
    months: dict[int, int] = dict(
        client.query(
            "SELECT toMonth(day), sum(visitors) FROM stats_history FINAL WHERE dim = '' "
            "AND site = 'demo' GROUP BY 1"
        ).result_rows  # type: ignore[arg-type]
    )
    assert months[10] > 2 * months[8]  # open evenings and the deadline against the summer
    k = settings.stats_min_visitors
    assert client.query(f"SELECT count() FROM stats_history WHERE visitors < {k}").result_rows == [
        (0,)
    ]
    # The month's days were rolled into the history too, through the real rollup.
    for site in (SITE, "second"):  # every site's month, through the real rollup
        rolled = client.query(
            "SELECT count(DISTINCT day) FROM stats_history WHERE day >= {first:Date} "
            "AND site = {site:String}",
            parameters={"first": min(per_day), "site": site},
        ).result_rows[0][0]
        assert rolled >= days - 2, site
    client.close()
    start, end = period_range("12mo", datetime.now(UTC))
    totals = history.aggregate(storage, StatsQuery(SITE, start, end), ["visitors", "pageviews"])
    assert totals["visitors"] > 10_000 and totals["pageviews"] > totals["visitors"]
    assert "already there" in fill_past(storage, settings, {SITE: 600})
    # Annotations on both sites' charts, once however often the demo starts.
    for site in (SITE, "second"):
        texts = [note.text for note in list_annotations(storage, site)]
        assert texts.count("Open evening") == 1 and "Secondary applications deadline" in texts
