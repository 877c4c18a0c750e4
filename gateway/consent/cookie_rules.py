"""Which consent category a cookie belongs to, by its name.

Layers of rules, first match wins: the operator's (``CG_COOKIE_RULES``), then
the cookies frameworks need to work (:mod:`gateway.consent.framework_cookies`),
then common trackers, from the vendors' own cookie documentation. A rule names
a cookie exactly, by a prefix (``_ga_*``) or by a suffix (``*_session``); within
a layer exact names come first. An unknown name falls in
``CG_COOKIE_DEFAULT_CATEGORY`` (``marketing`` by default): treated as the most
intrusive kind until someone vouches for it. The ``__Host-`` and ``__Secure-``
prefixes say how a cookie was set, not what it is for, so the name after the
prefix is classified, unless an operator's rule names the prefixed form.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from gateway.consent.framework_cookies import FRAMEWORK_RULES, NECESSARY
from gateway.cookies import unprefixed

__all__ = ["NECESSARY", "TRACKER_RULES", "CookieClassifier"]

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


Rules = tuple[dict[str, str], list[tuple[str, str]], list[tuple[str, str]]]


def _compile(rules: Iterable[tuple[str, str]]) -> Rules:
    """Split rules into exact names, ``prefix*`` and ``*suffix`` patterns, keeping their order."""
    exact: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    suffixes: list[tuple[str, str]] = []
    for pattern, category in rules:
        if pattern.endswith("*"):
            prefixes.append((pattern[:-1], category))
        elif pattern.startswith("*"):
            suffixes.append((pattern[1:], category))
        else:
            exact.setdefault(pattern, category)
    return exact, prefixes, suffixes


class CookieClassifier:
    """Maps cookie names to categories; answers are cached per name (bounded)."""

    def __init__(self, operator_rules: Iterable[tuple[str, str]], default_category: str) -> None:
        # The operator's rules are a layer above the built-in ones: they win, exact or not.
        self._layers = (
            _compile(operator_rules),
            _compile(FRAMEWORK_RULES),
            _compile(TRACKER_RULES),
        )
        self.default_category = default_category
        self.category = lru_cache(maxsize=4096)(self._category)

    def _category(self, name: str) -> str:
        bare = unprefixed(name)
        layers = self._layers
        if bare != name:  # only the operator may name a prefixed cookie as it is
            found = self._lookup(layers[0], name)
            if found is not None:
                return found
        for layer in layers:
            found = self._lookup(layer, bare)
            if found is not None:
                return found
        return self.default_category

    @staticmethod
    def _lookup(layer: Rules, name: str) -> str | None:
        """The category one layer of rules gives ``name``, exact names before patterns."""
        exact, prefixes, suffixes = layer
        if name in exact:
            return exact[name]
        for prefix, category in prefixes:
            if name.startswith(prefix):
                return category
        for suffix, category in suffixes:
            if name.endswith(suffix):
                return category
        return None

    def categories_used(self) -> set[str]:
        """Every category some rule names, to check against the configured ones."""
        used = {self.default_category}
        for exact, prefixes, suffixes in self._layers:
            used.update(exact.values())
            used.update(category for _, category in (*prefixes, *suffixes))
        return used
