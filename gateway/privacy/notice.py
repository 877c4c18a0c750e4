"""``consent-gateway notice``: the cookie and analytics section of a privacy policy,
written from the running configuration, so the policy says what the software does.

One outline (headings, paragraphs, lists) rendered to Markdown or to HTML; every
number in it (lifetimes, retention, truncation) comes from the settings and
the code's own constants.
"""

from __future__ import annotations

import html

from gateway.consent.state import CONSENT_COOKIE
from gateway.iptools import IPV4_PREFIX, IPV6_PREFIX
from gateway.settings import Settings

Block = tuple[str, str | list[str]]  # ("h2" | "p" | "ul", text or items)

PURPOSES = {
    "preferences": "remember choices such as language or layout",
    "analytics": "measure how the site is used, without identifying anyone",
    "marketing": "advertising and cross-site tracking by third parties",
}

# For the operator, not the visitors: ``notice`` prints it on standard error.
OPERATOR_NOTE = (
    "Before you publish this: it tells visitors their full IP address is never stored, so "
    "your TLS terminator's access log must not store it either (a log format with truncated "
    'addresses, or access logs off: docs/deployment.md, "The terminator\'s own logs").'
)


def outline(settings: Settings, site_url: str = "") -> list[Block]:
    """The notice as blocks, from ``settings``."""
    analytics = (
        f"{settings.analytics_retention_days} days"
        if settings.analytics_retention_days
        else "one month"
    )
    privacy_url = f"{site_url.rstrip('/')}{settings.prefix}privacy"
    categories = [
        f"`necessary`: always on; the cookies the site needs to work (its own session, "
        f"and the gateway's {CONSENT_COOKIE} and cg_session)",
        *(
            f"`{name}`: {PURPOSES.get(name, 'as described by the site')}; only with your consent"
            for name in settings.consent_categories
        ),
    ]
    blocks: list[Block] = [
        ("h2", "Cookies and analytics"),
        (
            "p",
            "This site is served through a consent gateway that enforces your choice on the "
            "server: until you consent, no cookie beyond the necessary ones reaches your "
            "browser or our site, in either direction, and withdrawing consent deletes them.",
        ),
        ("h3", "Cookies the gateway sets"),
        (
            "ul",
            [
                f"`cg_session`: necessary; a random id that expires after "
                f"{settings.session_idle_minutes} minutes of inactivity.",
                f"`{CONSENT_COOKIE}`: necessary; records your choice (the categories, the "
                f"policy revision {settings.policy_revision}, a random consent id and the "
                f"time) for {settings.consent_lifetime_days} days, after which we ask again.",
                "Over HTTPS both names carry the `__Host-` prefix (`__Host-cg_session`), "
                "which only this site itself can set.",
            ],
        ),
        ("h3", "Consent categories"),
        ("ul", categories),
        ("h3", "What we collect after you consent to analytics"),
        (
            "p",
            "The pages you visit, when and for how long, how you move between them, the "
            "referring site, your country, region and city, browser, operating system and "
            f"device type, and your IP address shortened to its first {IPV4_PREFIX} bits "
            f"(IPv4) or {IPV6_PREFIX} bits (IPv6) before it is stored or used; your full IP "
            "address is never stored. The data is used only in aggregated statistics; no one "
            "looks at an individual. Browsers that send Global Privacy Control are not "
            "tracked for marketing.",
        ),
        *_statistics_exception(settings),
        ("h3", "How long we keep it"),
        (
            "ul",
            [
                f"Analytics: {analytics}, then deleted automatically."
                + (
                    f" (Kept longer than one month by operator override: "
                    f"{settings.analytics_retention_override.strip()}.)"
                    if settings.analytics_retention_override.strip()
                    else ""
                ),
                "Daily counts of the whole site (visits, page views, top pages, sources, "
                "countries, devices), with no identifier, each of at least "
                f"{settings.stats_min_visitors} visitors: 25 months, to compare a year with "
                "the one before. They hold nothing about you alone, so there is nothing of "
                "yours in them to show or erase.",
                f"The record of your consent choices (proof of consent): "
                f"{settings.consent_log_retention_days} days after each choice.",
                "Counts of banner choices with no identifier: 13 months.",
            ],
        ),
        ("h3", "Your rights"),
        (
            "p",
            f"At {privacy_url} you can see the visits recorded for you, download them with "
            "your consent history (JSON or CSV), erase them, and change or withdraw your "
            "consent, as easily as you gave it. You may also ask us by email to access or "
            "erase your data, quoting the consent id shown on that page.",
        ),
    ]
    return blocks


def _statistics_exception(settings: Settings) -> list[Block]:
    """What runs without asking where a per-category regime makes it opt-out (the UK's
    statistics exception, PECR Schedule A1), if any does."""
    countries: dict[str, list[str]] = {}
    for key, regime in settings.consent_regimes.items():
        country, dot, category = key.partition(".")
        if dot and regime == "opt-out":
            countries.setdefault(category, []).append(country)
    if not countries:
        return []
    where = "; ".join(
        f"`{category}` for visitors in {', '.join(sorted(names))}"
        for category, names in sorted(countries.items())
    )
    return [
        ("h3", "What runs until you object"),
        (
            "p",
            f"Where the law allows it without consent (in the UK, statistics about how the "
            f"site is used and remembering your choices of appearance), these categories are "
            f'on until you object: {where}. The banner says so and offers "Object" in one '
            "click, free, at any time; a browser sending Global Privacy Control objects to "
            "the statistics. Marketing always needs your consent.",
        ),
    ]


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for kind, body in blocks:
        if kind == "ul":
            out.append("\n".join(f"- {item}" for item in body))
        elif kind == "p":
            out.append(str(body))
        else:
            out.append(("## " if kind == "h2" else "### ") + str(body))
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escape, then turn Markdown's `code` into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def to_html(blocks: list[Block]) -> str:
    out: list[str] = ["<section class=privacy-notice>"]
    for kind, body in blocks:
        if kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in body) + "</ul>")
        else:
            out.append(f"<{kind}>{_inline(str(body))}</{kind}>")
    out.append("</section>")
    return "\n".join(out) + "\n"
