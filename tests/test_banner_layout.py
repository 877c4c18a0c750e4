"""The banner does not stand in the way: a phone and a desktop screen, a login page with
``autofocus``, the keyboard, axe, and how the banner arrives (no flash, no modal).

The upstream is a small login page written here: a form whose user name field has
``autofocus``, and enough text for the page to scroll; and a page that embeds the banner
by hand, with the tags of static/consent-banner/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.app import create_app
from tests.browser import axe_violations, screenshot
from tests.conftest import make_settings
from tests.servers import run_server

pytestmark = pytest.mark.browser

README = Path(__file__).resolve().parent.parent / "static" / "consent-banner" / "README.md"

PHONE: ViewportSize = {"width": 360, "height": 640}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# The first layer's words for each built-in language: (accept, reject, choose, always on).
LANGUAGES = {
    "en": ("Accept all", "Reject all", "Choose", "Always on"),
    "fr": ("Tout accepter", "Tout refuser", "Choisir", "Toujours actifs"),
    "de": ("Alle akzeptieren", "Alle ablehnen", "Auswählen", "Immer aktiv"),
    "es": ("Aceptar todo", "Rechazar todo", "Elegir", "Siempre activas"),
    "cy": ("Derbyn y cyfan", "Gwrthod y cyfan", "Dewis", "Ymlaen bob amser"),
}
# Records, as the banner is inserted (before any paint), whether its stylesheet applies.
FIRST_SIGHT = """
new MutationObserver((changes, observer) => {
  const box = document.querySelector('.cg');
  if (!box) return;
  window.firstSight = getComputedStyle(box).position;
  observer.disconnect();
}).observe(document, { childList: true, subtree: true });
"""


async def login(request: Request) -> HTMLResponse:
    lang = request.query_params.get("lang", "en")
    text = "<p>Staff and pupils log in with their school account.</p>" * 40
    return HTMLResponse(
        f"<!doctype html><html lang={lang if lang.isalpha() else 'en'}><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<title>Log in</title></head><body><main><h1>Log in</h1>"
        '<form method=post action="/login"><label>User name <input name=username autofocus>'
        "</label> <label>Password <input name=password type=password></label> "
        f"<button>Log in</button></form>{text}</main></body></html>",
        headers={"Content-Security-Policy": "script-src 'self'; style-src 'self'"},
    )


def by_hand_tags() -> str:
    """The tags the README's "Embedding by hand" tells a site to write."""
    section = README.read_text(encoding="utf-8").split("**Embedding by hand**", 1)[1]
    found = re.search(r"```html\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


async def by_hand(request: Request) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8>{by_hand_tags()}"
        "<title>By hand</title></head><body><h1>By hand</h1></body></html>"
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upstream = Starlette(routes=[Route("/login", login), Route("/by-hand", by_hand)])
    with run_server(upstream) as origin:
        settings = make_settings(origin, tmp_path_factory.mktemp("banner-layout"))
        with run_server(create_app(settings)) as gateway:
            yield gateway


@pytest.fixture(autouse=True)
def no_page_errors(page_errors: list[str]) -> Iterator[None]:
    """No CSP violation, no uncaught exception, no failed request (tests/browser.py)."""
    yield
    assert page_errors == []


def visit(page: Page, site: str, errors: list[str], lang: str = "en") -> Any:
    """The login page with the banner in place; console errors (a CSP violation, say) and
    uncaught exceptions go to ``errors``, which ``no_page_errors`` checks (the favicon's
    404 aside, as in tests/browser.py)."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(FIRST_SIGHT)
    page.goto(f"{site}/login?lang={lang}")
    box = page.locator(".cg")
    expect(box).to_be_visible()
    box.evaluate("(b) => Promise.all(b.getAnimations().map((a) => a.finished))")  # in place
    return box


def bounds(locator: Any) -> dict[str, float]:
    box: dict[str, float] = locator.bounding_box()
    assert box is not None
    return box


def looks(locator: Any) -> list[Any]:
    looked: list[Any] = locator.evaluate(
        "(b) => { const s = getComputedStyle(b), r = b.getBoundingClientRect();"
        " return [Math.round(r.width), Math.round(r.height), s.fontWeight, s.fontSize,"
        " s.color, s.backgroundColor, s.borderColor]; }"
    )
    return looked


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_on_a_phone_the_first_layer_asks_without_standing_in_the_way(
    browser: Browser, site: str, lang: str, page_errors: list[str]
) -> None:
    accept_name, reject_name, choose_name, always_on = LANGUAGES[lang]
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        box = visit(page, site, page_errors, lang)
        assert page.evaluate("window.firstSight") == "fixed"  # styled from its first frame
        # Not a modal dialog: the page keeps its autofocus, and scrolls.
        expect(box).to_have_attribute("role", "region")
        assert box.get_attribute("aria-modal") is None
        assert page.evaluate("document.activeElement.name") == "username"
        page.mouse.wheel(0, 600)  # a wheel, not scrollBy(): overflow:hidden stops only this
        for _ in range(50):
            if page.evaluate("window.scrollY") > 0:
                break
            page.wait_for_timeout(20)
        assert page.evaluate("window.scrollY") > 0
        # At most 40% of the screen, inside it, Accept and Reject side by side and alike.
        area = bounds(box)
        assert area["height"] <= 0.4 * PHONE["height"], area
        assert area["x"] >= 0 and area["x"] + area["width"] <= PHONE["width"]
        assert area["y"] + area["height"] <= PHONE["height"]
        accept = box.get_by_role("button", name=accept_name, exact=True)
        reject = box.get_by_role("button", name=reject_name, exact=True)
        first, second = bounds(accept), bounds(reject)
        assert first["y"] == second["y"] and first["x"] + first["width"] <= second["x"]
        assert looks(accept) == looks(reject)
        assert axe_violations(page, ".cg") == []
        if lang == "en":
            screenshot(page, "banner-phone")
        # The second layer: a modal dialog, "Always on" for necessary, no locked box.
        box.get_by_role("button", name=choose_name, exact=True).click()
        expect(box).to_have_attribute("role", "dialog")
        expect(box).to_have_attribute("aria-modal", "true")
        expect(box.locator(".cg-on")).to_contain_text(always_on)
        expect(box.get_by_role("switch")).to_have_count(3)
        expect(box.locator("input:checked, input:disabled")).to_have_count(0)
        assert axe_violations(page, ".cg") == []
    finally:
        context.close()


def test_on_a_desktop_the_banner_sits_at_the_bottom_with_three_buttons_in_a_row(
    browser: Browser, site: str, page_errors: list[str]
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        box = visit(page, site, page_errors)
        area = bounds(box)
        assert area["y"] + area["height"] <= DESKTOP["height"]
        assert area["height"] <= 0.3 * DESKTOP["height"] and area["width"] <= 640
        buttons = [
            bounds(box.get_by_role("button", name=name, exact=True))
            for name in ("Accept all", "Reject all", "Choose")
        ]
        assert len({b["y"] for b in buttons}) == 1
        assert len({round(b["width"]) for b in buttons}) == 1
        assert page.evaluate("document.activeElement.name") == "username"
        assert axe_violations(page, ".cg") == []
        screenshot(page, "banner-desktop")
    finally:
        context.close()


def test_the_keyboard_reaches_the_banner_and_the_form_and_is_never_trapped(
    browser: Browser, site: str, page_errors: list[str]
) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        visit(page, site, page_errors)
        focused = "document.activeElement.name || document.activeElement.textContent"
        # The banner comes first in the page's order: back from the autofocused field...
        names = []
        for _ in range(4):
            page.keyboard.press("Shift+Tab")
            names.append(page.evaluate(focused))
        assert names == ["Choose", "Reject all", "Accept all", "Privacy policy"]
        # ...and forward out of it again, into the form: nothing holds the focus.
        names = []
        for _ in range(6):
            page.keyboard.press("Tab")
            names.append(page.evaluate(focused))
        assert names == ["Accept all", "Reject all", "Choose", "username", "password", "Log in"]
        page.keyboard.press("Escape")  # means nothing in the first layer
        expect(page.locator(".cg")).to_be_visible()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(focused) == "Reject all"
        page.keyboard.press("Enter")
        expect(page.locator(".cg")).to_be_hidden()
        assert page.evaluate(focused) == "username"  # back where the visitor was
        # Reopened, the settings are a modal dialog: Tab goes round inside it.
        page.locator(".cg-open").click()
        inside = "document.querySelector('.cg').contains(document.activeElement)"
        for _ in range(8):
            page.keyboard.press("Tab")
            assert page.evaluate(inside)
    finally:
        context.close()


def test_the_tags_the_readme_gives_for_embedding_by_hand_work(page: Page, site: str) -> None:
    page.goto(site + "/by-hand")
    expect(page.locator(".cg")).to_be_visible()
    assert page.locator("script[src^='/_consent/banner.js']").count() == 1  # left alone
    first = page.evaluate("Array.from(window.dataLayer[0])")
    assert first[:2] == ["consent", "default"] and first[2]["analytics_storage"] == "denied"
    page.locator(".cg").get_by_role("button", name="Reject all").click()
    expect(page.locator(".cg-open")).to_be_visible()
