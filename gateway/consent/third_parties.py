"""The third-party hosts that education sites load trackers and embeds from.

Each host (a name covers its subdomains) or host with a path prefix
(``www.google.com/maps``) names a provider, the consent category its requests
need, and for embeds the kind of placeholder they get (``video``, ``map``).
``necessary`` hosts are never held back. The operator's ``CG_THIRD_PARTY_RULES``
(``host=category``, or ``host/path=category``) come first and may name hosts of
their own; the tracker hosts of the Open Cookie Database come last. A few inline
snippets load their tag without naming its host in the same script;
:data:`SIGNATURES` knows them by a fragment of their code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.consent.cookie_database import CookieDatabase, load_database
from gateway.exceptions import SettingsError


@dataclass(frozen=True, slots=True)
class ThirdParty:
    """What is known about one host: who runs it and what its requests need."""

    provider: str
    category: str
    embed: str = ""  # "video" or "map": a held-back frame gets a placeholder


ANALYTICS, MARKETING, PREFERENCES, NECESSARY = "analytics", "marketing", "preferences", "necessary"
_VIDEO, _MAP = "video", "map"

# provider: (category, embed kind, hosts)
_KNOWN: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Google Tag Manager": (ANALYTICS, "", ("googletagmanager.com",)),
    "Google Analytics": (
        ANALYTICS,
        "",
        ("google-analytics.com", "analytics.google.com", "region1.google-analytics.com"),
    ),
    "Google Ads": (
        MARKETING,
        "",
        (
            "googleadservices.com",
            "googlesyndication.com",
            "adservice.google.com",
            "pagead2.googlesyndication.com",
            "googletagservices.com",
        ),
    ),
    "DoubleClick": (MARKETING, "", ("doubleclick.net",)),
    "Meta": (MARKETING, "", ("connect.facebook.net", "facebook.com", "facebook.net")),
    "Instagram": (MARKETING, "", ("instagram.com", "cdninstagram.com")),
    "LinkedIn": (MARKETING, "", ("licdn.com", "ads.linkedin.com", "linkedin.com")),
    "Microsoft Clarity": (ANALYTICS, "", ("clarity.ms",)),
    "Microsoft Advertising": (MARKETING, "", ("bat.bing.com", "bat.r.msn.com")),
    "Hotjar": (ANALYTICS, "", ("hotjar.com", "hotjar.io")),
    "TikTok": (MARKETING, "", ("analytics.tiktok.com", "tiktok.com", "ttwstatic.com")),
    "X": (
        MARKETING,
        "",
        ("platform.twitter.com", "static.ads-twitter.com", "analytics.twitter.com", "t.co"),
    ),
    "Pinterest": (MARKETING, "", ("pinimg.com", "ct.pinterest.com", "pinterest.com")),
    "HubSpot": (
        MARKETING,
        "",
        (
            "hs-scripts.com",
            "hs-analytics.net",
            "hsforms.net",
            "hs-banner.com",
            "hubspot.com",
            "hsadspixel.net",
            "usemessages.com",
        ),
    ),
    "Snapchat": (MARKETING, "", ("sc-static.net", "tr.snapchat.com")),
    "Reddit": (MARKETING, "", ("redditstatic.com", "alb.reddit.com")),
    "Criteo": (MARKETING, "", ("criteo.com", "criteo.net")),
    "AddThis": (MARKETING, "", ("addthis.com",)),
    "ShareThis": (MARKETING, "", ("sharethis.com",)),
    "Disqus": (MARKETING, "", ("disqus.com", "disquscdn.com")),
    "Mailchimp": (MARKETING, "", ("chimpstatic.com", "list-manage.com")),
    "Yandex Metrica": (ANALYTICS, "", ("mc.yandex.ru", "mc.yandex.com")),
    "Cloudflare Web Analytics": (ANALYTICS, "", ("static.cloudflareinsights.com",)),
    "Matomo Cloud": (ANALYTICS, "", ("matomo.cloud",)),
    "Plausible": (ANALYTICS, "", ("plausible.io",)),
    "Crazy Egg": (ANALYTICS, "", ("crazyegg.com",)),
    "Mouseflow": (ANALYTICS, "", ("mouseflow.com",)),
    "FullStory": (ANALYTICS, "", ("fullstory.com",)),
    "Segment": (ANALYTICS, "", ("cdn.segment.com", "api.segment.io")),
    "Mixpanel": (ANALYTICS, "", ("mixpanel.com", "mxpnl.com")),
    "YouTube": (
        MARKETING,
        _VIDEO,
        ("youtube.com", "youtube-nocookie.com", "ytimg.com", "youtu.be", "googlevideo.com"),
    ),
    "Vimeo": (MARKETING, _VIDEO, ("vimeo.com", "vimeocdn.com")),
    "Google Maps": (
        MARKETING,
        _MAP,
        ("maps.google.com", "maps.googleapis.com", "www.google.com/maps", "maps.gstatic.com"),
    ),
    "SoundCloud": (MARKETING, _VIDEO, ("w.soundcloud.com",)),
    "Spotify": (MARKETING, _VIDEO, ("open.spotify.com",)),
    "Google Fonts": (PREFERENCES, "", ("fonts.googleapis.com", "fonts.gstatic.com")),
    "Adobe Fonts": (PREFERENCES, "", ("use.typekit.net", "p.typekit.net")),
    "reCAPTCHA": (
        NECESSARY,
        "",
        ("www.google.com/recaptcha", "www.gstatic.com/recaptcha", "recaptcha.net"),
    ),
    "hCaptcha": (NECESSARY, "", ("hcaptcha.com",)),
}

SIGNATURES: tuple[tuple[bytes, ThirdParty], ...] = (
    # mkdocs-material calls its analytics function from a second, host-less script.
    (b"__md_analytics()", ThirdParty("Google Analytics", ANALYTICS)),
    (b"fbq(", ThirdParty("Meta", MARKETING)),
    (b"_linkedin_partner_id", ThirdParty("LinkedIn", MARKETING)),
    (b"ttq.", ThirdParty("TikTok", MARKETING)),
)
"""Inline code that belongs to a tag whose loader may sit in another script."""


SERVICE_PREFIX = "service:"
"""A service the visitor always allows is kept among the granted categories as
``service:<id>`` (``service:youtube``): in the consent cookie and the consent log."""
SERVICE = re.compile(r"^service:[a-z0-9-]{1,40}$")


def service_id(provider: str) -> str:
    """The id a provider goes by in choices and pages: ``Google Maps`` is ``google-maps``."""
    return re.sub(r"[^a-z0-9]+", "-", provider.lower()).strip("-")


EMBED_SERVICES = frozenset(service_id(p) for p, (_, embed, _) in _KNOWN.items() if embed)
"""The providers a visitor may always allow from an embed's placeholder."""


def builtin_hosts() -> dict[str, ThirdParty]:
    """The package's list, host (or host/path) to what it is."""
    return {
        host: ThirdParty(provider, category, embed)
        for provider, (category, embed, hosts) in _KNOWN.items()
        for host in hosts
    }


class ThirdParties:
    """Which third party a URL belongs to: the operator's rules first, then the package's
    list, then the tracker hosts the Open Cookie Database names
    (:func:`gateway.consent.cookie_database.tracker_hosts`)."""

    def __init__(
        self,
        rules: tuple[tuple[str, str], ...] = (),
        categories: set[str] | None = None,
        database: CookieDatabase | None = None,
    ):
        database = database if database is not None else load_database()
        self.hosts = {
            host: ThirdParty(provider, category)
            for host, (provider, category) in database.hosts.items()
        }
        self.hosts.update(builtin_hosts())
        for pattern, category in rules:
            host = pattern.strip().lower().removeprefix("*.").strip("/")
            if not host or "." not in host or any(c in host for c in " \t:?#@"):
                raise SettingsError(
                    f"CG_THIRD_PARTY_RULES must name hosts such as cdn.example.org=marketing "
                    f"or www.google.com/maps=marketing; {pattern!r} is not one."
                )
            if categories is not None and category not in categories:
                raise SettingsError(
                    f"CG_THIRD_PARTY_RULES names the category {category!r} for {host}, which is "
                    f"not a consent category; use one of {', '.join(sorted(categories))}."
                )
            known = self.hosts.get(host)
            provider = known.provider if known else host.partition("/")[0]
            self.hosts[host] = ThirdParty(provider, category, known.embed if known else "")
        self.with_path = {h.partition("/")[0] for h in self.hosts if "/" in h}
        self.signatures = SIGNATURES

    def lookup(self, host: str, path: str = "") -> ThirdParty | None:
        """The third party serving ``host`` (lower case) at ``path``, or ``None``."""
        while True:
            if host in self.with_path and path:
                for key, party in self.hosts.items():
                    if key.startswith(host + "/") and path.startswith(key[len(host) :]):
                        return party
            found = self.hosts.get(host)
            if found is not None:
                return found
            dot = host.find(".")
            if dot < 0 or host.count(".") < 2:
                return None
            host = host[dot + 1 :]

    def held(self, host: str, path: str = "") -> ThirdParty | None:
        """The third party at ``host``/``path`` when its requests need consent, else ``None``."""
        party = self.lookup(host, path)
        return party if party is not None and party.category != NECESSARY else None
