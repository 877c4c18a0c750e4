"""Noticing a page's own consent tool, which would ask the visitor a second time.

Themes and plugins ship banners of their own (mkdocs-material's ``extra.consent``,
cookieconsent, Klaro, Complianz, CookieYes...). With two, a visitor's "Reject all"
in the gateway's banner is not what the other applies, so the operator is warned,
once per tool, with where to turn it off (docs/sites.md). Each tool is known by
strings its own markup or script addresses carry, looked for in the decoded HTML
the banner goes into. Looking costs a pass over the page per string, so at most
one page a second is looked at, and none once every tool has been reported: a
tool is on every page of its site, and is seen within seconds of the first visits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

logger = logging.getLogger("gateway.banner")

SAMPLE_INTERVAL = 1.0  # seconds between two pages looked at


class ConsentTool(NamedTuple):
    """A consent tool, the strings that give it away in a page, and how to turn it off."""

    name: str
    needles: tuple[bytes, ...]
    off: str


KNOWN_TOOLS: tuple[ConsentTool, ...] = (
    ConsentTool(
        "mkdocs-material's cookie consent",
        (b'data-md-component="consent"',),
        "remove extra.consent from mkdocs.yml and build again",
    ),
    ConsentTool(
        "cookieconsent",
        (b"cookieconsent.min.js", b"cookieconsent.umd.js", b"cookieconsent.initialise"),
        "remove the cookieconsent script and its CookieConsent.run() or initialise() call",
    ),
    ConsentTool("Klaro", (b"klaro.js", b"klaroConfig"), "remove the klaro script and config"),
    ConsentTool(
        "Complianz",
        (b"complianz-gdpr", b"cmplz-cookiebanner"),
        "deactivate the Complianz plugin in WordPress",
    ),
    ConsentTool(
        "CookieYes",
        (b"cdn-cookieyes.com", b"cky-consent-container"),
        "deactivate the CookieYes plugin, or remove its script",
    ),
    ConsentTool(
        "GDPR Cookie Consent (CookieLawInfo)",
        (b"cookie-law-info-bar",),
        "deactivate the plugin in WordPress",
    ),
    ConsentTool("Cookiebot", (b"consent.cookiebot.com",), "remove the Cookiebot script"),
    ConsentTool("OneTrust", (b"cdn.cookielaw.org", b"otSDKStub.js"), "remove the OneTrust script"),
    ConsentTool("iubenda", (b"cdn.iubenda.com/cs/",), "remove the iubenda Cookie Solution"),
    ConsentTool("Usercentrics", (b"usercentrics.eu",), "remove the Usercentrics script"),
    ConsentTool("Borlabs Cookie", (b"borlabs-cookie",), "deactivate Borlabs Cookie"),
    ConsentTool("Termly", (b"app.termly.io",), "remove the Termly script"),
)


class ConsentToolWatch:
    """Called with each decoded page the banner goes into; warns once per tool found.

    Safe to call from the threads large pages are changed in.
    """

    def __init__(
        self,
        tools: tuple[ConsentTool, ...] = KNOWN_TOOLS,
        interval: float = SAMPLE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._left = list(tools)
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, page: bytes) -> None:
        if not self._left:
            return
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval
        found = [tool for tool in self._left if any(needle in page for needle in tool.needles)]
        if not found:
            return
        with self._lock:
            for tool in found:
                if tool in self._left:
                    self._left.remove(tool)
                    logger.warning(
                        "the site's pages carry a consent tool of their own, %s: visitors are "
                        "asked twice and a choice in one is not applied by the other; to turn "
                        "it off, %s (docs/sites.md, 'A consent tool of the site's own')",
                        tool.name,
                        tool.off,
                    )
