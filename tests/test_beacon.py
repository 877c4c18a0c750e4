"""POST /_consent/collect: strict validation, the error shape, consent, acceptance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.analytics.steps import DropReason
from gateway.app import create_app
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import run_server

GOOD = {"events": [{"type": "engagement", "path": "/courses", "engagement_ms": 5300}]}


def count(dsn: str, sql: str = "SELECT count() FROM events") -> int:
    return int(Storage(dsn).connect().query(sql).result_rows[0][0])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": GOOD["events"], "extra": 1}, "extra:"),
        (
            {"events": [{"type": "engagement", "path": "/", "engagement_ms": "5"}]},
            "events[0].engagement_ms:",
        ),
        (
            {"events": [{"type": "engagement", "path": "/", "engagement_ms": 5, "x": 1}]},
            "events[0].x:",
        ),
        ({"events": [{"type": "pageview", "path": "nope"}]}, "events[0].path:"),
        ({"events": [{"type": "sale", "path": "/"}]}, "events[0].type:"),
        ({"events": [{"type": ["pageview"], "path": "/"}]}, "events[0].type:"),
        (
            {"events": [{"type": "custom", "path": "/", "name": "a", "props": {"k": [1]}}]},
            "events[0].props.k:",
        ),
        ({"events": [GOOD["events"][0]] * 51}, "events:"),
        ({"events": []}, "events:"),
        ([1, 2], "body:"),
        ({"events": [{"type": "pageview", "path": "/" + "a" * 20_000}]}, "body:"),
    ],
)
def test_bad_beacons_get_400_in_the_one_error_shape_naming_the_field(
    demo_site: str, tmp_path: Path, body: Any, field: str
) -> None:
    with run_server(create_app(make_settings(demo_site, tmp_path))) as url:
        response = httpx.post(f"{url}/_consent/collect", content=json.dumps(body))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["code"] == "invalid_beacon"
    assert error["message"].startswith(field)


def test_not_json_and_configurable_size_limit(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path, beacon_max_bytes=300)
    with run_server(create_app(settings)) as url:
        garbage = httpx.post(f"{url}/_consent/collect", content=b"{not json")
        big = httpx.post(
            f"{url}/_consent/collect",
            content=json.dumps({"events": [GOOD["events"][0]] * 8}),
        )
        get = httpx.get(f"{url}/_consent/collect", headers={"accept": "application/json"})
    assert garbage.json()["error"]["message"].startswith("body:")
    assert big.status_code == 400 and "300 bytes" in big.json()["error"]["message"]
    assert get.status_code == 405 and get.json()["error"]["code"] == "method_not_allowed"


def test_unconsented_visits_store_nothing(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path)
    app = create_app(settings)
    browser = {"user-agent": FIREFOX, "accept": "text/html", "sec-fetch-dest": "document"}
    with run_server(app) as url, httpx.Client(base_url=url, headers=browser) as client:
        assert client.get("/").status_code == 200
        assert client.get("/courses").status_code == 200
        beacon = client.post("/_consent/collect", json=GOOD)
        assert beacon.status_code == 204 and beacon.content == b""
    # The server has stopped, so the writer has flushed: still nothing was written.
    assert count(settings.clickhouse_dsn) == 0
    assert app.services.analytics.pipeline.dropped[DropReason.NO_CONSENT] == 3


def test_consented_batches_are_accepted_and_stored(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1")
    browser = {
        "user-agent": FIREFOX,
        "sec-fetch-site": "same-origin",
        "x-forwarded-for": "2001:db8:1:2::3",
    }
    with run_server(create_app(settings)) as url:
        with httpx.Client(base_url=url, headers=browser) as client:
            token = client.get("/_consent/state").json()["csrf"]
            client.post(
                "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
            ).raise_for_status()
            batch = {
                "events": [
                    {
                        "type": "pageview",
                        "path": "/app/two",
                        "title": "Two",
                        "referrer": url + "/app/one",
                    },
                    {"type": "engagement", "path": "/app/two", "engagement_ms": 1234},
                    {"type": "custom", "path": "/app/two", "name": "signup", "props": {"plan": 3}},
                ]
            }
            response = client.post("/_consent/collect", json=batch)
            assert response.status_code == 202
            # An empty answer of declared length, not a chunked one, and the own
            # routes' security headers although the beacon skips their router.
            assert response.headers["content-length"] == "0"
            assert "transfer-encoding" not in response.headers
            assert response.headers["x-content-type-options"] == "nosniff"
            # JSON may escape a lone surrogate, which UTF-8 cannot hold: stored as "?".
            broken = b'{"events": [{"type": "pageview", "path": "/odd\\ud800"}]}'
            assert client.post("/_consent/collect", content=broken).status_code == 202
    # The server has stopped, so the writer has flushed.
    result = (
        Storage(settings.clickhouse_dsn)
        .connect()
        .query(
            "SELECT kind, path, title, prev_path, engagement_ms, name, props, ip "
            "FROM events ORDER BY kind, path"
        )
    )
    assert [tuple(row) for row in result.result_rows] == [
        ("pageview", "/app/two", "Two", "/app/one", 0, "", {}, "2001:db8:1::"),
        ("pageview", "/odd?", "", "", 0, "", {}, "2001:db8:1::"),
        ("engagement", "/app/two", "", "", 1234, "", {}, "2001:db8:1::"),
        ("custom", "/app/two", "", "", 0, "signup", {"plan": "3"}, "2001:db8:1::"),
    ]
