"""A consented visit through the real gateway lands in ClickHouse; an unconsented one does not.

Real parts only: the demo site as upstream, the gateway under uvicorn, consent
given through the consent API as the banner gives it, the embedded ClickHouse,
and the real DB-IP database for the location.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.geo_databases import dbip_folder
from tests.servers import run_server

PUBLIC_UK_ADDRESS = "81.2.69.160"


def test_consented_visit_produces_events_and_a_session(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(
        demo_site,
        tmp_path,
        trusted_proxies="127.0.0.1",
        geolocation="on",
        geoip_db=str(dbip_folder()),
    )
    browser = {
        "user-agent": FIREFOX,
        "accept": "text/html,application/xhtml+xml",
        "sec-fetch-dest": "document",
        "sec-fetch-site": "same-origin",
        "x-forwarded-for": PUBLIC_UK_ADDRESS,
    }
    with run_server(create_app(settings)) as url:
        with httpx.Client(base_url=url, headers=browser) as client:
            client.get("/")  # before consent: not recorded
            token = client.get("/_consent/state").json()["csrf"]
            accepted = client.post(
                "/_consent/state",
                json={"categories": {"analytics": True}},
                headers={"x-csrf-token": token},
            )
            assert accepted.json()["categories"]["analytics"] is True
            visit = ["/", "/courses", "/courses/first-aid"]
            previous = None
            for path in visit:
                headers: dict[str, str] = {"referer": url + previous} if previous else {}
                assert client.get(path, headers=headers).status_code == 200
                previous = path
            client.get("/static/live.js", headers={"sec-fetch-dest": "script"})  # an asset
            beacon = client.post(
                "/_consent/collect",
                json={
                    "events": [
                        {"type": "engagement", "path": "/courses/first-aid", "engagement_ms": 4200}
                    ]
                },
            )
            assert beacon.status_code == 202
    # The server has stopped: the writer flushed everything it had queued.
    db = Storage(settings.clickhouse_dsn).connect()
    rows = db.query(
        "SELECT kind, path, prev_path, ip, country, region, browser, device, engagement_ms "
        "FROM events ORDER BY time, kind"
    ).result_rows
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("pageview", "/", ""),
        ("pageview", "/courses", "/"),
        ("pageview", "/courses/first-aid", "/courses"),
        (
            "engagement",
            "/courses/first-aid",
            "",
        ),
    ]
    for row in rows:
        assert str(row[3]) == "81.2.69.0"  # truncated; the full address is nowhere
        assert (row[4], row[5]) == ("GB", "England")
        assert row[6] == "Firefox" and row[7] == "desktop"
    assert rows[-1][8] == 4200
    session = db.query(
        "SELECT entry_page, exit_page, page_count, duration, bounce FROM sessions"
    ).result_rows
    first, last = db.query("SELECT min(time), max(time) FROM events").result_rows[0]
    assert len(session) == 1
    entry, exit_page, pages, duration, bounce = session[0]
    assert (entry, exit_page, pages) == ("/", "/courses/first-aid", 3)
    assert duration == int((last - first).total_seconds())
    assert bounce in (0, False)
    everything = " ".join(str(value) for row in rows for value in row)
    assert PUBLIC_UK_ADDRESS not in everything
