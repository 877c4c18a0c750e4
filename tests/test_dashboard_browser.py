"""The dashboard in a real headless Chromium: log in, change range and filter, download a CSV.

The admin pages forbid inline scripts and styles (CSP), so any that slipped in
would show as a console error; each test ends by checking there was none.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gateway.storage import storage_from_settings
from tests.admin_helpers import PASSWORD, add_account
from tests.browser import ARTIFACTS, screenshot
from tests.conftest import make_settings
from tests.servers import run_gateway
from tests.stats_visits import write_scripted_visits

pytestmark = pytest.mark.browser

EMAIL = "marketing@example.org"


@pytest.fixture
def admin_url(demo_site: str, tmp_path: Path) -> Iterator[str]:
    """A gateway whose dashboard has the scripted visits (k = 1) and one admin account."""
    settings = make_settings(demo_site, tmp_path, stats_min_visitors=1)
    with run_gateway(settings) as (_, admin):
        storage = storage_from_settings(settings)
        write_scripted_visits(storage, tmp_path / "script-spool", site="test")
        add_account(storage, EMAIL, "admin")
        yield admin


def log_in(page: Page, admin_url: str) -> None:
    page.goto(admin_url + "/")
    expect(page).to_have_url(f"{admin_url}/login?next=%2F")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "dashboard-login")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{admin_url}/sites/test")


def test_log_in_change_range_and_filter_compare_and_download_a_csv(
    page: Page, page_errors: list[str], admin_url: str
) -> None:
    log_in(page, admin_url)
    expect(page.locator("#panel-top")).to_contain_text("Unique visitors")
    expect(page.locator("#panel-pages")).to_contain_text("/blog")
    # realtime.js (an external file: no inline script) has refreshed the live numbers.
    expect(page.locator("#realtime")).to_have_attribute("data-refreshed", re.compile(".+"))
    screenshot(page, "dashboard-7d")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-7d-full.png"), full_page=True)

    page.locator('a[data-range="30d"]').click()
    expect(page).to_have_url(f"{admin_url}/sites/test?period=30d")
    expect(page.locator("#panel-timeseries h2")).to_contain_text("Visitors by day")
    page.locator('a[data-range="yesterday"]').click()
    expect(page.locator("#panel-timeseries h2")).to_contain_text("Visitors by hour")
    screenshot(page, "dashboard-yesterday")

    page.locator('input[name="country"]').fill("DE")
    page.get_by_label("Compare with the previous period").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".active-filters")).to_contain_text("country: DE")
    expect(page.locator("#panel-cities")).to_contain_text("Munich")
    expect(page.locator("#panel-cities")).not_to_contain_text("London")
    expect(page.locator(".legend")).to_contain_text("previous period")
    screenshot(page, "dashboard-filtered-compared")

    with page.expect_download() as started:
        page.locator("#panel-pages a.csv").click()
    download = started.value
    ARTIFACTS.mkdir(exist_ok=True)
    saved = ARTIFACTS / "dashboard-pages.csv"
    download.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text())))
    assert rows[0] == ["page", "visitors", "pageviews", "previous_visitors"]
    assert any(row[0] == "/blog" for row in rows)
    assert download.suggested_filename.startswith("test-pages-yesterday-")
    assert page_errors == []


def test_a_row_click_filters_and_shows_where_visitors_went_next(
    page: Page, page_errors: list[str], admin_url: str
) -> None:
    log_in(page, admin_url)
    page.locator("#panel-pages").get_by_role("link", name="/", exact=True).click()
    expect(page.locator(".active-filters")).to_contain_text("page: /")
    expect(page.locator("#panel-navigation h2")).to_contain_text("Next pages after /")
    expect(page.locator("#panel-navigation")).to_contain_text("/blog")
    screenshot(page, "dashboard-navigation")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{admin_url}/login")
    page.goto(admin_url + "/users")
    expect(page).to_have_url(f"{admin_url}/login?next=%2Fusers")
    assert page_errors == []
