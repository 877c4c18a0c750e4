"""Every statistic against figures worked out by hand from tests/stats_visits.py.

The visits go through the real ingest steps and writer into the real engine;
the sessions come from the real materialized view. Each expected number below
is derived in a comment from the script's table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.exceptions import BadStatsQuery
from gateway.stats import (
    DIRECT,
    FILTERS,
    METRICS,
    OTHER,
    StatsQuery,
    aggregate,
    breakdown,
    consent_figures,
    next_pages,
    parse_filters,
    period_range,
    realtime,
    timeseries,
)
from gateway.stats.filters import Clause, Filter, Match
from gateway.storage import Storage, storage_from_settings
from tests.analytics_helpers import FIREFOX
from tests.chdb import migrated_storage
from tests.conftest import make_settings
from tests.servers import run_server
from tests.stats_visits import SITE, day_d, write_events, write_scripted_visits


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    storage = migrated_storage()
    write_scripted_visits(storage, tmp_path_factory.mktemp("spool"))
    return storage


def day(**filters: str | Filter) -> StatsQuery:
    d = day_d()
    return StatsQuery(SITE, d, d + timedelta(days=1), filters)


def test_every_metric_of_day_d(storage: Storage) -> None:
    assert aggregate(storage, day(), METRICS) == {
        "visitors": 4,  # A, B, C, D (E was the day before)
        "visits": 5,  # s1..s5
        "pageviews": 8,  # 3 + 1 + 2 + 1 + 1
        "views_per_visit": 1.6,  # 8 / 5
        "bounce_rate": 40,  # s2 and s5 of 5 (s4 has a custom event)
        "visit_duration": 78,  # (240 + 0 + 120 + 31 + 0) / 5 = 78.2
    }


def test_only_the_metrics_asked_for_in_their_order(storage: Storage) -> None:
    assert list(aggregate(storage, day(), ["bounce_rate", "visitors"])) == [
        "bounce_rate",
        "visitors",
    ]
    assert aggregate(storage, day(), ["visit_duration"]) == {"visit_duration": 78}
    assert aggregate(storage, day(), ["views_per_visit"]) == {"views_per_visit": 1.6}


def test_previous_period_is_the_day_before(storage: Storage) -> None:
    before = day().previous()
    assert (before.start, before.end) == (day_d() - timedelta(days=1), day_d())
    assert aggregate(storage, before, ["visitors", "pageviews", "bounce_rate"]) == {
        "visitors": 1,  # E
        "pageviews": 1,
        "bounce_rate": 100,
    }


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # s1, s2, s4 (A twice, C): 3 + 1 + 1 views; bounce s2; (240 + 0 + 31) / 3
        ({"country": "GB"}, (2, 3, 5, 33, 90)),
        ({"city": "London"}, (2, 3, 5, 33, 90)),
        ({"browser": "Safari"}, (1, 1, 2, 0, 120)),  # Mobile Safari, as Plausible names it
        ({"device": "Desktop"}, (3, 4, 6, 50, 68)),  # s1 s2 s4 s5: 271 / 4 = 67.75
        # visits that saw /blog: s1..s4; page views of /blog only; (240+0+120+31)/4 = 97.75
        ({"page": "/blog"}, (3, 4, 4, 25, 98)),
        ({"source": DIRECT}, (3, 3, 4, 67, 40)),  # s2 s3 s5: 120 / 3
        ({"source": "Google"}, (1, 1, 3, 0, 240)),  # www.google.com
        ({"utm_campaign": "launch"}, (1, 1, 2, 0, 120)),  # the whole of s3, not just its landing
        ({"utm_source": "newsletter"}, (1, 1, 2, 0, 120)),
        ({"exit_page": "/pricing"}, (2, 2, 4, 50, 120)),  # s1 s5: 240 / 2
        ({"country": "GB", "source": DIRECT}, (1, 1, 1, 100, 0)),  # s2
        ({"country": "XX"}, (0, 0, 0, 0, 0)),
    ],
)
def test_filters(storage: Storage, filters: dict[str, str], expected: tuple[int, ...]) -> None:
    metrics = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]
    got = aggregate(storage, day(**filters), metrics)
    assert tuple(got[m] for m in metrics) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("visit:country==FR|DE", (2, 2, 3, 50, 60)),  # s3 s5: (120 + 0) / 2
        ("visit:country!=GB", (2, 2, 3, 50, 60)),
        ("visit:country!=GB|FR", (1, 1, 2, 0, 120)),  # s3
        ("event:page==/b*", (3, 4, 4, 25, 98)),  # as /blog
        ("event:page==/blog|/pricing", (4, 5, 6, 40, 78)),  # every visit: 391 / 5
        ("event:page==/**", (4, 5, 8, 40, 78)),
        ("event:page!=/blog", (3, 3, 4, 33, 120)),  # s1 s3 s5 saw other pages: 2 + 1 + 1 views
        ("visit:source!=Direct / None", (2, 2, 4, 0, 136)),  # s1 s4: 271 / 2
        ("visit:source==Goo*|Hacker News", (2, 2, 4, 0, 136)),
        ("visit:browser==Firefox;visit:country==GB|FR", (3, 4, 6, 50, 68)),  # s1 s2 s4 s5
        ("visit:device==Desktop;visit:device!=Desktop", (0, 0, 0, 0, 0)),
        ("visit:city_name==Lon\\|don", (0, 0, 0, 0, 0)),  # a literal bar: no such city
    ],
)
def test_filter_operators(storage: Storage, text: str, expected: tuple[int, ...]) -> None:
    """Plausible's ``|``, ``!=``, ``*`` and ``**`` and ``\\|``, as the API reads them."""
    metrics = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]
    got = aggregate(storage, day(**parse_filters(text)), metrics)
    assert tuple(got[m] for m in metrics) == expected


def test_hourly_timeseries_fills_every_hour(storage: Storage) -> None:
    rows = timeseries(storage, day(), ["visitors", "pageviews", "bounce_rate"])
    assert len(rows) == 24
    d = day_d().strftime("%Y-%m-%d")
    assert rows[0] == {"date": f"{d} 00:00:00", "visitors": 0, "pageviews": 0, "bounce_rate": 0}
    by_hour = {
        row["date"][11:13]: (row["visitors"], row["pageviews"], row["bounce_rate"]) for row in rows
    }
    assert by_hour["10"] == (1, 3, 0)  # s1
    assert by_hour["11"] == (1, 2, 0)  # s3
    assert by_hour["12"] == (1, 1, 0)  # s4
    assert by_hour["13"] == (1, 1, 100)  # s5
    assert by_hour["14"] == (1, 1, 100)  # s2
    assert sum(row["pageviews"] for row in rows) == 8


def test_daily_timeseries_beyond_two_days(storage: Storage) -> None:
    d = day_d()
    q = StatsQuery(SITE, d - timedelta(days=3), d + timedelta(days=1))
    rows = timeseries(storage, q, ["visitors", "visits"])
    assert rows == [
        {"date": (d - timedelta(days=n)).strftime("%Y-%m-%d"), "visitors": v, "visits": s}
        for n, v, s in ((3, 0, 0), (2, 0, 0), (1, 1, 1), (0, 4, 5))
    ]
    two_days = StatsQuery(SITE, d - timedelta(days=1), d + timedelta(days=1))
    assert len(timeseries(storage, two_days, ["visitors"])) == 48


def test_page_breakdown_with_k_1(storage: Storage) -> None:
    assert breakdown(storage, day(), "event:page", ["visitors", "pageviews"], k=1) == [
        {"page": "/blog", "visitors": 3, "pageviews": 4},  # A (s1, s2), B, C
        {"page": "/", "visitors": 2, "pageviews": 2},  # A, B
        {"page": "/pricing", "visitors": 2, "pageviews": 2},  # A, D
    ]


def test_rows_under_k_fold_into_other_counting_each_visitor_once(storage: Storage) -> None:
    rows = breakdown(storage, day(), "event:page", ["visitors", "pageviews"], k=3)
    # "/" (A, B) and "/pricing" (A, D) fold: A, B, D are 3 visitors, not 2 + 2.
    assert rows == [
        {"page": "/blog", "visitors": 3, "pageviews": 4},
        {"page": OTHER, "visitors": 3, "pageviews": 4},
    ]
    # Everything folds, and the folded row itself counts 4 < 5 visitors: withheld too.
    assert breakdown(storage, day(), "visit:country", ["visitors"], k=5) == [
        {"country": OTHER, "visitors": None, "withheld": True}
    ]


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ("visit:entry_page", [("/", 2, 2), ("/blog", 2, 2), ("/pricing", 1, 1)]),
        ("visit:exit_page", [("/blog", 3, 3), ("/pricing", 2, 2)]),
        (
            "visit:source",
            [(DIRECT, 3, 3), ("Google", 1, 1), ("Hacker News", 1, 1)],
        ),
        ("visit:utm_source", [("newsletter", 1, 1)]),
        ("visit:utm_medium", [("email", 1, 1)]),
        ("visit:utm_campaign", [("launch", 1, 1)]),
        ("visit:country", [("GB", 2, 3), ("DE", 1, 1), ("FR", 1, 1)]),
        ("visit:region_name", [("England", 2, 3), ("Bavaria", 1, 1), ("Ile-de-France", 1, 1)]),
        ("visit:city_name", [("London", 2, 3), ("Munich", 1, 1), ("Paris", 1, 1)]),
        ("visit:browser", [("Firefox", 3, 4), ("Safari", 1, 1)]),
        ("visit:os", [("GNU/Linux", 3, 4), ("iOS", 1, 1)]),
        ("visit:device", [("Desktop", 3, 4), ("Mobile", 1, 1)]),
    ],
)
def test_breakdowns(storage: Storage, prop: str, expected: list[tuple[str, int, int]]) -> None:
    name = FILTERS[prop]  # the short name: region for visit:region_name
    rows = breakdown(storage, day(), prop, ["visitors", "visits"], k=1)
    assert [(row[name], row["visitors"], row["visits"]) for row in rows] == expected


def test_visit_metrics_break_down_by_visit_properties(storage: Storage) -> None:
    rows = breakdown(storage, day(), "visit:source", ["bounce_rate", "visit_duration"], k=1)
    assert rows[0] == {"source": DIRECT, "bounce_rate": 67, "visit_duration": 40}
    country = breakdown(storage, day(), "visit:country", ["pageviews", "bounce_rate"], k=1)
    assert country[0] == {"country": "GB", "pageviews": 5, "bounce_rate": 33}
    with pytest.raises(BadStatsQuery, match="bounce_rate"):
        breakdown(storage, day(), "event:page", ["bounce_rate"], k=1)


def test_breakdown_with_a_filter(storage: Storage) -> None:
    rows = breakdown(storage, day(country="GB"), "event:page", ["visitors", "pageviews"], k=1)
    assert rows == [
        {"page": "/blog", "visitors": 2, "pageviews": 3},  # s1, s2, s4
        {"page": "/", "visitors": 1, "pageviews": 1},
        {"page": "/pricing", "visitors": 1, "pageviews": 1},
    ]
    assert breakdown(storage, day(), "event:page", ["visitors"], limit=1, k=1) == [
        {"page": "/blog", "visitors": 3}
    ]


def test_next_pages(storage: Storage) -> None:
    assert next_pages(storage, day(), "/", k=1) == [
        {"page": "/blog", "visitors": 2, "pageviews": 2}
    ]
    assert next_pages(storage, day(), "/blog", k=1) == [
        {"page": "/pricing", "visitors": 1, "pageviews": 1}
    ]
    assert next_pages(storage, day(), "/", k=3) == [
        {"page": OTHER, "visitors": None, "pageviews": None, "withheld": True}
    ]
    assert next_pages(storage, day(), "/nowhere", k=1) == []


def test_realtime_counts_the_last_5_and_30_minutes(tmp_path: Path) -> None:
    storage = migrated_storage()
    now = datetime.now(UTC)
    recent, older = (
        (now - timedelta(minutes=2)).timestamp(),
        (now - timedelta(minutes=20)).timestamp(),
    )
    old = (now - timedelta(minutes=40)).timestamp()
    write_events(
        storage,
        tmp_path,
        [
            ("r1", "F", FIREFOX, {"path": "/", "at": recent, "site": "rt"}),
            ("r2", "G", FIREFOX, {"path": "/", "at": older, "site": "rt"}),
            ("r3", "H", FIREFOX, {"path": "/", "at": old, "site": "rt"}),
            ("r4", "I", FIREFOX, {"path": "/", "at": recent, "site": "elsewhere"}),
        ],
    )
    assert realtime(storage, "rt", now) == {"last_5_minutes": 1, "last_30_minutes": 2}


def test_periods() -> None:
    now = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
    midnight = datetime(2026, 3, 15, tzinfo=UTC)
    assert period_range("day", now) == (midnight, midnight + timedelta(days=1))
    assert period_range("yesterday", now) == (midnight - timedelta(days=1), midnight)
    assert period_range("7d", now) == (midnight - timedelta(days=6), midnight + timedelta(days=1))
    assert period_range("30d", now)[0] == midnight - timedelta(days=29)
    assert period_range("month", now) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert period_range("day", now, "2026-03-01")[0] == datetime(2026, 3, 1, tzinfo=UTC)
    assert period_range("custom", now, "2026-03-01,2026-03-02") == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert period_range("realtime", now) == (now - timedelta(minutes=30), now)
    for period, date in [("custom", None), ("custom", "2026-03-02,2026-03-01"), ("custom", "x,y"),
                         ("week", None), ("day", "15/03/2026")]:  # fmt: skip
        with pytest.raises(BadStatsQuery):
            period_range(period, now, date)


def test_filter_syntax() -> None:
    assert parse_filters("event:page==/blog;visit:country==GB") == {
        "page": Filter.equal("/blog"),
        "country": Filter.equal("GB"),
    }
    assert parse_filters("visit:source==Direct / None") == {"source": Filter.equal(DIRECT)}
    assert parse_filters("") == {}
    either = Clause(((Match.IS, "FR"), (Match.IS, "a|b"), (Match.WILDCARD, "/b*")), negated=True)
    assert parse_filters(r"visit:country!=FR|a\|b|/b*") == {"country": Filter((either,))}
    goal = Clause(((Match.IS, "Signup"), (Match.IS, "Visit /apply")))
    assert parse_filters("event:goal==Signup|Visit /apply") == {"goal": Filter((goal,))}
    for bad in ["event:page=/blog", "visit:ip==1.2.3.4", "event:name==Signup", "event:page"]:
        with pytest.raises(BadStatsQuery):
            parse_filters(bad)


def test_bad_questions_are_refused(storage: Storage) -> None:
    with pytest.raises(BadStatsQuery, match="metric"):
        aggregate(storage, day(), ["visitors", "sessions"])
    with pytest.raises(BadStatsQuery, match="property"):
        breakdown(storage, day(), "visit:ip", ["visitors"])
    with pytest.raises(BadStatsQuery, match="limit"):
        breakdown(storage, day(), "event:page", ["visitors"], limit=0)
    with pytest.raises(BadStatsQuery, match="filter"):
        StatsQuery(SITE, day_d(), day_d() + timedelta(days=1), {"ip": "1.2.3.4"})
    with pytest.raises(BadStatsQuery):
        StatsQuery(SITE, day_d(), day_d())


def test_consent_figures_from_real_banner_choices(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path, site_id="consent-test")
    browser = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin"}
    with run_server(create_app(settings)) as url:
        for body, extra in [
            ({"action": "accept_all"}, {}),
            ({"action": "reject_all"}, {}),
            ({"categories": {"analytics": True, "marketing": False}}, {"sec-gpc": "1"}),
            (None, {}),  # saw the banner, chose nothing
        ]:
            with httpx.Client(base_url=url, headers={**browser, **extra}) as visitor:
                state = visitor.get("/_consent/state").json()  # the banner shows: counted
                assert state["must_show"] is True
                if body is not None:
                    answer = visitor.post(
                        "/_consent/state", json=body, headers={"x-csrf-token": state["csrf"]}
                    )
                    assert answer.status_code == 200, answer.text
    # The server has stopped: its writers flushed the counts.
    now = datetime.now(UTC)
    q = StatsQuery("consent-test", now - timedelta(days=1), now + timedelta(hours=1))
    storage = storage_from_settings(settings)
    figures = consent_figures(storage, q, settings.consent_categories)
    everything = {
        "shown": 4,
        "accepted": 1,
        "rejected": 1,
        "custom": 1,
        "objected": 0,
        "withdrawn": 0,
        "choices": 3,
        "acceptance_rate": 33.3,
        "rejection_rate": 33.3,
        "custom_rate": 33.3,
        "objection_rate": 0.0,
        "gpc_share": 25.0,  # one display of four went to a browser sending Sec-GPC
        "opt_in": {"preferences": 33.3, "analytics": 66.7, "marketing": 33.3},
    }
    # Every choice was made under the default regime, opt-in: its split is the whole.
    assert figures == {**everything, "by_regime": {"opt-in": everything}}
    assert consent_figures(storage, q.previous(), ["analytics"])["shown"] == 0


def test_a_visit_written_in_two_batches_is_one_visit(tmp_path: Path) -> None:
    storage = migrated_storage()
    d = day_d()
    first, second = (d + timedelta(hours=9)).timestamp(), (d + timedelta(hours=9, minutes=5))
    for path, at in [("/a", first), ("/b", second.timestamp())]:  # two writers, two inserts
        write_events(
            storage, tmp_path, [("x", "Z", FIREFOX, {"path": path, "at": at, "site": "split"})]
        )
    assert storage.connect().query("SELECT count() FROM sessions_agg").result_rows[0][0] == 2
    q = StatsQuery("split", d, d + timedelta(days=1))
    assert aggregate(storage, q, ["visits", "bounce_rate", "visit_duration"]) == {
        "visits": 1,
        "bounce_rate": 0,
        "visit_duration": 300,
    }
    assert breakdown(storage, q, "entry_page", ["visits"], k=1) == [
        {"entry_page": "/a", "visits": 1}
    ]
    assert breakdown(storage, q, "exit_page", ["visits"], k=1) == [{"exit_page": "/b", "visits": 1}]
