"""Third parties held back without hand-marking: a real mkdocs-material site with Google
Analytics and a YouTube embed, behind a real gateway, in a real Chromium.

Every request to a host other than the loopback is recorded and aborted (never sent),
so the test sees what the page would have contacted, and when.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from starlette.applications import Starlette
from starlette.routing import Route as Endpoint
from starlette.staticfiles import StaticFiles

from gateway.app import create_app
from gateway.consent.third_parties import NECESSARY, ThirdParties
from tests.browser import axe_violations, screenshot
from tests.conftest import make_settings
from tests.servers import run_server
from tests.test_third_parties import strict_page

pytestmark = pytest.mark.browser

MKDOCS_YML = """site_name: St Example's School
theme:
  name: material
extra:
  analytics:
    provider: google
    property: G-TEST12345
"""
VIDEO_PAGE = """# Open day

Watch the tour.

<iframe width="560" height="315" src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
 title="School tour" allowfullscreen></iframe>
"""
LOOPBACK = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The mkdocs-material site, built from PyPI's package, served behind a gateway."""
    project = tmp_path_factory.mktemp("mkdocs-third-parties")
    (project / "docs").mkdir()
    (project / "docs" / "index.md").write_text("# Welcome\n\nTerm starts on Monday.\n")
    (project / "docs" / "tour.md").write_text(VIDEO_PAGE)
    (project / "mkdocs.yml").write_text(MKDOCS_YML)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(project / "site")]
    subprocess.run(command, cwd=project, env=env, check=True, timeout=120)
    static = Starlette()
    static.mount("/", StaticFiles(directory=project / "site", html=True))
    with run_server(static) as upstream:
        with run_server(create_app(make_settings(upstream, project))) as gateway:
            yield gateway


def record_third_parties(page: Page) -> list[str]:
    """Abort every request that leaves the machine; the list of their URLs, in order."""
    seen: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            seen.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return seen


def settle(page: Page) -> None:
    """Let the page go quiet. An embed's frame whose request was aborted can keep the page
    from ever counting as idle, so after 5 s the checks that follow go on regardless."""
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_load_state("networkidle", timeout=5000)
    time.sleep(0.3)  # what runs after idle (the banner loads after first paint)


def hosts(urls: list[str]) -> set[str]:
    return {urlsplit(url).hostname or "" for url in urls}


@pytest.mark.slow  # with the site's build, about 10 s
def test_nothing_third_party_before_a_choice_then_each_on_its_consent(
    site: str, page: Page
) -> None:
    seen = record_third_parties(page)
    page.goto(f"{site}/tour/")
    banner = page.locator(".cg")
    expect(banner).to_be_visible()
    settle(page)
    parties = ThirdParties()
    # Nothing but hosts classed necessary (there are none on this page).
    unexpected = [
        u
        for u in seen
        if (found := parties.lookup(urlsplit(u).hostname or "", urlsplit(u).path)) is None
        or found.category != NECESSARY
    ]
    assert unexpected == [], unexpected
    placeholder = page.locator(".cg-ph")
    expect(placeholder).to_contain_text("YouTube")
    expect(page.locator("iframe[title='School tour']")).to_be_hidden()
    assert axe_violations(page, ".cg-ph") == []
    screenshot(page, "third-parties-placeholder")

    # Analytics granted in the banner: Google Analytics loads, without a reload.
    page.evaluate("window.sameDocument = true")
    page.locator("[data-cg=choose]").click()
    page.locator("input[name=analytics]").check()
    with page.expect_request(lambda r: "www.googletagmanager.com/gtag/js" in r.url):
        page.locator("[data-cg=save]").click()
    assert page.evaluate("window.sameDocument") is True
    settle(page)
    assert not any("youtube" in h or "fonts.g" in h for h in hosts(seen)), seen

    # "Load video": this one embed loads.
    with page.expect_request(lambda r: "youtube-nocookie.com/embed/" in r.url):
        placeholder.get_by_role("button", name="Load video").click()
    expect(placeholder).to_have_count(0)

    # Withdrawn: the page reloads and fetches nothing from anyone.
    settle(page)
    count = len(seen)
    with page.expect_navigation():
        page.evaluate("consentGateway.withdraw()")
    settle(page)
    assert seen[count:] == []
    expect(page.locator(".cg-ph")).to_be_visible()


def test_always_allow_youtube_loads_its_embeds_on_later_pages_too(site: str, page: Page) -> None:
    seen = record_third_parties(page)
    page.goto(f"{site}/tour/")
    placeholder = page.locator(".cg-ph")
    with page.expect_request(lambda r: "youtube-nocookie.com/embed/" in r.url):
        placeholder.get_by_role("button", name="Always allow YouTube").click()
    expect(placeholder).to_have_count(0)
    with page.expect_request(lambda r: "youtube-nocookie.com/embed/" in r.url):
        page.reload()
    settle(page)
    expect(page.locator(".cg-ph")).to_have_count(0)
    assert hosts(seen) == {"www.youtube-nocookie.com"}, seen


@pytest.mark.parametrize("enforce", ["off", "on"])
def test_under_the_sites_strict_policy_unknown_hosts_are_reported_or_refused(
    page: Page, tmp_path: Path, caplog: pytest.LogCaptureFixture, enforce: str
) -> None:
    caplog.set_level(logging.WARNING, "gateway.banner")
    seen = record_third_parties(page)
    with run_server(Starlette(routes=[Endpoint("/", strict_page)])) as upstream:
        settings = make_settings(upstream, tmp_path, csp_enforce=enforce)
        with run_server(create_app(settings)) as gateway:
            page.goto(gateway)
            expect(page.locator(".cg")).to_be_visible()  # the banner runs under both policies
            settle(page)
            if enforce == "off":
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not reported(caplog):
                    time.sleep(0.1)
    if enforce == "off":  # fetched (and aborted here), and reported
        assert hosts(seen) == {"cdn.unknown-example.org"}
        assert reported(caplog) == ["cdn.unknown-example.org"]
    else:  # refused by the browser itself, never requested
        assert seen == []
    assert not any("googletagmanager" in url for url in seen)


def reported(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(r.args[0]) for r in caplog.records if "without consent" in r.msg]  # type: ignore[index]
