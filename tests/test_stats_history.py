"""The anonymous history on the real engine: written by the daily rollup, 25 months, k.

The scripted visits of tests/stats_visits.py (day D, yesterday, and one visitor the day
before) go through the real writer, the rollups and the history's rollup with k = 2;
a year-old day is written to the history as its rollup would have written it then.
The stats API of a real gateway then answers a 12-month question from the history and
compares it with the year before; an erasure leaves the history as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from gateway.privacy.erasure import erase_everywhere
from gateway.privacy.notice import outline
from gateway.privacy.retention import format_report, retention_report
from gateway.stats.history import VISITORS_ARE, year_before
from gateway.stats.history_rollup import forget_from, roll_history
from gateway.stats.query import StatsQuery
from gateway.stats.rollup import refresh
from gateway.stats.tokens import create_token
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import PASSWORD, add_account, login
from tests.browser import axe_violations, screenshot
from tests.conftest import make_settings
from tests.servers import run_gateway, run_server
from tests.stats_visits import SITE, day_d, write_scripted_visits
from tests.upstreams import create_upstream

pytestmark = pytest.mark.slow  # a gateway, the rollups and an erasure: about 20 s

K = 2
COUNTS = ("visitors", "visits", "pageviews", "sessions", "bounces", "duration")


@dataclass(frozen=True)
class History:
    public: str
    url: str
    token: str
    storage: Storage

    def get(self, path: str, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(
            f"{self.url}/api/v1/stats/{path}",
            params={"site_id": SITE, **params},
            headers=headers,
            timeout=30,
        )

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        client = self.storage.connect()
        try:
            return [tuple(row) for row in client.query(sql).result_rows]
        finally:
            client.close()


def rolled_day() -> datetime:
    """This module's day D: yesterday once the rollups hold it (from 03:00 UTC, when its
    late visits are in), else the day before, so the history has D at any hour."""
    d = day_d()
    return d if datetime.now(UTC) >= d + timedelta(days=1, hours=3) else d - timedelta(days=1)


def _a_year_ago() -> Any:
    d = rolled_day()
    return year_before(StatsQuery(SITE, d, d + timedelta(days=1))).start.date()


def recent() -> Any:
    return rolled_day().date() - timedelta(days=60)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    tmp_path = tmp_path_factory.mktemp("history")
    with run_server(create_upstream()) as upstream:
        settings = make_settings(upstream, tmp_path, site_id=SITE, stats_min_visitors=K)
        with run_gateway(settings) as (public, admin):
            storage = storage_from_settings(settings)
            write_scripted_visits(storage, tmp_path / "spool", day=rolled_day())
            refresh(storage)
            assert roll_history(storage, K)
            # Two months back (in the 12 months, before the events' month); a day a year
            # back, as the rollup wrote them then; and the day after that one, which a
            # comparison with a history ending on day D must leave out.
            old = _a_year_ago()
            client = storage.connect()
            client.insert(
                "stats_history",
                [
                    (SITE, recent(), "", "", 6, 6, 12, 0, 0, 0),
                    (SITE, recent(), "visit", "", 6, 6, 12, 6, 3, 600),
                    (SITE, old, "", "", 10, 12, 30, 0, 0, 0),
                    (SITE, old, "visit", "", 10, 12, 30, 12, 6, 1200),
                    (SITE, old, "country", "GB", 6, 7, 20, 7, 3, 700),
                    (SITE, old + timedelta(days=1), "", "", 7, 7, 7, 0, 0, 0),
                ],
                column_names=["site", "day", "dim", "value", *COUNTS],
            )
            client.close()
            _, token = create_token(storage, "history", "test", all_sites=True)
            add_account(storage, "admin@example.org", "admin")
            yield History(public, admin, token, storage)


def test_the_rollup_writes_day_d_with_a_25_month_ttl_and_nothing_about_a_visitor(
    history: History,
) -> None:
    (ddl,) = history.rows(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'stats_history'"
    )[0]
    assert "TTL day + toIntervalMonth(25)" in ddl
    columns = dict(
        history.rows(
            "SELECT name, type FROM system.columns "
            "WHERE database = currentDatabase() AND table = 'stats_history'"
        )
    )
    assert columns == {
        "site": "LowCardinality(String)",
        "day": "Date",
        "dim": "LowCardinality(String)",
        "value": "String",
        **dict.fromkeys(COUNTS, "UInt64"),
    }
    d = rolled_day().date()
    totals = history.rows(
        f"SELECT dim, {', '.join(COUNTS)} FROM stats_history FINAL "
        f"WHERE day = '{d}' AND dim IN ('', 'visit') ORDER BY dim"
    )
    assert totals == [("", 4, 5, 8, 0, 0, 0), ("visit", 4, 5, 8, 5, 2, 391)]
    # Visitor E, alone on the day before, is under k: that day is not stored at all.

    assert history.rows(f"SELECT count() FROM stats_history WHERE day = '{d - timedelta(1)}'") == [
        (0,)
    ]
    # DE (B) and FR (D), one visitor each, are folded into (other), which has two.
    countries = history.rows(
        f"SELECT value, visitors FROM stats_history FINAL WHERE day = '{d}' "
        "AND dim = 'country' ORDER BY value"
    )
    assert countries == [("(other)", 2), ("GB", 2)]
    assert history.rows(f"SELECT count() FROM stats_history WHERE visitors < {K}") == [(0,)]
    # Rolling again (another worker, the next hour) adds nothing.
    assert roll_history(history.storage, K)
    assert history.rows(f"SELECT count() FROM stats_history FINAL WHERE day = '{d}'") == [(18,)]
    # Late events: the day is taken out and rolled up again, the same.
    day_rows = f"SELECT * FROM stats_history FINAL WHERE day = '{d}' ORDER BY ALL"
    before = history.rows(day_rows)
    forget_from(history.storage, d)
    assert history.rows(day_rows) == []
    assert roll_history(history.storage, K)
    assert history.rows(day_rows) == before


def test_a_12_month_question_is_answered_from_the_history_and_compared_with_the_year_before(
    history: History,
) -> None:
    metrics = "visitors,visits,pageviews,bounce_rate,visit_duration"
    answer = history.get("aggregate", period="12mo", metrics=metrics, compare="year")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["results"] == {
        "visitors": {"value": 10, "change": 0, "comparison_value": 10},
        "visits": {"value": 11, "change": -8, "comparison_value": 12},
        "pageviews": {"value": 20, "change": -33, "comparison_value": 30},
        "bounce_rate": {"value": 45, "change": -5, "comparison_value": 50},
        "visit_duration": {"value": 90, "change": -10, "comparison_value": 100},
    }
    assert body["history"]["through"] == rolled_day().date().isoformat()
    assert body["history"]["visitors"] == VISITORS_ARE

    # A range back beyond the month with no history day there yet: the events answer.
    d = rolled_day().date()
    recent_range = history.get("aggregate", period="custom", date=f"{d - timedelta(40)},{d}")
    assert recent_range.json() == {"results": {"visitors": {"value": 5}}}

    series = history.get("timeseries", period="12mo", metrics="visitors,pageviews").json()
    assert len(series["results"]) == 12
    month, before = (day.replace(day=1).isoformat() for day in (rolled_day().date(), recent()))
    assert [row for row in series["results"] if row["visitors"]] == [
        {"date": before, "visitors": 6, "pageviews": 12},
        {"date": month, "visitors": 4, "pageviews": 8},
    ]

    countries = history.get("breakdown", period="12mo", property="visit:country").json()
    assert countries["results"] == [
        {"country": "GB", "visitors": 2},
        {"country": "(other)", "visitors": 2},
    ]
    sources = history.get("breakdown", period="12mo", property="visit:source").json()
    assert sources["results"] == [
        {"source": "Direct / None", "visitors": 3},
        {"source": "(other)", "visitors": 2},
    ]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"path": "aggregate", "filters": "visit:country==GB"}, "Filters (country)"),
        ({"path": "breakdown", "property": "visit:city_name"}, "'city'"),
        ({"path": "aggregate", "metrics": "events"}, "'events'"),
        ({"path": "timeseries", "interval": "hour"}, "interval=date or month"),
        ({"path": "breakdown", "property": "event:goal"}, "event:goal"),
        (
            {
                "path": "aggregate",
                "compare": "year",
                "filters": "visit:country==GB",
                "period": "7d",
            },
            "Filters (country)",
        ),
        (
            {
                "path": "aggregate",
                "compare": "year",
                "period": "custom",
                "date": "1970-01-01,1970-01-31",
            },
            "from 1971 on",
        ),
    ],
)
def test_what_the_history_cannot_answer_is_a_400_naming_it(
    history: History, params: dict[str, str], named: str
) -> None:
    path = params.pop("path")
    answer = history.get(path, **{"period": "12mo", **params})
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["error"]


def test_the_dashboard_shows_12_months_from_the_history(history: History) -> None:
    client, answer = login(history.url, "admin@example.org")
    assert answer.status_code == 303
    html = client.get(f"/sites/{SITE}", params={"period": "12mo", "compare": "1"}).text
    assert 'data-range="12mo"' in html and 'aria-current="page" data-range="12mo"' in html
    assert 'id="history-note"' in html, html[html.find("<main") :][:3000]
    assert VISITORS_ARE.replace("'", "&#39;") in html
    assert f"through {rolled_day().date().isoformat()}" in html
    assert "<dt>Daily visitors (sum)</dt><dd>10 " in html
    assert "Visitors by month" in html
    assert 'country=GB">GB</a>' in html  # the countries panel, from the history
    # A year before: the same 12 months (ending with the history) a year earlier.
    year = client.get(f"/sites/{SITE}", params={"period": "12mo", "compare": "year"}).text
    assert "compared with the same period a year before" in year
    assert '<dt>Daily visitors (sum)</dt><dd>10 <span class="change same"' in year
    assert 'title="previous period: 10"' in year
    filtered = client.get(f"/sites/{SITE}", params={"period": "12mo", "country": "GB"})
    assert filtered.status_code == 400 and "Filters (country)" in filtered.text
    csv = client.get(f"/sites/{SITE}/export/countries.csv", params={"period": "12mo"})
    assert csv.status_code == 200 and csv.text.splitlines()[1:] == ['"GB",2,3', '"(other)",2,2']


def test_the_retention_report_notice_and_privacy_page_state_both_retentions(
    history: History,
) -> None:
    settings = make_settings("http://127.0.0.1:9", stats_min_visitors=K)
    report = retention_report(history.storage, settings)
    (table,) = [t for t in report["tables"] if t["table"] == "stats_history"]
    assert table["ttl"] == "day + 25 months" and table["within_limit"]
    assert table["limit_days"] == 25 * 31 + 31  # and one monthly partition
    text = format_report(report)
    assert "analytics kept one month" in text and "history" in text and "25 months" in text
    notice = str(outline(settings))
    assert "Analytics: one month" in notice and "25 months" in notice
    page = httpx.get(f"{history.public}/_consent/privacy", timeout=30).text
    assert "deleted automatically after one month" in page and "25 months" in page


@pytest.mark.browser
def test_the_12_month_range_in_a_real_browser(
    history: History, page: Page, page_errors: list[str]
) -> None:
    page.goto(f"{history.url}/login?next=/sites/{SITE}")
    page.get_by_label("E-mail address").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator('a[data-range="12mo"]').click()
    expect(page).to_have_url(f"{history.url}/sites/{SITE}?period=12mo")
    expect(page.locator("#history-note")).to_contain_text("sum of each day's unique visitors")
    expect(page.locator("#panel-top")).to_contain_text("Daily visitors (sum)")
    expect(page.locator("#panel-timeseries h2")).to_contain_text("Visitors by month")
    expect(page.locator("#panel-countries")).to_contain_text("GB")
    page.get_by_label("Compare with a year before").check()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"period=12mo&.*compare=year$"))
    expect(page.locator(".legend")).to_contain_text("a year before")
    screenshot(page, "dashboard-12-months")
    assert axe_violations(page, "main") == []
    assert page_errors == []


def test_an_erasure_takes_nothing_from_the_history(history: History) -> None:
    before = history.rows("SELECT * FROM stats_history FINAL ORDER BY ALL")
    visitor_a = f"{'A' * 8}{'0' * 24}"
    assert erase_everywhere(history.storage, visitor_a)
    assert history.rows("SELECT * FROM stats_history FINAL ORDER BY ALL") == before
