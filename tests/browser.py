"""A real headless Chromium for the browser tests: Debian's ``chromium``, driven by Playwright.

``tests/conftest.py`` registers these fixtures for every test; mark browser tests
with ``pytest.mark.browser``. The fixtures are:

    browser   one Chromium per test module (starting one costs about a second). Not
              per session: Playwright's sync API keeps its event loop marked running
              in the main thread while it is open, and asyncio.run() in any later
              test would then fail
    page      a fresh context (no cookies, no storage) and page per test; console
              errors, uncaught exceptions and 4xx/5xx responses (but the favicon's)
              are collected in ``page_errors``

``screenshot(page, name)`` saves a PNG under ``test-artifacts/`` (kept by CI,
ignored by git) and ``axe_violations(page, selector)`` runs axe-core in the
page and returns what it found. The browser is never downloaded: Playwright's
own builds are not used, only ``/usr/bin/chromium`` that ``scripts/test``
installs with apt, and axe-core comes from the npm registry into ``.cache``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / ".cache" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the test module, from Debian's package."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium).")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Console errors, uncaught exceptions and failed responses of the test's page."""
    return []


@pytest.fixture
def page(browser: Browser, page_errors: list[str]) -> Iterator[Page]:
    """A page in a fresh context, so each test starts as a first-time visitor."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    opened = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # Failed loads are reported with their address by on_response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            page_errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            page_errors.append(f"{response.status} {response.request.method} {response.url}")

    opened.on("console", on_console)
    opened.on("response", on_response)
    opened.on("pageerror", lambda error: page_errors.append(str(error)))
    opened.set_default_timeout(10_000)
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of ``page`` as ``test-artifacts/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def axe_violations(page: Page, selector: str, rules: list[str] | None = None) -> list[Any]:
    """axe-core's violations inside ``selector``: one dict per rule, with the nodes at fault.

    axe is evaluated through the DevTools protocol rather than added as a ``<script>``,
    so a page's Content-Security-Policy (the banner is tested under a strict one)
    does not block it.
    """
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/test fetches it (npm pack axe-core).")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    result = page.evaluate(
        "([selector, options]) => axe.run(document.querySelector(selector), options)",
        [selector, options],
    )
    violations: list[Any] = result["violations"]
    return violations
