"""``Banner``: the banner's routes and the proxy's injection hook, built from the settings.

The tag that goes into every page is built once, at start-up: one inline script
that sets the Google Consent Mode defaults, which must come before any script of
the page, and adds the banner's script once the page has painted, so that nothing
of the banner (script, stylesheet, consent state) competes with the page for its
first paint; the site's configuration goes along as the script's ``data-config``.
All of it is ASCII, so it fits any ASCII-compatible charset of the page. Nothing
in it depends on the visitor, so a cached page never carries someone else's
consent: the banner asks ``GET /_consent/state`` for that. Its hash is the
banner's version in the validators of the pages it goes into (``validators.py``).
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any

from starlette.routing import BaseRoute, Route

from gateway.banner.assets import BannerAssets
from gateway.banner.csp_report import PagePolicy, ReportReceiver
from gateway.banner.holdback import HoldBack
from gateway.banner.measure import measure_script
from gateway.banner.rewrite import HtmlInjector
from gateway.banner.validators import PageValidators
from gateway.clock import Clock, system_clock
from gateway.consent.host_inventory import HostInventory
from gateway.consent.state import NECESSARY
from gateway.consent.third_parties import ThirdParties
from gateway.exceptions import SettingsError
from gateway.settings import Settings
from gateway.sites import site_id


def banner_config(settings: Settings) -> dict[str, Any]:
    """What the banner script needs to know about the site, as its ``data-config``."""
    known = {NECESSARY, *settings.consent_categories}
    for signal, category in settings.banner_consent_mode.items():
        if category not in known:
            raise SettingsError(
                f"CG_BANNER_CONSENT_MODE maps {signal} to {category!r}, which is not a consent "
                f"category; use one of {', '.join(sorted(known))} (CG_CONSENT_CATEGORIES)."
            )
    config: dict[str, Any] = {
        "prefix": settings.prefix,
        "categories": list(settings.consent_categories),
        "mode": settings.banner_consent_mode,
    }
    if settings.banner_policy_url:
        config["policy"] = settings.banner_policy_url
    if settings.banner_texts:
        config["texts"] = settings.banner_texts
    return config


LATEST_MS = 3000
"""How long the banner waits for the page's first contentful paint before loading anyway."""


def js_literal(value: object) -> str:
    """``value`` as JavaScript (JSON, ASCII only) that cannot close an inline ``<script>``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")


def inline_script(mode: dict[str, str], src: str, config: dict[str, Any]) -> bytes:
    """The script that goes first in every page.

    It sets every Google Consent Mode signal to ``denied`` before any tag of the page
    runs (pushing an ``arguments`` object, as ``gtag()`` does, without defining
    ``gtag``); ``banner.js`` sends the ``update`` once the choice is known. Then it adds
    ``banner.js`` (with the page's nonce, if any, and ``config`` as its ``data-config``)
    once the browser reports the page's first contentful paint, so that nothing of the
    banner competes with the page for it; at once where paint timing is not supported,
    and after :data:`LATEST_MS` at the latest (a page that paints nothing).
    """
    signals: dict[str, str | int] = dict.fromkeys(mode, "denied")
    signals["wait_for_update"] = 500  # ms Google's tags wait for that update
    return (
        "window.dataLayer=window.dataLayer||[];"
        f"(function(){{dataLayer.push(arguments)}})('consent','default',{js_literal(signals)});"
        "(function(d,n){var done;function go(){if(done)return;done=1;"
        f"var s=d.createElement('script');s.src={js_literal(src)};s.nonce=n;"
        f"s.dataset.config=JSON.stringify({js_literal(config)});d.head.appendChild(s)}}"
        "try{if(PerformanceObserver.supportedEntryTypes.indexOf('paint')<0)throw 0;"
        "new PerformanceObserver(function(l,o){"
        "if(l.getEntriesByName('first-contentful-paint').length){o.disconnect();go()}"
        "}).observe({type:'paint',buffered:true})}catch(e){go()}"
        f"setTimeout(go,{LATEST_MS})}})(document,document.currentScript.nonce)"
    ).encode("ascii")


class Banner:
    """The banner's assets, its routes under the prefix and the injection hook."""

    def __init__(
        self,
        settings: Settings,
        assets: BannerAssets | None = None,
        clock: Clock = system_clock,
        hosts: HostInventory | None = None,
    ) -> None:
        self.prefix = settings.prefix
        self.assets = assets or BannerAssets()
        config = banner_config(settings)
        config["css"] = self.assets.url(self.prefix, "banner.css")
        config["object"] = self.assets.url(self.prefix, "object.js")  # opt-out regimes only
        text = json.dumps(config, separators=(",", ":"), ensure_ascii=True)
        js = self.assets.url(self.prefix, "banner.js")
        self.inline = inline_script(settings.banner_consent_mode, js, config) + measure_script(
            self.assets.url(self.prefix, "measure.js"), settings.outbound_links
        )
        self.tags = b"<script>" + self.inline + b"</script>"
        # For the gateway's own pages: the script alone (no Google tag there to hold back,
        # and their policy allows no inline script). In single quotes, so the JSON's many
        # double quotes need no escaping.
        attribute = html.escape(text, quote=False).replace("'", "&#39;")
        self.script_tag = f"<script async src=\"{js}\" data-config='{attribute}'></script>".encode(
            "ascii"
        )
        # Pages with third-party tags held back also load the script that releases them.
        if hosts is None:
            parties = ThirdParties(
                settings.third_party_rules, {NECESSARY, *settings.consent_categories}
            )
            hosts = HostInventory(parties, site_id(settings))
        parties = hosts.parties
        # Hosts browsers report a page contacted without consent (csp_report.py).
        self.reports = ReportReceiver(hosts)
        self.release_tag = (
            f'<script async src="{self.assets.url(self.prefix, "third-parties.js")}" '
            f'data-prefix="{self.prefix}" '
            f'data-css="{self.assets.url(self.prefix, "third-parties.css")}"></script>'
        ).encode("ascii")
        # Pages served from now on carry this banner: none may be older than this moment.
        version = hashlib.sha256(self.tags + self.release_tag).hexdigest()[:10]
        self.validators = PageValidators(version, int(clock()))
        self.injector = (
            HtmlInjector(
                self.tags,
                marker=f"{self.prefix}banner.js".encode(),
                exclude=settings.banner_exclude,
                limit=settings.banner_max_html_bytes,
                validators=self.validators,
                inline=self.inline,
                hold=HoldBack(parties),
                extra=self.release_tag,
                policy=PagePolicy(
                    parties,
                    self.prefix,
                    settings.csp_enforce,
                    frozenset(settings.consent_categories),
                ),
            )
            if settings.banner
            else None
        )

    def routes(self) -> list[BaseRoute]:
        """The assets, served whether or not the gateway injects them, and the endpoint
        of the pages' policy reports."""
        return [
            *(
                Route(f"{self.prefix}{name}", self.assets.serve, methods=["GET", "HEAD"])
                for name in self.assets.files
            ),
            Route(f"{self.prefix}csp-report", self.reports.endpoint, methods=["POST"]),
        ]
