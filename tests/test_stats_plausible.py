"""Plausible's documented Stats API v1 queries asked of a real gateway: its answers, or a 400.

Every query below is one from Plausible's v1 reference (the endpoints' examples,
the periods, metrics, properties and filter operators it documents, its common
queries). Each runs against a real gateway holding the visits of
tests/plausible_reference.py, and is compared with the answer Plausible gives on
the same visits, worked out there in plain Python. k is 1 here (the k rule has
its own tests), so no row is folded. A query for something this API does not
offer must be a 400 whose sentence names it: never a 200 with a wrong number.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.stats import queries
from gateway.stats.filters import Clause, Filter, Match
from gateway.stats.query import StatsQuery, period_range
from gateway.stats.rollup import rebuild_from
from gateway.storage import Storage
from tests.conftest import make_settings
from tests.plausible_goals import GOALS, converting_by, goal_breakdown, goal_name, name_breakdown
from tests.plausible_goals import answer as plausible_answer
from tests.plausible_reference import (
    breakdown_rows,
    in_days,
    kept,
    period_days,
    scripted_visits,
    time_on_page,
    times_on_pages,
    write_visits,
)
from tests.servers import run_gateway, run_server
from tests.test_local_commands import cli
from tests.upstreams import create_upstream

SITE = "plausible.test"
TODAY = datetime.now(UTC).date()
VISITS = scripted_visits(TODAY)
DAY = (TODAY - timedelta(days=3)).isoformat()  # a day with visits


@dataclass(frozen=True)
class Gateway:
    url: str
    token: str

    def get(self, path: str, params: dict[str, str]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        query = {"site_id": SITE, **params}
        return httpx.get(f"{self.url}/api/v1/stats/{path}", params=query, headers=headers)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    from gateway.storage import storage_from_settings

    tmp_path = tmp_path_factory.mktemp("plausible")
    with run_server(create_upstream()) as upstream:
        settings = make_settings(
            upstream, tmp_path, site_id=SITE, stats_min_visitors=1, goals="; ".join(GOALS)
        )
        with run_gateway(settings) as (_, admin):
            storage = storage_from_settings(settings)
            write_visits(storage, tmp_path / "spool", VISITS, SITE)
            _roll_up_again(storage)
            running = replace(settings, admin_port=int(admin.rsplit(":", 1)[1]))
            created = cli(running, "token", "create", "plausible suite")
            assert created.returncode == 0, created.stderr
            yield Gateway(admin, created.stdout.strip().splitlines()[-1])


def _roll_up_again(storage: Storage) -> None:
    """Roll the scripted days up again, as the gateway does for late events
    (gateway.analytics.stale_days), until the rollups hold every visit.

    A refresh the gateway started (at start-up, or on its schedule) can run while
    the visits are written and roll some days up part-written (tests/test_stats_rollup.py
    sees the same); rolling up again from the first day then makes them whole.
    """
    now = datetime.now(UTC)
    # The periods the suite asks about: the whole history, and the windows the
    # rollups pre-merge (this week and the one before, for compare=previous_period).
    periods = [
        period_range("6mo", now, plausible=True),
        period_range("7d", now, plausible=True),
        period_range("7d", now - timedelta(days=7), plausible=True),
        period_range("30d", now, plausible=True),
    ]
    metrics = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]
    everything = Filter((Clause(((Match.IS, ""),), True),))  # read from the raw tables
    for _ in range(3):
        rebuild_from(storage, min(visit.start.date() for visit in VISITS))
        differ = []
        for start, end in periods:
            whole = StatsQuery(SITE, start, end)
            raw = replace(whole, filters={"country": everything})
            served, every = (queries.aggregate(storage, q, metrics) for q in (whole, raw))
            if served != every:
                differ.append((start.date(), end.date(), served, every))
        whole_raw = replace(StatsQuery(SITE, *periods[0]), filters={"country": everything})
        if not differ and queries.aggregate(storage, whole_raw, ["visits"])["visits"] == len(
            VISITS
        ):
            return
    raise AssertionError(f"the rollups differ from the events: {differ}")


def aggregate(params: dict[str, str]) -> dict[str, Any]:
    metrics = params.get("metrics", "visitors").split(",")
    first, last = period_days(params.get("period", "30d"), TODAY, params.get("date"))
    days, filters = in_days(VISITS, first, last), params.get("filters", "")
    counted = [name for name in metrics if name != "time_on_page"]
    now = plausible_answer(days, filters, counted) if counted else {}
    if "time_on_page" in metrics:
        now["time_on_page"] = time_on_page(days, filters)
    results = {name: {"value": value} for name, value in now.items()}
    if params.get("compare") == "previous_period":
        length = last - first + timedelta(days=1)
        before = in_days(VISITS, first - length, first - timedelta(days=1))
        then = plausible_answer(before, params.get("filters", ""), metrics)
        for name, value in then.items():
            if name == "conversion_rate":
                results[name]["change"] = round(now[name] - value, 1)
            elif name == "bounce_rate":
                results[name]["change"] = None if not (value or now[name]) else now[name] - value
            else:
                change = (now[name] - value) / value * 100 if value else (100 if now[name] else 0)
                results[name]["change"] = round(change)
            results[name]["comparison_value"] = value
    return {"results": results}


def timeseries(params: dict[str, str]) -> dict[str, Any]:
    metrics = params.get("metrics", "visitors").split(",")
    period = params.get("period", "30d")
    first, last = period_days(period, TODAY, params.get("date"))
    monthly = params.get("interval", "month" if period in ("6mo", "12mo") else "day") == "month"
    buckets: list[tuple[str, date, date]] = []
    day = first
    while day <= last:
        end = (day.replace(day=1) + timedelta(days=32)).replace(day=1) if monthly else day
        end = min(end - timedelta(days=1), last) if monthly else day
        buckets.append((day.strftime("%Y-%m-01" if monthly else "%Y-%m-%d"), day, end))
        day = end + timedelta(days=1)
    filters = params.get("filters", "")
    return {
        "results": [
            {"date": label, **plausible_answer(in_days(VISITS, a, b), filters, metrics)}
            for label, a, b in buckets
        ]
    }


def breakdown(params: dict[str, str]) -> dict[str, Any]:
    metrics = params.get("metrics", "visitors").split(",")
    first, last = period_days(params.get("period", "30d"), TODAY, params.get("date"))
    rows = kept(in_days(VISITS, first, last), params.get("filters", ""))
    answer = breakdown_rows(rows, params["property"], metrics)
    limit, page = int(params.get("limit", "100")), int(params.get("page", "1"))
    return {"results": answer[limit * (page - 1) : limit * page]}


ANSWERS = {"aggregate": aggregate, "timeseries": timeseries, "breakdown": breakdown}

# (endpoint, parameters) of each documented query that this API answers as Plausible does.
ANSWERED: list[tuple[str, dict[str, str]]] = [
    # The endpoints' own examples and the common queries
    ("aggregate", {"period": "6mo", "metrics": "visitors,pageviews,bounce_rate,visit_duration"}),
    ("timeseries", {"period": "6mo"}),
    ("breakdown", {"period": "6mo", "property": "visit:source", "metrics": "visitors,bounce_rate",
                   "limit": "5"}),
    ("breakdown", {"period": "6mo", "property": "event:page", "limit": "5"}),
    ("aggregate", {"period": "6mo", "filters": "event:page==/order/confirmation"}),
    ("timeseries", {"period": "6mo", "filters": "visit:source==Google"}),
    # Every period, relative to date or today
    ("aggregate", {"period": "12mo"}),
    ("aggregate", {"period": "month"}),
    ("aggregate", {"period": "month", "date": DAY}),
    ("aggregate", {"period": "30d"}),
    ("aggregate", {"period": "7d"}),
    ("aggregate", {"period": "7d", "date": DAY}),
    ("aggregate", {"period": "day", "date": DAY}),
    ("aggregate", {"period": "custom", "date": f"{TODAY - timedelta(days=12)},{DAY}"}),
    ("aggregate", {}),
    # Every metric
    ("aggregate", {"metrics": "visitors,visits,pageviews,views_per_visit,bounce_rate,"
                              "visit_duration"}),
    ("aggregate", {"period": "7d", "metrics": "visitors,pageviews,bounce_rate",
                   "compare": "previous_period"}),
    ("aggregate", {"metrics": "visits", "with_imported": "true"}),
    ("timeseries", {"period": "30d", "metrics": "visitors,visits,pageviews,views_per_visit,"
                                                "bounce_rate,visit_duration"}),
    ("timeseries", {"period": "7d", "interval": "day"}),
    ("timeseries", {"period": "12mo", "interval": "month"}),
    ("timeseries", {"period": "custom", "date": f"{TODAY - timedelta(days=9)},{DAY}",
                    "interval": "date", "with_imported": "false"}),
    # Every property the API offers, as a breakdown
    *[("breakdown", {"property": prop, "metrics": "visitors,pageviews"})
      for prop in ("event:page", "visit:entry_page", "visit:exit_page", "visit:source",
                   "visit:device", "visit:browser", "visit:os", "visit:country")],
    *[("breakdown", {"property": prop, "metrics": "visitors,visits"})
      for prop in ("visit:referrer", "visit:utm_medium", "visit:utm_campaign",
                   "visit:utm_content", "visit:utm_term")],
    ("breakdown", {"property": "visit:source", "metrics": "visitors,visits,bounce_rate,"
                                                         "visit_duration"}),
    ("breakdown", {"property": "event:page", "limit": "3", "page": "2"}),
    ("breakdown", {"property": "event:page", "metrics": "visitors,bounce_rate,visit_duration"}),
    ("breakdown", {"property": "event:page", "metrics": "bounce_rate,pageviews",
                   "filters": "visit:country==FR|DE"}),
    ("breakdown", {"property": "visit:country", "filters": "visit:source==Google"}),
    ("breakdown", {"property": "visit:city_name", "metrics": "visitors,visits"}),
    # The properties' example values, as filters
    *[("aggregate", {"metrics": "visitors,pageviews", "filters": f})
      for f in ("event:page==/blog/remove-google-analytics", "visit:entry_page==/home",
                "visit:exit_page==/home", "visit:source==Twitter",
                "visit:referrer==t.co/fzWTE9OTPt", "visit:utm_medium==social",
                "visit:utm_campaign==profile", "visit:utm_content==banner",
                "visit:utm_term==keyword", "visit:device==Desktop", "visit:browser==Chrome",
                "visit:os==Mac", "visit:country==US")],
    # The filter operators, and their combinations
    ("aggregate", {"filters": "visit:country!=FR"}),
    ("aggregate", {"filters": "visit:source==Github|Twitter"}),
    ("aggregate", {"filters": "visit:source==GitHub|Twitter"}),
    ("aggregate", {"filters": "visit:country==FR|DE"}),
    ("aggregate", {"filters": "event:page==/blog/*", "metrics": "visitors,pageviews"}),
    ("aggregate", {"filters": "event:page==/blog**", "metrics": "visitors,pageviews"}),
    ("aggregate", {"filters": "event:page==/blog/**", "metrics": "visitors,pageviews"}),
    ("aggregate", {"filters": "visit:utm_campaign==campaign\\|one"}),
    ("aggregate", {"filters": "visit:browser!=Chrome|Safari"}),
    ("aggregate", {"filters": "visit:country!=US;visit:source==Google"}),
    ("aggregate", {"filters": "event:page==/;visit:source==Twitter"}),
    ("breakdown", {"property": "visit:browser", "filters": "visit:device!=Desktop"}),
    ("timeseries", {"period": "7d", "filters": "visit:os==Mac|iOS;visit:country!=GB"}),
    # Goals and custom events: the documented goal filters, events and conversion rates
    ("aggregate", {"filters": "event:goal==Signup"}),
    ("aggregate", {"filters": "event:goal==Signup;visit:country==DE"}),
    ("aggregate", {"filters": "event:goal==Signup|Visit /register"}),
    ("aggregate", {"filters": "event:goal==Visit /register"}),
    ("aggregate", {"filters": "event:goal==Outbound Link: Click"}),
    ("aggregate", {"filters": "event:goal==Register"}),
    ("aggregate", {"metrics": "events"}),
    ("aggregate", {"metrics": "conversion_rate", "filters": "event:goal==Signup"}),
    ("aggregate", {"metrics": "visitors,visits,pageviews,events,bounce_rate,visit_duration,"
                              "conversion_rate", "filters": "event:goal==Signup|Visit /register"}),
    ("aggregate", {"period": "7d", "metrics": "visitors,conversion_rate",
                   "filters": "event:goal==Signup", "compare": "previous_period"}),
    ("timeseries", {"period": "7d", "metrics": "visitors,events,conversion_rate",
                    "filters": "event:goal==Signup"}),
    ("timeseries", {"period": "30d", "metrics": "visitors,events"}),
    # Regions and cities by code, host names (kept since 0016), the time on a page
    ("aggregate", {"filters": "visit:region==US-MD"}),
    ("aggregate", {"filters": "visit:city==4347778"}),
    ("breakdown", {"property": "visit:region"}),
    ("breakdown", {"property": "visit:city"}),
    ("aggregate", {"filters": "event:hostname==example.com"}),
    ("aggregate", {"filters": "event:hostname==*.example.com"}),
    ("aggregate", {"metrics": "time_on_page", "filters": "event:page==/blog"}),
]  # fmt: skip

# (endpoint, parameters, words the 400 must say) of documented queries this API does not answer.
REFUSED: list[tuple[str, dict[str, str], str]] = [
    # Plausible refuses it too: a conversion rate needs a goal filter or breakdown.
    ("aggregate", {"metrics": "conversion_rate"}, "conversion_rate"),
]  # fmt: skip


# A documented prop breakdown of a goal the site does not have: Plausible answers no rows.
EMPTY: list[tuple[str, dict[str, str]]] = [
    ("breakdown", {"period": "6mo", "property": "event:props:method",
                   "filters": "event:goal==Download"}),
]  # fmt: skip


@pytest.mark.parametrize("case", EMPTY, ids=lambda c: f"{c[0]}?{c[1]}")
def test_breakdown_of_a_goal_the_site_lacks_is_empty(
    gateway: Gateway, case: tuple[str, dict[str, str]]
) -> None:
    answer = gateway.get(*case)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"results": []}


# Documented goal and event breakdowns: (parameters, Plausible's rows on the scripted visits).
EVENT_BREAKDOWNS = [
    ({"property": "event:goal"}, lambda visits: goal_breakdown(visits, ["visitors"])),
    ({"property": "event:goal", "metrics": "visitors,events,conversion_rate"},
     lambda visits: goal_breakdown(visits, ["visitors", "events", "conversion_rate"])),
    ({"property": "event:name"}, lambda visits: name_breakdown(visits, ["visitors"])),
    ({"property": "event:name", "metrics": "visitors,events"},
     lambda visits: name_breakdown(visits, ["visitors", "events"])),
    ({"property": "visit:country", "metrics": "visitors,conversion_rate",
      "filters": "event:goal==Signup|Register"},
     lambda visits: converting_by(visits, "country", "event:goal==Signup|Register",
                                  ["visitors", "conversion_rate"])),
]  # fmt: skip


@pytest.mark.parametrize("case", EVENT_BREAKDOWNS, ids=lambda c: str(c[0]))
def test_goal_and_event_breakdowns_get_plausibles_answer(
    gateway: Gateway, case: tuple[dict[str, str], Any]
) -> None:
    params, expected = case
    answer = gateway.get("breakdown", params)
    assert answer.status_code == 200, answer.text
    first, last = period_days("30d", TODAY)
    assert answer.json() == {"results": expected(in_days(VISITS, first, last))}


def _id(case: tuple[Any, ...]) -> str:
    return f"{case[0]}?" + "&".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", ANSWERED, ids=[_id(c) for c in ANSWERED])
def test_documented_query_gets_plausibles_answer(
    gateway: Gateway, case: tuple[str, dict[str, str]]
) -> None:
    endpoint, params = case
    answer = gateway.get(endpoint, params)
    assert answer.status_code == 200, answer.text
    assert answer.json() == ANSWERS[endpoint](params)


@pytest.mark.parametrize("case", REFUSED, ids=[_id(c) for c in REFUSED])
def test_unsupported_documented_query_is_a_400_naming_it(
    gateway: Gateway, case: tuple[str, dict[str, str], str]
) -> None:
    endpoint, params, words = case
    answer = gateway.get(endpoint, params)
    assert answer.status_code == 400
    assert words in answer.json()["error"]


def test_time_on_page_by_page_gets_plausibles_answer(gateway: Gateway) -> None:
    """Each page's time on page beside its visitors; null for a page never left for another."""
    params = {"property": "event:page", "metrics": "visitors,time_on_page", "filters":
              "visit:country!=FR"}  # fmt: skip
    answer = gateway.get("breakdown", params)
    assert answer.status_code == 200, answer.text
    first, last = period_days("30d", TODAY)
    days = in_days(VISITS, first, last)
    times = times_on_pages(days, params["filters"])
    rows = breakdown_rows(kept(days, params["filters"]), "event:page", ["visitors"])
    expected = [{**row, "time_on_page": times.get(row["page"])} for row in rows]
    assert answer.json() == {"results": expected}
    assert {row["time_on_page"] for row in expected} > {None, 45}  # not one figure for all


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [("timeseries", {"metrics": "visitors,time_on_page"}),
     ("breakdown", {"property": "visit:country", "metrics": "time_on_page"})],
)  # fmt: skip
def test_time_on_page_where_plausible_has_none_is_a_400(
    gateway: Gateway, endpoint: str, params: dict[str, str]
) -> None:
    answer = gateway.get(endpoint, params)
    assert answer.status_code == 400
    assert "time_on_page is not offered by" in answer.json()["error"]


def test_realtime_visitors(gateway: Gateway) -> None:
    assert gateway.get("realtime/visitors", {}).json() == 0  # nobody in the last 5 minutes


def test_the_answers_are_not_empty() -> None:
    """The scripted visits give the filters something to find (a 0 everywhere proves nothing)."""
    for endpoint, params in ANSWERED:
        if "filters" in params and endpoint == "aggregate":
            expected = aggregate(params)["results"]
            if params["filters"] in ("visit:source==Github|Twitter", "visit:exit_page==/home"):
                continue
            first = next(iter(expected.values()))  # visitors, or the first metric asked
            assert first["value"] > 0, params


# Plausible's v2 query examples: (query, the same question in v1 filters for the reference).
V2_ANSWERED: list[tuple[dict[str, Any], str]] = [
    ({"metrics": ["visitors"], "date_range": "7d"}, ""),
    ({"metrics": ["visitors", "pageviews", "bounce_rate", "visit_duration"],
      "date_range": "30d", "filters": [["is", "visit:country", ["FR", "DE"]]]},
     "visit:country==FR|DE"),
    ({"metrics": ["visitors", "visits"], "date_range": "30d", "dimensions": ["visit:source"],
      "filters": [["is_not", "visit:country", ["US"]]]}, "visit:country!=US"),
    ({"metrics": ["visitors", "pageviews"], "date_range": "30d", "dimensions": ["event:page"],
      "filters": [["contains", "event:page", ["/blog"]]]}, "event:page==*/blog*"),
    ({"metrics": ["visitors"], "date_range": "30d",
      "filters": [["matches", "event:page", ["^/blog/.*news$"]]]}, "event:page==/blog/*news"),
    ({"metrics": ["visitors"], "date_range": "30d",
      "filters": [["and", [["is", "visit:country", ["DE"]],
                           ["is", "visit:city_name", ["Berlin"]]]]]},
     "visit:country==DE;visit:city_name==Berlin"),
    ({"metrics": ["visitors"], "date_range": "30d",
      "filters": [["or", [["is", "visit:country", ["DE"]], ["is", "visit:country", ["FR"]]]]]},
     "visit:country==DE|FR"),
    ({"metrics": ["visitors"], "date_range": "30d",
      "filters": [["not", ["is", "visit:country", ["DE"]]]]}, "visit:country!=DE"),
    ({"metrics": ["visitors"], "date_range": "30d",
      "filters": [["contains_not", "event:page", ["blog", "pricing"]]]},
     "event:page!=*blog*|*pricing*"),
    ({"metrics": ["visitors", "visits"], "date_range": "30d", "dimensions": ["visit:browser"],
      "order_by": [["visits", "asc"], ["visit:browser", "asc"]],
      "pagination": {"limit": 2, "offset": 1}}, ""),
    ({"metrics": ["visitors", "pageviews"], "date_range": "7d", "dimensions": ["time:day"],
      "include": {"time_labels": True}}, ""),
    ({"metrics": ["visitors"], "date_range": "6mo", "dimensions": ["time:month"]}, ""),
    ({"metrics": ["visitors", "visits"], "date_range": "year", "dimensions": ["visit:os"]}, ""),
    ({"metrics": ["visitors"], "date_range": [str(TODAY - timedelta(days=9)), DAY],
      "dimensions": ["visit:device"]}, ""),
    # Goals and custom events
    ({"metrics": ["events"], "date_range": "7d"}, ""),
    ({"metrics": ["visitors"], "date_range": "7d", "filters": [["is", "event:goal", ["Signup"]]]},
     "event:goal==Signup"),
    ({"metrics": ["visitors", "events", "conversion_rate"], "date_range": "30d",
      "filters": [["is", "event:goal", ["Signup", goal_name("/register")]],
                  ["is", "visit:country", ["DE", "FR"]]]},
     "event:goal==Signup|Visit /register;visit:country==DE|FR"),
    ({"metrics": ["visitors", "events", "conversion_rate"], "date_range": "30d",
      "dimensions": ["event:goal"], "order_by": [["visitors", "desc"], ["event:goal", "asc"]]},
     ""),
    ({"metrics": ["visitors", "conversion_rate"], "date_range": "7d", "dimensions": ["time:day"],
      "filters": [["is", "event:goal", ["Outbound Link: Click"]]]},
     "event:goal==Outbound Link: Click"),
    ({"metrics": ["visitors"], "date_range": "30d",
      "filters": [["is", "visit:city", [4347778, 2988507]]]}, "visit:city==4347778|2988507"),
    ({"metrics": ["visitors", "visits"], "date_range": "30d", "dimensions": ["visit:city"],
      "filters": [["contains", "event:hostname", ["example.com"]]]},
     "event:hostname==*example.com*"),
    ({"metrics": ["visitors"], "date_range": "30d", "dimensions": ["visit:region"]}, ""),
]  # fmt: skip


def v2_answer(query: dict[str, Any], filters: str) -> dict[str, Any]:
    """What Plausible answers to ``query`` on the scripted visits."""
    metrics = query["metrics"]
    date_range = query["date_range"]
    if isinstance(date_range, list):
        first, last = date.fromisoformat(date_range[0]), date.fromisoformat(date_range[1])
    elif date_range == "year":
        first, last = TODAY.replace(month=1, day=1), TODAY.replace(month=12, day=31)
    else:
        first, last = period_days(date_range, TODAY)
    dimensions = query.get("dimensions", [])
    meta: dict[str, Any] = {}
    if not dimensions:
        totals = plausible_answer(in_days(VISITS, first, last), filters, metrics)
        results = [{"metrics": list(totals.values()), "dimensions": []}]
    elif dimensions == ["event:goal"]:  # ordered by visitors, then name, as the query asks
        goals = goal_breakdown(in_days(VISITS, first, last), metrics)
        results = [{"metrics": [r[m] for m in metrics], "dimensions": [r["goal"]]} for r in goals]
    elif dimensions[0].startswith("time"):
        monthly = dimensions[0] == "time:month"
        series = timeseries({"period": "custom", "date": f"{first},{last}", "metrics":
                             ",".join(metrics), "interval": "month" if monthly else "day",
                             "filters": filters})["results"]  # fmt: skip
        if monthly:
            series = [{**row, "date": row["date"][:8] + "01"} for row in series]
            merged: dict[str, dict[str, Any]] = {}
            for row in series:
                merged.setdefault(row["date"], row)
            series = list(merged.values())
        if query.get("include", {}).get("time_labels"):
            meta["time_labels"] = [row["date"] for row in series]
        results = [
            {"metrics": [row[m] for m in metrics], "dimensions": [row["date"]]}
            for row in series
            if any(row[m] for m in metrics)
        ]
    else:
        key = dimensions[0].split(":", 1)[1]
        rows = kept(in_days(VISITS, first, last), filters)
        answer = breakdown_rows(rows, dimensions[0], metrics)
        results = [{"metrics": [r[m] for m in metrics], "dimensions": [r[key]]} for r in answer]
        names = [*metrics, *dimensions]
        for name, direction in reversed(query.get("order_by", [[metrics[0], "desc"]])):
            at = names.index(name)
            results.sort(key=lambda r: (r["metrics"] + r["dimensions"])[at],
                         reverse=direction == "desc")  # fmt: skip
        page = query.get("pagination", {"limit": 10_000, "offset": 0})
        results = results[page["offset"] : page["offset"] + page["limit"]]
    return {"results": results, "meta": meta}


@pytest.mark.parametrize("case", V2_ANSWERED, ids=[str(i) for i in range(len(V2_ANSWERED))])
def test_v2_query_gets_plausibles_answer(
    gateway: Gateway, case: tuple[dict[str, Any], str]
) -> None:
    query, filters = case
    answer = httpx.post(
        f"{gateway.url}/api/v2/query",
        json={"site_id": SITE, **query},
        headers={"Authorization": f"Bearer {gateway.token}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {"results": body["results"], "meta": body["meta"]} == v2_answer(query, filters)
    assert body["query"]["site_id"] == SITE and body["query"]["metrics"] == query["metrics"]


V2_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:country_name"]},
     "visit:country_name"),
    ({"metrics": ["visitors"], "date_range": "7d",
      "dimensions": ["visit:country", "visit:city_name"]}, "several"),
    ({"metrics": ["visitors"], "date_range": "all"}, "all"),
    ({"metrics": ["visitors"], "date_range": "28d"}, "28d"),
    ({"metrics": ["conversion_rate"], "date_range": "7d"}, "conversion_rate"),
    ({"metrics": ["visitors"], "date_range": "7d",
      "filters": [["is_not", "event:goal", ["Signup"]]]}, "is_not"),
    ({"metrics": ["visitors"], "date_range": "7d", "dimensions": ["time:week"]}, "time:week"),
    ({"metrics": ["visitors"], "date_range": "7d",
      "filters": [["contains", "visit:country", ["de"], {"case_sensitive": False}]]},
     "[OPERATOR"),
    ({"metrics": ["visitors"], "date_range": "7d",
      "filters": [["matches", "event:page", ["(unclosed"]]]}, "RE2"),
]  # fmt: skip


@pytest.mark.parametrize("case", V2_REFUSED, ids=[str(i) for i in range(len(V2_REFUSED))])
def test_v2_query_refused_names_why(gateway: Gateway, case: tuple[dict[str, Any], str]) -> None:
    query, words = case
    answer = httpx.post(
        f"{gateway.url}/api/v2/query",
        json={"site_id": SITE, **query},
        headers={"Authorization": f"Bearer {gateway.token}"},
    )
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["error"]


def test_the_docs_curl_examples_work(gateway: Gateway) -> None:
    """Each curl command in docs/stats-api.md, sent to this gateway, gets a 200 JSON answer."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "stats-api.md").read_text()
    commands = re.findall(r"^curl .*?(?<!\\)$", text, re.MULTILINE | re.DOTALL)
    assert len(commands) >= 3
    for command in commands:
        words = shlex.split(command.replace("\\\n", " "))
        url = next(w for w in words if "127.0.0.1:8081" in w)
        url = url.replace("http://127.0.0.1:8081", gateway.url).replace("example.org", SITE)
        headers = {"Authorization": f"Bearer {gateway.token}"}
        if "-d" in words:
            body = json.loads(words[words.index("-d") + 1].replace("example.org", SITE))
            answer = httpx.post(url, json=body, headers=headers)
        else:
            answer = httpx.get(url, headers=headers)
        assert answer.status_code == 200, (command, answer.text)
        assert answer.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "body",
    [b"[" * 10_000, b"{" * 40, b"not json", b"\xff\xfe", b"[1, 2]", b"null", b"",
     b'{"site_id": "' + b"x" * 70_000 + b'"}', b'{"site_id": 5}',
     b'{"site_id": "plausible.test", "metrics": ["visitors"], "date_range": "7d", "x": 1}',
     b'{"site_id": "plausible.test", "metrics": "visitors", "date_range": "7d"}',
     b'{"site_id": "plausible.test", "metrics": ["visitors"], "date_range": ["2026-02-30", "x"]}',
     b'{"site_id": "plausible.test", "metrics": ["visitors"], "date_range": "7d", '
     b'"pagination": {"limit": true}}',
     b'{"site_id": "plausible.test", "metrics": ["visitors"], "date_range": "7d", '
     b'"filters": [["or", []]]}',
     b'{"site_id": "plausible.test", "metrics": ["visitors"], "date_range": "7d", '
     b'"filters": [["is", "event:page", []]]}'],
)  # fmt: skip
def test_v2_bad_bodies_are_400s(gateway: Gateway, body: bytes) -> None:
    answer = httpx.post(
        f"{gateway.url}/api/v2/query",
        content=body,
        headers={"Authorization": f"Bearer {gateway.token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "bad_query" and answer.json()["error"]
