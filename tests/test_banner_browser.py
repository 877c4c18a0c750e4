"""The banner in a real Chromium, on the demo site through a real gateway.

The demo's /consent-demo page sends ``script-src 'self'; style-src 'self'``, so any
inline script or style the banner needed would show up as a console error, and
every test ends by checking there was none. Screenshots of each layer go to
test-artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from gateway.analytics.steps import DropReason
from gateway.app import create_app
from gateway.demo.site import create_demo_site
from gateway.storage import Storage
from tests.browser import axe_violations, screenshot
from tests.conftest import make_settings
from tests.servers import run_server

pytestmark = pytest.mark.browser

DEMO = "/consent-demo"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
ARABIC = {
    "title": "ملفات تعريف الارتباط",
    "text": "نستخدم ملفات تعريف الارتباط.",
    "policy": "سياسة الخصوصية",
    "accept": "قبول الكل",
    "reject": "رفض الكل",
    "choose": "اختيار",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo site behind a gateway, shared by the module: each test has fresh cookies."""
    tmp = tmp_path_factory.mktemp("banner-browser")
    texts = json.dumps({"ar": ARABIC})
    with run_server(create_demo_site()) as demo:
        settings = make_settings(demo, tmp, banner_texts=texts)
        with run_server(create_app(settings)) as gateway:
            yield gateway


@pytest.fixture(autouse=True)
def no_page_errors(page_errors: list[str]) -> Iterator[None]:
    """No CSP violation, no uncaught exception, no failed request (tests/browser.py)."""
    yield
    assert page_errors == []


def dialog(page: Page) -> Any:
    return page.locator(".cg")


def button(page: Page, name: str) -> Any:
    return dialog(page).get_by_role("button", name=name, exact=True)


def consent_calls(page: Page) -> list[list[Any]]:
    calls: list[list[Any]] = page.evaluate(
        "window.dataLayer.map((a) => Array.from(a)).filter((a) => a[0] === 'consent')"
    )
    return calls


def open_demo(page: Page, site: str, query: str = "") -> None:
    page.goto(site + DEMO + query)
    expect(dialog(page)).to_be_visible()
    dialog(page).evaluate("(b) => Promise.all(b.getAnimations().map((a) => a.finished))")


def test_first_layer_asks_before_anything_runs(page: Page, site: str) -> None:
    open_demo(page, site)
    box = dialog(page)
    expect(box).to_have_attribute("role", "region")  # asks, but takes no focus: not modal
    expect(box).to_have_accessible_name("Cookies and your privacy")
    expect(box.get_by_role("link", name="Privacy policy")).to_have_attribute(
        "href", "/_consent/privacy"
    )
    assert page.evaluate("document.activeElement === document.body")
    # Accept, reject and choose look exactly alike (at this width, one row of three).
    looks = [
        button(page, name).evaluate(
            "(b) => { const s = getComputedStyle(b), r = b.getBoundingClientRect();"
            " return [Math.round(r.width), Math.round(r.height), s.fontWeight, s.fontSize,"
            " s.color, s.backgroundColor, s.borderColor]; }"
        )
        for name in ("Accept all", "Reject all", "Choose")
    ]
    assert looks[0] == looks[1] == looks[2]
    # Nothing blocked has run, and Consent Mode was told "denied" before anything else.
    expect(page.locator("#tracker-status")).to_have_text("The tracker has not run.")
    assert page.locator("iframe").get_attribute("src") is None
    calls = consent_calls(page)
    assert calls[0] == [
        "consent",
        "default",
        {
            "ad_storage": "denied",
            "ad_user_data": "denied",
            "ad_personalization": "denied",
            "analytics_storage": "denied",
            "wait_for_update": 500,
        },
    ]
    assert page.evaluate("window.dataLayer.length") == len(calls)  # nothing before it
    # First after the charset: the inline defaults, which add the banner once the page has
    # painted (async, at the end of <head>); the banner adds its stylesheet first in <head>,
    # so the page's own rules win.
    head = page.evaluate(
        "[...document.head.children].map((e) => [e.tagName, e.src ? e.async : null])"
    )
    assert head[:3] == [["LINK", None], ["META", None], ["SCRIPT", None]]
    assert head[-1] == ["SCRIPT", True]
    assert page.evaluate("!!document.querySelector('link[href^=\"/_consent/banner.css\"]').sheet")
    screenshot(page, "banner-first-layer")


def test_accept_all_unblocks_the_script_and_the_iframe_without_a_reload(
    page: Page, site: str
) -> None:
    open_demo(page, site)
    page.evaluate("window.loaded = true")
    button(page, "Accept all").click()
    expect(page.locator("#tracker-status")).to_have_text("The tracker ran.")
    expect(page.frame_locator("iframe").locator("#video")).to_have_text(
        "The course video is playing."
    )
    assert page.evaluate("window.loaded") is True  # the same page: no reload
    expect(dialog(page)).to_be_hidden()
    expect(page.locator(".cg-open")).to_be_visible()
    assert consent_calls(page)[-1][1:] == [
        "update",
        {
            "ad_storage": "granted",
            "ad_user_data": "granted",
            "ad_personalization": "granted",
            "analytics_storage": "granted",
        },
    ]
    page.reload()
    expect(page.locator("#tracker-status")).to_have_text("The tracker ran.")
    expect(dialog(page)).to_have_count(0)


def test_reject_all_keeps_everything_blocked(page: Page, site: str) -> None:
    open_demo(page, site)
    button(page, "Reject all").click()
    expect(dialog(page)).to_be_hidden()
    page.reload()
    expect(page.locator(".cg-open")).to_be_visible()
    expect(dialog(page)).to_have_count(0)
    expect(page.locator("#tracker-status")).to_have_text("The tracker has not run.")
    assert page.locator("iframe").get_attribute("src") is None
    assert consent_calls(page)[-1][2]["analytics_storage"] == "denied"
    assert page.evaluate("consentGateway.get()") == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "marketing": False,
    }


def test_scrolling_waiting_and_using_the_page_never_count_as_consent(page: Page, site: str) -> None:
    open_demo(page, site)
    page.mouse.wheel(0, 2000)
    page.keyboard.press("End")
    page.get_by_role("link", name="Home").first.click()  # no cookie wall: the page works
    page.wait_for_url(site + "/")
    expect(dialog(page)).to_be_visible()
    state = page.evaluate("fetch('/_consent/state').then((r) => r.json())")
    assert state["must_show"] is True and state["categories"]["analytics"] is False


def test_second_layer_has_no_ticked_boxes_and_saves_a_choice(page: Page, site: str) -> None:
    open_demo(page, site)
    page.evaluate(
        "window.seen = []; document.addEventListener('consent:change',"
        " (e) => seen.push(e.detail.categories)); consentGateway.on('change',"
        " (c) => seen.push('api'))"
    )
    button(page, "Choose").click()
    expect(dialog(page)).to_have_attribute("aria-modal", "true")  # the second layer is modal
    switches = dialog(page).get_by_role("switch")
    expect(switches).to_have_count(3)
    # Necessary reads "Always on": no ticked, locked box (scanners flag one as pre-ticked).
    expect(dialog(page).locator(".cg-on")).to_have_text("NecessaryAlways on")
    for name in ("Preferences", "Analytics", "Marketing"):
        expect(dialog(page).get_by_role("switch", name=name)).not_to_be_checked()
    expect(button(page, "Choose")).to_be_hidden()
    screenshot(page, "banner-second-layer")
    dialog(page).get_by_role("switch", name="Analytics").check()
    button(page, "Save choices").click()
    expect(page.locator("#tracker-status")).to_have_text("The tracker ran.")
    assert page.locator("iframe").get_attribute("src") is None
    assert page.evaluate("seen") == [
        "api",
        {"necessary": True, "preferences": False, "analytics": True, "marketing": False},
    ]
    update = consent_calls(page)[-1][2]
    assert update["analytics_storage"] == "granted" and update["ad_storage"] == "denied"


def test_the_keyboard_can_do_everything(page: Page, site: str) -> None:
    open_demo(page, site)
    names = []
    for _ in range(5):  # the banner comes first: link, three buttons, then the page's own
        page.keyboard.press("Tab")
        names.append(page.evaluate("document.activeElement.textContent"))
    assert names == ["Privacy policy", "Accept all", "Reject all", "Choose", "Home"]
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "Choose"
    # The focus ring is visible.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "preferences"
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # analytics on
    page.keyboard.press("Escape")  # back to the first layer, nothing saved
    expect(dialog(page).get_by_role("switch", name="Analytics")).to_be_hidden()
    assert page.evaluate("document.activeElement.textContent") == "Choose"
    expect(dialog(page)).to_be_visible()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Reject all
    expect(dialog(page)).to_be_hidden()
    expect(page.locator("#tracker-status")).to_have_text("The tracker has not run.")


def test_reopen_shows_the_choice_and_withdrawing_reloads(page: Page, site: str) -> None:
    open_demo(page, site)
    button(page, "Accept all").click()
    expect(page.locator("#tracker-status")).to_have_text("The tracker ran.")
    page.locator(".cg-open").click()
    expect(dialog(page).get_by_role("switch", name="Marketing")).to_be_checked()
    page.keyboard.press("Escape")  # a reopened dialog closes with Escape
    expect(dialog(page)).to_be_hidden()
    assert page.evaluate("document.activeElement.className") == "cg-open"
    page.get_by_role("link", name="Cookie settings").click()  # data-consent-open
    expect(dialog(page)).to_be_visible()
    dialog(page).get_by_role("switch", name="Analytics").uncheck()
    with page.expect_navigation():  # the tracker already ran: only a reload stops it
        button(page, "Save choices").click()
    expect(page.locator("#tracker-status")).to_have_text("The tracker has not run.")
    expect(page.frame_locator("iframe").locator("#video")).to_have_text(
        "The course video is playing."
    )


def test_withdraw_from_site_code_deletes_the_consent(page: Page, site: str) -> None:
    open_demo(page, site)
    button(page, "Accept all").click()
    expect(page.locator("#tracker-status")).to_have_text("The tracker ran.")
    with page.expect_navigation():  # DELETE /_consent/state, then the reload it needs
        page.evaluate("consentGateway.withdraw()")
    expect(page.locator(".cg-open")).to_be_visible()
    expect(page.locator("#tracker-status")).to_have_text("The tracker has not run.")
    assert page.evaluate("consentGateway.get()")["marketing"] is False


@pytest.mark.parametrize(
    ("query", "locale", "title", "accept"),
    [
        ("?lang=fr", "en-GB", "Les cookies et votre vie privée", "Tout accepter"),
        ("?lang=de", "en-GB", "Cookies und Ihre Privatsphäre", "Alle akzeptieren"),
        ("?lang=es", "en-GB", "Las cookies y su privacidad", "Aceptar todo"),
        ("?lang=cy", "en-GB", "Cwcis a\u2019ch preifatrwydd", "Derbyn y cyfan"),
        ("?lang=zz", "es-ES", "Las cookies y su privacidad", "Aceptar todo"),
        ("?lang=zz", "ja-JP", "Cookies and your privacy", "Accept all"),
    ],
)
def test_language_comes_from_the_page_then_the_browser(
    browser: Browser, site: str, query: str, locale: str, title: str, accept: str
) -> None:
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        open_demo(page, site, query)
        expect(dialog(page).get_by_role("heading")).to_have_text(title)
        expect(button(page, accept)).to_be_visible()
    finally:
        context.close()


def test_right_to_left_texts_render_mirrored(page: Page, site: str) -> None:
    open_demo(page, site, "?lang=ar")
    box = dialog(page)
    expect(box).to_have_attribute("dir", "rtl")
    expect(box.get_by_role("heading")).to_have_text(ARABIC["title"])
    accept = button(page, ARABIC["accept"]).bounding_box()
    reject = button(page, ARABIC["reject"]).bounding_box()
    assert accept is not None and reject is not None
    assert accept["x"] > reject["x"]  # the first button is on the right
    assert box.evaluate("(b) => getComputedStyle(b).direction") == "rtl"
    screenshot(page, "banner-rtl")


def test_global_privacy_control_is_shown_and_keeps_marketing_off(
    browser: Browser, site: str
) -> None:
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    try:
        page = context.new_page()
        open_demo(page, site)
        button(page, "Choose").click()  # said beside the switches: the first layer stays small
        expect(dialog(page).locator(".cg-gpc")).to_be_visible()
        expect(dialog(page).locator(".cg-gpc")).to_contain_text("Global Privacy Control")
        expect(dialog(page).get_by_role("switch", name="Marketing")).not_to_be_checked()
        assert consent_calls(page)[-1][2]["ad_storage"] == "denied"
        screenshot(page, "banner-gpc")
    finally:
        context.close()


def test_axe_finds_no_contrast_or_aria_problem(page: Page, site: str) -> None:
    open_demo(page, site)
    assert axe_violations(page, ".cg") == []
    button(page, "Choose").click()
    assert axe_violations(page, ".cg") == []
    button(page, "Reject all").click()
    # The reopen button appears once the consent API has answered: wait for it.
    expect(page.locator(".cg-open")).to_be_visible()
    assert axe_violations(page, ".cg-open") == []


def test_reduced_motion_turns_the_animation_off(browser: Browser, site: str) -> None:
    context = browser.new_context(reduced_motion="reduce")
    try:
        page = context.new_page()
        open_demo(page, site)
        assert dialog(page).evaluate("(b) => getComputedStyle(b).animationName") == "none"
    finally:
        context.close()


def test_beacons_follow_analytics_consent_only(
    browser: Browser, demo_site: str, tmp_path: Path
) -> None:
    """Nothing before consent; after it, the page consent came on, single-page navigations
    with the time spent before them, and the time on the last page when it is left."""
    settings = make_settings(demo_site, tmp_path)
    # The analytics steps drop HeadlessChrome as a bot; this visitor says it is Chrome.
    context = browser.new_context(user_agent=CHROME)
    context.clock.install()  # time on a page passes when the test says so
    page = context.new_page()
    beacons: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.url.endswith("/_consent/collect"):
            beacons.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    app = create_app(settings)
    with run_server(app) as site:
        open_demo(page, site)
        page.locator("#spa-next").click()  # no consent yet: nothing may be sent
        page.wait_for_url("**/consent-demo/step-2")
        page.goto(site + DEMO)
        assert beacons == []
        with page.expect_response("**/_consent/collect") as sent:
            button(page, "Accept all").click()
        assert sent.value.status == 202
        page.clock.fast_forward(4000)
        with page.expect_response("**/_consent/collect") as sent:
            page.locator("#spa-next").click()
        assert sent.value.status == 202
        kinds = [(e["type"], e["path"]) for e in beacons[-1]["events"]]
        assert kinds == [("engagement", DEMO), ("pageview", DEMO + "/step-2")]
        assert beacons[-1]["events"][1]["referrer"] == site + DEMO
        # Leaving sends the time on the last page on pagehide; Chromium delivers it even
        # though the page is gone, so it is checked where it lands: in ClickHouse.
        page.clock.fast_forward(7000)
        page.goto(site + "/about")
        expect(page.locator(".cg-open")).to_be_visible()
        page.wait_for_timeout(1500)
    context.close()  # after the gateway stopped: the pagehide of /about goes nowhere
    db = Storage(settings.clickhouse_dsn).connect()
    rows = db.query("SELECT kind, path, engagement_ms FROM events").result_rows
    engaged = {p: ms for k, p, ms in rows if str(k) == "engagement"}
    assert engaged[DEMO] >= 4000
    assert sorted(
        (str(k), p) for k, p, _ in rows if p != DEMO + "/step-2" or k != "engagement"
    ) == sorted(
        [
            ("pageview", DEMO),
            ("engagement", DEMO),
            ("pageview", DEMO + "/step-2"),
            ("pageview", "/about"),  # recorded by the gateway itself, no script needed
        ]
    )
    # The pagehide beacon arrived exactly once. Chromium sends the beacons of a page being
    # left with its own user agent rather than the context's, and the gateway drops
    # HeadlessChrome as a bot: either way it is counted once.
    left = engaged.get(DEMO + "/step-2")
    bots = app.services.analytics.pipeline.dropped[DropReason.BOT]
    assert (left is not None and left >= 7000) + bots == 1


def test_a_nonce_based_strict_policy_lets_the_banner_and_what_it_unblocks_run(
    page: Page, site: str
) -> None:
    open_demo(page, site, "?csp=nonce")  # 'self' is ignored there: the nonce is copied
    button(page, "Accept all").click()
    expect(page.locator("#tracker-status")).to_have_text("The tracker ran.")


def test_compressed_pages_get_the_banner_in_the_browser(page: Page, site: str) -> None:
    response = page.goto(site + "/compressed")
    assert response is not None
    assert response.headers["content-encoding"] in ("br", "gzip")
    expect(dialog(page)).to_be_visible()
