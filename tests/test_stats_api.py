"""The stats API through a real gateway: tokens from the real CLI, Plausible shapes, errors.

The gateway (public and admin listeners) runs under uvicorn in this process on
the suite's embedded ClickHouse; the scripted visits of tests/stats_visits.py
are written into its database, and ``consent-gateway token`` runs as a real
subprocess, which must go through the running gateway's admin listener.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from gateway.audit import audit_entries
from gateway.settings import Settings
from gateway.stats import DIRECT, OTHER
from gateway.stats.api import stats_routes
from gateway.stats.openapi import openapi_document
from gateway.stats.tokens import create_token, list_tokens, revoke_token, verify_token
from gateway.storage import storage_from_settings
from tests.chdb import migrated_storage
from tests.conftest import make_settings
from tests.servers import run_gateway
from tests.stats_visits import SITE, day_d, write_scripted_visits
from tests.test_local_commands import cli


@dataclass(frozen=True)
class Api:
    url: str
    settings: Settings
    token: str

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from tests.servers import run_server
    from tests.upstreams import create_upstream

    tmp_path = tmp_path_factory.mktemp("api")
    with run_server(create_upstream()) as upstream:
        settings = make_settings(upstream, tmp_path, site_id=SITE, stats_min_visitors=2)
        with run_gateway(settings) as (_, admin):  # its start-up migrates the database
            write_scripted_visits(storage_from_settings(settings), tmp_path / "spool")
            running = replace(settings, admin_port=int(admin.rsplit(":", 1)[1]))
            created = cli(running, "token", "create", "api tests")
            assert created.returncode == 0, created.stderr
            assert "it is not shown again" in created.stdout
            token = created.stdout.strip().splitlines()[-1]
            yield Api(admin, running, token)


def custom_day() -> dict[str, str]:
    d = day_d().strftime("%Y-%m-%d")
    return {"period": "custom", "date": f"{d},{d}"}


def test_aggregate_in_plausible_shape(api: Api) -> None:
    metrics = "visitors,visits,pageviews,bounce_rate,visit_duration,views_per_visit"
    answer = api.get("/api/v1/stats/aggregate", metrics=metrics, **custom_day())
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "results": {
            "visitors": {"value": 4},
            "visits": {"value": 5},
            "pageviews": {"value": 8},
            "bounce_rate": {"value": 40},
            "visit_duration": {"value": 78},
            "views_per_visit": {"value": 1.6},
        }
    }


def test_aggregate_compared_with_the_previous_period(api: Api) -> None:
    d = day_d().strftime("%Y-%m-%d")
    answer = api.get(
        "/api/v1/stats/aggregate",
        period="day",
        date=d,
        metrics="visitors,bounce_rate",
        compare="previous_period",
    )
    # day D: 4 visitors, 40 % bounce; the day before: 1 visitor (E), 100 % bounce
    assert answer.json()["results"] == {
        "visitors": {"value": 4, "change": 300},
        "bounce_rate": {"value": 40, "change": -60},
    }


def test_filters_in_plausible_syntax(api: Api) -> None:
    answer = api.get(
        "/api/v1/stats/aggregate",
        metrics="visitors,pageviews",
        filters=f"visit:country==GB;visit:source=={DIRECT}",
        **custom_day(),
    )
    assert answer.json()["results"] == {"visitors": {"value": 1}, "pageviews": {"value": 1}}


def test_timeseries(api: Api) -> None:
    d = day_d()
    first = (d - timedelta(days=2)).strftime("%Y-%m-%d")
    answer = api.get("/api/v1/stats/timeseries", period="custom", date=f"{first},{d:%Y-%m-%d}")
    assert answer.json()["results"] == [
        {"date": first, "visitors": 0},
        {"date": (d - timedelta(days=1)).strftime("%Y-%m-%d"), "visitors": 1},
        {"date": d.strftime("%Y-%m-%d"), "visitors": 4},
    ]


def test_timeseries_interval(api: Api) -> None:
    d = day_d().strftime("%Y-%m-%d")
    daily = api.get("/api/v1/stats/timeseries", interval="date", **custom_day())
    assert daily.json()["results"] == [{"date": d, "visitors": 4}]
    hourly = api.get("/api/v1/stats/timeseries", interval="hour", period="7d").json()["results"]
    assert len(hourly) == 7 * 24 and hourly[0]["date"].endswith(" 00:00:00")
    assert api.get("/api/v1/stats/timeseries", interval="month").status_code == 400
    too_long = api.get("/api/v1/stats/timeseries", interval="hour", period="custom",
                       date="2026-01-01,2026-03-01")  # fmt: skip
    assert too_long.status_code == 400 and "31 days" in too_long.json()["error"]["message"]


def test_breakdown_folds_rows_under_k(api: Api) -> None:
    # k = 2 here: DE (B) and FR (D) have one visitor each and fold into one row of 2.
    answer = api.get(
        "/api/v1/stats/breakdown",
        property="visit:country",
        metrics="visitors,visits",
        **custom_day(),
    )
    assert answer.json() == {
        "results": [
            {"country": "GB", "visitors": 2, "visits": 3},
            {"country": OTHER, "visitors": 2, "visits": 2},
        ]
    }
    pages = api.get("/api/v1/stats/breakdown", property="event:page", limit="1", **custom_day())
    assert pages.json() == {"results": [{"page": "/blog", "visitors": 3}]}


def test_realtime_and_consent(api: Api) -> None:
    assert api.get("/api/v1/stats/realtime/visitors").json() == 0
    consent = api.get("/api/v1/stats/consent", period="day").json()["results"]
    assert consent["shown"] == 0 and set(consent["opt_in"]) >= {"analytics", "marketing"}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"period": "fortnight"}, "period"),
        ({"period": "custom"}, "date="),
        ({"period": "custom", "date": "2026-13-01,2026-13-02"}, "YYYY-MM-DD"),
        ({"metrics": "visitors,sessions"}, "metric"),
        ({"filters": "visit:ip==1.2.3.4"}, "filter property"),
        ({"filters": "event:page!=/x"}, "=="),
        ({"compare": "last_year"}, "previous_period"),
        ({"nonsense": "1"}, "Unknown parameter"),
    ],
)
def test_bad_parameters_are_400_in_the_error_shape(
    api: Api, params: dict[str, str], words: str
) -> None:
    answer = api.get("/api/v1/stats/aggregate", **params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == 400 and error["code"] == "bad_query" and words in error["message"]


@pytest.mark.parametrize(
    "params",
    [{}, {"property": "visit:ip"}, {"property": "event:page", "limit": "many"},
     {"property": "event:page", "limit": "0"},
     {"property": "event:page", "metrics": "bounce_rate"}],
)  # fmt: skip
def test_bad_breakdowns_are_400(api: Api, params: dict[str, str]) -> None:
    answer = api.get("/api/v1/stats/breakdown", **params)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_query"


_SETTINGS = make_settings("http://x")
ROUTES = [
    r.path
    for r in stats_routes(_SETTINGS, storage_from_settings(_SETTINGS))
    if isinstance(r, Route)
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_stats_route_wants_a_valid_token(api: Api, path: str) -> None:
    if path == "/api/v1/openapi.json":
        assert httpx.get(api.url + path).status_code == 200
        return
    missing = httpx.get(api.url + path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["error"]["code"] == "unauthorized"
    for wrong in ("cgt_" + "x" * 43, "not-even-a-token", api.token + "x"):
        assert api.get(path, token=wrong).status_code == 401
    basic = httpx.get(api.url + path, headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_token_list_and_revoke_through_the_running_gateway(api: Api) -> None:
    created = cli(api.settings, "token", "create", "short-lived")
    token = created.stdout.strip().splitlines()[-1]
    assert api.get("/api/v1/stats/aggregate", token=token).status_code == 200
    listed = cli(api.settings, "token", "list")
    assert "short-lived" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout  # the token is shown once, at creation only
    token_id = next(line.split()[0] for line in listed.stdout.splitlines() if "short-lived" in line)
    revoked = cli(api.settings, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert api.get("/api/v1/stats/aggregate", token=token).status_code == 401
    assert api.get("/api/v1/stats/aggregate").status_code == 200  # the others still work
    assert "revoked" in cli(api.settings, "token", "list").stdout
    unknown = cli(api.settings, "token", "revoke", "nope")
    assert unknown.returncode == 1 and "no token with id" in unknown.stderr
    storage = storage_from_settings(api.settings)
    actions = [
        (e.action, e.target) for e in audit_entries(storage) if e.action.startswith("token.")
    ]
    assert ("token.create", token_id) in actions and ("token.revoke", token_id) in actions


def test_tokens_are_stored_hashed() -> None:
    storage = migrated_storage()
    row, token = create_token(storage, "grafana", "cli:test")
    stored = storage.connect().query("SELECT token_hash FROM api_tokens").result_rows
    assert token not in str(stored) and len(stored[0][0]) == 64
    assert verify_token(storage, token) == row
    revoke_token(storage, row.id)
    assert verify_token(storage, token) is None
    assert list_tokens(storage)[0].revoked is not None


def test_openapi_describes_every_route() -> None:
    document = openapi_document()
    assert set(ROUTES) - {"/api/v1/openapi.json"} == set(document["paths"])
    for path in document["paths"].values():
        assert {"200", "400", "401"} <= set(path["get"]["responses"])


def test_openapi_is_served(api: Api, tmp_path: Path) -> None:
    answer = httpx.get(api.url + "/api/v1/openapi.json")
    assert answer.json()["openapi"].startswith("3.") and answer.json() == openapi_document()
