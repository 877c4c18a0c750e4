"""``Banner``: the banner's routes and the proxy's injection hook, built from the settings.

The tags that go into every page are built once, at start-up: a stylesheet
link and a synchronous script, both versioned, and the site's configuration as
JSON in the script's ``data-config`` attribute (ASCII only, so the tags fit any
ASCII-compatible charset of the page). Nothing in them depends on the
visitor, so a cached page never carries someone else's consent: the banner
asks ``GET /_consent/state`` for that.
"""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.routing import BaseRoute, Route

from gateway.banner.assets import BannerAssets
from gateway.banner.rewrite import HtmlInjector
from gateway.consent.state import NECESSARY
from gateway.exceptions import SettingsError
from gateway.settings import Settings


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


class Banner:
    """The banner's assets, its routes under the prefix and the injection hook."""

    def __init__(self, settings: Settings, assets: BannerAssets | None = None) -> None:
        self.prefix = settings.prefix
        self.assets = assets or BannerAssets()
        config = json.dumps(banner_config(settings), separators=(",", ":"), ensure_ascii=True)
        # In single quotes, so the JSON's many double quotes need no escaping.
        attribute = html.escape(config, quote=False).replace("'", "&#39;")
        css, js = (
            self.assets.url(self.prefix, "banner.css"),
            self.assets.url(self.prefix, "banner.js"),
        )
        self.tags = (
            f'<link rel="stylesheet" href="{css}">'
            f"<script src=\"{js}\" data-config='{attribute}'></script>"
        ).encode("ascii")
        self.injector = (
            HtmlInjector(
                self.tags,
                marker=f"{self.prefix}banner.js".encode(),
                exclude=settings.banner_exclude,
                limit=settings.banner_max_html_bytes,
            )
            if settings.banner
            else None
        )

    def routes(self) -> list[BaseRoute]:
        """The two assets, served whether or not the gateway injects them."""
        return [
            Route(f"{self.prefix}{name}", self.assets.serve, methods=["GET", "HEAD"])
            for name in self.assets.files
        ]
