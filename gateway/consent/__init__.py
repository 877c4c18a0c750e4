"""Consent, enforced by the server.

state.py         the consent cookie and what a visitor has granted
reader.py        reads the cookie once per request into the request context
cookie_rules.py  which category each cookie name belongs to, and from which layer
framework_cookies.py  the cookies common frameworks need to work, with their docs
cookie_database.py    the Open Cookie Database shipped in open_cookie_database/, by name
third_parties.py  the tracker and embed hosts, their providers and categories
inventory.py     every cookie name met, counted in memory and written to ClickHouse
host_inventory.py  third-party hosts browsers reported a page contacting before consent
declaration.py   the site's cookie declaration from the inventory, in five languages
set_cookie.py    reading, capping and expiring Set-Cookie values
enforcement.py   the cookie filter both ways, used by the proxy
csrf.py          tokens bound to the session, and the same-origin check
api.py           GET/POST/DELETE /_consent/state and /.well-known/gpc.json
proof.py         consent log entries and their hash chain, and its verification
log.py           writes the consent log and the outcome counts off the request path
commands.py      ``consent-gateway consent verify`` and ``cookies``
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.clock import Clock
from gateway.consent.api import ConsentApi
from gateway.consent.cookie_rules import NECESSARY, CookieClassifier
from gateway.consent.csrf import CsrfTokens
from gateway.consent.enforcement import CookieEnforcer
from gateway.consent.inventory import CookieInventory
from gateway.consent.log import ConsentLog
from gateway.consent.state import ConsentPolicy
from gateway.exceptions import SettingsError
from gateway.geo import GeoLookup
from gateway.settings import Settings
from gateway.sites import site_id


@dataclass(frozen=True)
class Consent:
    """The consent feature's long-lived parts, built once per app."""

    policy: ConsentPolicy
    enforcer: CookieEnforcer
    api: ConsentApi
    log: ConsentLog
    inventory: CookieInventory


def build_consent(settings: Settings, clock: Clock, geo: GeoLookup | None = None) -> Consent:
    """Build the consent parts, checking the settings that only make sense together."""
    known = {*settings.consent_categories, NECESSARY}
    classifier = CookieClassifier(settings.cookie_rules, settings.cookie_default_category)
    for category in sorted(classifier.categories_used() - known):
        # A built-in rule may name a category the operator switched off: such
        # cookies then never pass, which is the safe reading. The operator's
        # own rules and default must name real categories.
        if category == settings.cookie_default_category or any(
            c == category for _, c in settings.cookie_rules
        ):
            raise SettingsError(
                f"CG_COOKIE_RULES or CG_COOKIE_DEFAULT_CATEGORY name the category {category!r}, "
                f"which is not in CG_CONSENT_CATEGORIES ({', '.join(sorted(known))}); "
                "add it there or use one of those."
            )
    for key in sorted(settings.consent_regimes):
        country, _, category = key.partition(".")
        if category and category not in settings.consent_categories:
            raise SettingsError(
                f"CG_CONSENT_REGIMES gives {key} a regime, but {category!r} is not in "
                f"CG_CONSENT_CATEGORIES ({', '.join(settings.consent_categories)}); "
                f"use one of those, or {country}=regime for every category."
            )
    if settings.consent_log_days and settings.consent_log_days < settings.consent_lifetime_days:
        raise SettingsError(
            f"CG_CONSENT_LOG_DAYS ({settings.consent_log_days}) is shorter than "
            f"CG_CONSENT_LIFETIME_DAYS ({settings.consent_lifetime_days}): the proof of a "
            "consent would be gone while the consent is still in use; raise it or set 0."
        )
    policy = ConsentPolicy(
        settings.secret_keys,
        settings.consent_categories,
        settings.policy_revision,
        settings.consent_lifetime_days,
        settings.consent_regimes,
        settings.gpc_denies_analytics,
        clock,
        geo,
    )
    inventory = CookieInventory(classifier, settings, site_id(settings), clock)
    enforcer = CookieEnforcer(
        classifier, settings.consent_categories, settings.policy_revision, clock, inventory
    )
    log = ConsentLog(settings, site_id(settings), policy, clock)
    api = ConsentApi(policy, enforcer, CsrfTokens(settings.secret_keys), log)
    return Consent(policy, enforcer, api, log, inventory)
