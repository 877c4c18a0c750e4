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
        params.setdefault("site_id", SITE)
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
    # day D: 4 visitors, 40 % bounce; the day before: 1 visitor (E), under k = 2, so its
    # figures and the change from them are withheld.
    assert answer.json()["results"] == {
        "visitors": {
            "value": 4,
            "change": None,
            "comparison_value": None,
            "comparison_withheld": True,
        },
        "bounce_rate": {
            "value": 40,
            "change": None,
            "comparison_value": None,
            "comparison_withheld": True,
        },
    }
    before = api.get(
        "/api/v1/stats/aggregate", period="day", date=d, metrics="visitors,bounce_rate"
    )
    assert before.json()["results"]["visitors"] == {"value": 4}


def test_filters_in_plausible_syntax(api: Api) -> None:
    answer = api.get(
        "/api/v1/stats/aggregate",
        metrics="visitors,pageviews",
        filters=f"visit:country==GB;visit:source=={DIRECT}",
        **custom_day(),
    )
    # One visitor (A's second visit) answers this narrow question: under k = 2, so the
    # totals are withheld, as a breakdown row of one visitor would be folded.
    assert answer.json()["results"] == {
        "visitors": {"value": None, "withheld": True},
        "pageviews": {"value": None, "withheld": True},
    }
    wider = api.get(
        "/api/v1/stats/aggregate",
        metrics="visitors,pageviews",
        filters="visit:country==GB",
        **custom_day(),
    )
    assert wider.json()["results"] == {"visitors": {"value": 2}, "pageviews": {"value": 5}}


def test_timeseries(api: Api) -> None:
    d = day_d()
    first = (d - timedelta(days=2)).strftime("%Y-%m-%d")
    answer = api.get("/api/v1/stats/timeseries", period="custom", date=f"{first},{d:%Y-%m-%d}")
    assert answer.json()["results"] == [
        {"date": first, "visitors": 0},
        # One visitor (E): under k = 2, withheld.
        {"date": (d - timedelta(days=1)).strftime("%Y-%m-%d"), "visitors": None, "withheld": True},
        {"date": d.strftime("%Y-%m-%d"), "visitors": 4},
    ]


def test_timeseries_interval(api: Api) -> None:
    d = day_d().strftime("%Y-%m-%d")
    daily = api.get("/api/v1/stats/timeseries", interval="date", **custom_day())
    assert daily.json()["results"] == [{"date": d, "visitors": 4}]
    hourly = api.get("/api/v1/stats/timeseries", interval="hour", period="7d").json()["results"]
    assert len(hourly) == 7 * 24 and hourly[0]["date"].endswith(" 00:00:00")
    assert api.get("/api/v1/stats/timeseries", interval="week").status_code == 400
    too_long = api.get("/api/v1/stats/timeseries", interval="hour", period="custom",
                       date="2026-01-01,2026-03-01")  # fmt: skip
    assert too_long.status_code == 400 and "31 days" in too_long.json()["error"]


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
        ({"filters": "event:page~/x"}, "=="),
        ({"filters": "event:goal!=Signup"}, "is_not"),
        ({"metrics": "conversion_rate"}, "needs a goal"),
        ({"metrics": "scroll_depth"}, "not supported"),
        ({"compare": "last_year"}, "previous_period"),
        ({"nonsense": "1"}, "Unknown parameter"),
    ],
)
def test_bad_parameters_are_400_in_the_error_shape(
    api: Api, params: dict[str, str], words: str
) -> None:
    answer = api.get("/api/v1/stats/aggregate", **params)
    assert answer.status_code == 400
    error = answer.json()  # Plausible's body: the sentence under "error"
    assert error["status"] == 400 and error["code"] == "bad_query" and words in error["error"]


@pytest.mark.parametrize(
    "params",
    [{}, {"property": "visit:ip"}, {"property": "event:page", "limit": "many"},
     {"property": "event:page", "limit": "0"},
     {"property": "visit:region_name", "metrics": "bounce_rate"}],
)  # fmt: skip
def test_bad_breakdowns_are_400(api: Api, params: dict[str, str]) -> None:
    answer = api.get("/api/v1/stats/breakdown", **params)
    assert answer.status_code == 400 and answer.json()["code"] == "bad_query"


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
    method = "POST" if path.startswith("/api/v2/") else "GET"
    body = {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d"}

    def ask(headers: dict[str, str]) -> httpx.Response:
        query = {} if method == "POST" else {"site_id": SITE, "property": "visit:source"}
        if not path.endswith("/breakdown"):
            query.pop("property", None)
        json = body if method == "POST" else None
        return httpx.request(method, api.url + path, params=query, json=json, headers=headers)

    missing = ask({})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "unauthorized" and "API key" in missing.json()["error"]
    for wrong in ("cgt_" + "x" * 43, "not-even-a-token", api.token + "x"):
        assert ask({"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert ask({"Authorization": "Basic YTpi"}).status_code == 401
    assert ask({"Authorization": f"Bearer {api.token}"}).status_code == 200


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
        for operation in path.values():
            assert {"200", "400", "401", "405"} <= set(operation["responses"])


def test_openapi_is_served(api: Api, tmp_path: Path) -> None:
    answer = httpx.get(api.url + "/api/v1/openapi.json")
    assert answer.json()["openapi"].startswith("3.") and answer.json() == openapi_document(SITE)


def test_wrong_methods_and_routes_answer_json(api: Api) -> None:
    """A 405 names the methods in Allow; an unknown route under /api/ is a JSON 404."""
    auth = {"Authorization": f"Bearer {api.token}"}
    posted = httpx.post(f"{api.url}/api/v1/stats/aggregate", headers=auth, timeout=30)
    assert posted.status_code == 405
    assert set(posted.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert posted.json()["code"] == "method_not_allowed" and posted.json()["error"]
    for path in ("/api/v1/stats/nope", "/api/v2/nothing", "/api/"):
        missing = httpx.get(api.url + path, headers=auth, timeout=30)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"
        assert missing.json()["code"] == "not_found"


def test_site_id_is_checked_as_plausible_does(api: Api) -> None:
    unknown = api.get("/api/v1/stats/aggregate", site_id="elsewhere.example")
    assert unknown.status_code == 401 and "Invalid API key or site ID" in unknown.json()["error"]
    headers = {"Authorization": f"Bearer {api.token}"}
    missing = httpx.get(f"{api.url}/api/v1/stats/aggregate", headers=headers, timeout=30)
    assert missing.status_code == 400 and "site_id" in missing.json()["error"]
    ignored = api.get("/api/v1/stats/aggregate", with_imported="true", **custom_day())
    assert ignored.json()["results"]["visitors"] == {"value": 4}


def test_openapi_examples_work(api: Api) -> None:
    """Each documented parameter example, sent as it is, gets a 200."""
    document = httpx.get(api.url + "/api/v1/openapi.json").json()
    for path, item in document["paths"].items():
        if "post" in item:
            example = item["post"]["requestBody"]["content"]["application/json"]["example"]
            headers = {"Authorization": f"Bearer {api.token}"}
            answer = httpx.post(api.url + path, json=example, headers=headers, timeout=30)
            assert answer.status_code == 200, (path, example, answer.text)
            continue
        params = {
            p["name"]: p["schema"]["example"]
            for p in item["get"]["parameters"]
            if "example" in p["schema"]
        }
        answer = api.get(path, **params)
        assert answer.status_code == 200, (path, params, answer.text)


def test_schemathesis_finds_nothing(api: Api) -> None:
    """A bounded schemathesis run over the served OpenAPI document: no 5xx, every answer
    (200 or error) as the document describes it, a 405 with Allow for other methods.

    Not checked: that every schema-valid request gets a 2xx. Some parameters depend on
    each other in ways OpenAPI cannot say (``custom`` needs a ``date`` range whose last
    day is not before its first, hours span at most 31 days, bounce_rate does not break
    down by page); those get a 400 naming the problem, which the document lists."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(api.url + "/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {api.token}"}
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case[Any]) -> None:
            if isinstance(case.query, dict) and "site_id" in case.query:
                case.query["site_id"] = SITE  # a made-up site is a 401: test the real one
            if isinstance(case.body, dict) and "site_id" in case.body:
                case.body["site_id"] = SITE
            case.call_and_validate(
                headers=headers,
                timeout=30,
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        check()


def test_page_visit_figures_are_those_of_the_visits_entering_there(api: Api) -> None:
    """As v1 reads them; a page fewer than k visitors entered on gets null (withheld)."""
    answer = api.get(
        "/api/v1/stats/breakdown",
        property="event:page",
        metrics="visitors,bounce_rate",
        **custom_day(),
    )
    assert answer.json()["results"] == [
        {"page": "/blog", "visitors": 3, "bounce_rate": 50},  # entered by s2 (bounced), s4
        {"page": "/", "visitors": 2, "bounce_rate": 0},  # entered by s1, s3
        {"page": "/pricing", "visitors": 2, "bounce_rate": None},  # entered by D alone
    ]
