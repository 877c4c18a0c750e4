"""Which consent category a cookie belongs to, by its name.

Layers of rules, first match wins: the operator's (``CG_COOKIE_RULES``), then
the built-in ones: the cookies frameworks need to work
(:mod:`gateway.consent.framework_cookies`) and common trackers, from the vendors'
own cookie documentation; then the Open Cookie Database
(:mod:`gateway.consent.cookie_database`). A rule names a cookie exactly, by a
prefix (``_ga_*``) or by a suffix (``*_session``); within a layer exact names
come first. Each answer says which layer gave it, with the database's provider
and purpose where it knows the cookie. An unknown name falls in
``CG_COOKIE_DEFAULT_CATEGORY`` (``marketing`` by default): treated as the most
intrusive kind until someone vouches for it. The ``__Host-`` and ``__Secure-``
prefixes say how a cookie was set, not what it is for, so the name after the
prefix is classified, unless an operator's rule names the prefixed form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from gateway.consent.cookie_database import CookieDatabase, load_database
from gateway.consent.framework_cookies import FRAMEWORKS, NECESSARY
from gateway.cookies import unprefixed

__all__ = ["NECESSARY", "TRACKER_RULES", "Classification", "CookieClassifier"]

TRACKER_RULES: tuple[tuple[str, str], ...] = (
    # Generic preference names, then trackers from the vendors' own cookie documentation.
    ("lang", "preferences"),
    ("language", "preferences"),
    ("locale", "preferences"),
    ("theme", "preferences"),
    # Analytics.
    ("_ga", "analytics"),
    ("_ga_*", "analytics"),
    ("_gid", "analytics"),
    ("_gat*", "analytics"),
    ("__utm*", "analytics"),
    ("_hj*", "analytics"),
    ("_pk_*", "analytics"),
    ("_clck", "analytics"),
    ("_clsk", "analytics"),
    ("CLID", "analytics"),
    ("mp_*", "analytics"),
    ("ajs_*", "analytics"),
    ("amplitude_*", "analytics"),
    ("_dc_gtm_*", "analytics"),
    # Marketing and advertising.
    ("_gcl_*", "marketing"),
    ("IDE", "marketing"),
    ("DSID", "marketing"),
    ("test_cookie", "marketing"),
    ("_fbp", "marketing"),
    ("_fbc", "marketing"),
    ("fr", "marketing"),
    ("_uetsid", "marketing"),
    ("_uetvid", "marketing"),
    ("MUID", "marketing"),
    ("hubspotutk", "marketing"),
    ("__hs*", "marketing"),
    ("li_*", "marketing"),
    ("bcookie", "marketing"),
    ("_ttp", "marketing"),
    ("_tt_*", "marketing"),
    ("_pin_unauth", "marketing"),
    ("_pinterest_*", "marketing"),
)


# Where a category came from, as the inventory and ``consent-gateway cookies`` say it.
OPERATOR, BUILT_IN, DATABASE, DEFAULT = "operator rule", "built-in", "database", "default"


@dataclass(frozen=True)
class Classification:
    """A cookie name's category, which layer gave it, and what is known of the cookie."""

    category: str
    source: str
    provider: str = ""
    purpose: str = ""
    retention: str = ""


Rule = tuple[str, str]  # category, provider
Rules = tuple[dict[str, Rule], list[tuple[str, Rule]], list[tuple[str, Rule]]]


def _compile(rules: Iterable[tuple[str, str, str]]) -> Rules:
    """Split ``(pattern, category, provider)`` rules into exact names, ``prefix*`` and
    ``*suffix`` patterns, keeping their order."""
    exact: dict[str, Rule] = {}
    prefixes: list[tuple[str, Rule]] = []
    suffixes: list[tuple[str, Rule]] = []
    for pattern, category, provider in rules:
        if pattern.endswith("*"):
            prefixes.append((pattern[:-1], (category, provider)))
        elif pattern.startswith("*"):
            suffixes.append((pattern[1:], (category, provider)))
        else:
            exact.setdefault(pattern, (category, provider))
    return exact, prefixes, suffixes


def _lookup(layer: Rules, name: str) -> Rule | None:
    """The rule one layer gives ``name``, exact names before patterns."""
    exact, prefixes, suffixes = layer
    if name in exact:
        return exact[name]
    for prefix, rule in prefixes:
        if name.startswith(prefix):
            return rule
    for suffix, rule in suffixes:
        if name.endswith(suffix):
            return rule
    return None


class CookieClassifier:
    """Maps cookie names to categories; answers are cached per name (bounded)."""

    def __init__(
        self,
        operator_rules: Iterable[tuple[str, str]],
        default_category: str,
        database: CookieDatabase | None = None,
    ) -> None:
        self._operator = _compile((p, c, "") for p, c in operator_rules)
        # Built in: the frameworks' cookies, then the trackers', both above the database.
        self._built_in = (
            _compile((p, c, f.name) for f in FRAMEWORKS for p, c in f.cookies),
            _compile((p, c, "") for p, c in TRACKER_RULES),
        )
        self.database = database if database is not None else load_database()
        self.default_category = default_category
        self.explain = lru_cache(maxsize=4096)(self._explain)
        self.category = lru_cache(maxsize=4096)(self._category)

    def _category(self, name: str) -> str:
        return self.explain(name).category

    def _explain(self, name: str) -> Classification:
        bare = unprefixed(name)
        rule = _lookup(self._operator, name) if bare != name else None
        # Only the operator may name a prefixed cookie as it is.
        if rule is None:
            rule = _lookup(self._operator, bare)
        if rule is not None:
            return self._described(rule[0], OPERATOR, rule[1], bare)
        for layer in self._built_in:
            rule = _lookup(layer, bare)
            if rule is not None:
                return self._described(rule[0], BUILT_IN, rule[1], bare)
        known = self.database.lookup(bare)
        if known is not None:
            return Classification(
                known.category, DATABASE, known.provider, known.purpose, known.retention
            )
        return Classification(self.default_category, DEFAULT)

    def _described(self, category: str, source: str, provider: str, name: str) -> Classification:
        """A rule's category, with the database's words for the cookie when it knows it."""
        known = self.database.describe(name)
        if known is None or known.category != category:
            return Classification(category, source, provider)
        return Classification(
            category, source, provider or known.provider, known.purpose, known.retention
        )

    def categories_used(self) -> set[str]:
        """Every category some rule names, to check against the configured ones."""
        used = {self.default_category}
        for exact, prefixes, suffixes in (self._operator, *self._built_in):
            used.update(category for category, _ in exact.values())
            used.update(rule[0] for _, rule in (*prefixes, *suffixes))
        return used
