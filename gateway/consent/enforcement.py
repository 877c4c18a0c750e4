"""Cookie enforcement both ways: what the upstream may read and what the browser may keep.

On the way in, cookies of ungranted categories are removed from ``Cookie`` (so
the site's server cannot read them) and the browser is told to delete them; on
the way out, an ungranted ``Set-Cookie`` is removed and a granted one is capped
at 13 months. The upstream learns the state from one ``X-Consent`` header.
Deleting needs the cookie's path and domain, so the gateway remembers the
variants the upstream set (bounded) and adds the host's parent domains. At most
:data:`MAX_EXPIRIES` deletions go per response, so a request with thousands of
cookie names costs no more than one with a few; later responses do the rest.
"""

from __future__ import annotations

import random

from gateway.asgi import RawHeaders
from gateway.clock import Clock
from gateway.consent.cookie_rules import CookieClassifier
from gateway.consent.inventory import CookieInventory
from gateway.consent.set_cookie import cap_lifetime, cookie_name, path_and_domain
from gateway.context import RequestContext
from gateway.cookies import cookie_domains, expire_cookie
from gateway.own_cookies import is_gateway_cookie

_MAX_NAMES = 2048  # cookie names whose variants are remembered
_MAX_VARIANTS = 8  # (path, domain) variants remembered per name
# Deletions (Set-Cookie lines) of the site's cookies in one response: a dozen names
# at the host and its parent domains, about 5 KB.
MAX_EXPIRIES = 64


class CookieEnforcer:
    """Applies each visitor's consent to the cookies that cross the gateway."""

    def __init__(
        self,
        classifier: CookieClassifier,
        categories: tuple[str, ...],
        revision: str,
        clock: Clock,
        inventory: CookieInventory | None = None,
    ) -> None:
        self.classifier = classifier
        self.inventory = inventory
        self.categories = categories
        self.revision = revision
        self.clock = clock
        self.variants: dict[str, set[tuple[str, str]]] = {}

    def upstream_cookies(self, context: RequestContext) -> list[tuple[str, str]]:
        """The visitor's cookies the upstream may read; the browser is told to drop the rest."""
        allowed = []
        refused: dict[str, None] = {}  # in order, once each
        category = self.classifier.category
        met = self.inventory.met if self.inventory is not None else None
        now = self.clock()
        for name, value in context.cookies:
            if is_gateway_cookie(name):
                continue
            passed = context.consent.allows(category(name))
            if met is not None:
                met(name, passed, now)
            if passed:
                allowed.append((name, value))
            else:
                refused[name] = None
        if refused:
            self._expire(list(refused), context)
        return allowed

    def filter_response(self, headers: RawHeaders, context: RequestContext) -> RawHeaders:
        """The upstream's response headers without the cookies the visitor did not grant."""
        if not any(key == b"set-cookie" for key, _ in headers):
            return headers
        now = self.clock()
        category = self.classifier.category
        kept: RawHeaders = []
        for key, value in headers:
            if key == b"set-cookie":
                name = cookie_name(value)
                if is_gateway_cookie(name):
                    continue  # the site may not overwrite the gateway's own cookies
                self._remember(name, value)
                passed = context.consent.allows(category(name))
                if self.inventory is not None:
                    self.inventory.met(name, passed, now, value)
                if not passed:
                    continue
                value = cap_lifetime(value, now)
            kept.append((key, value))
        return kept

    def expiries(self, name: str, context: RequestContext) -> list[bytes]:
        """``Set-Cookie`` values deleting ``name`` everywhere it may have been set."""
        if name[:7].lower() == "__host-":  # host-only at "/" is the only place it can be
            return [expire_cookie(name, "/", "", context.secure)]
        places = {("/", "")} | self.variants.get(name, set())
        for domain in cookie_domains(context.host):
            places.add(("/", domain))
        return [
            expire_cookie(name, path, domain, context.secure) for path, domain in sorted(places)
        ]

    def expire_withdrawn(self, context: RequestContext, granted: frozenset[str]) -> None:
        """After a choice: delete every presented cookie whose category is no longer granted."""
        category = self.classifier.category
        withdrawn = {
            name: None
            for name, _ in context.cookies
            if not is_gateway_cookie(name) and category(name) not in granted
        }
        if withdrawn:
            self._expire(list(withdrawn), context)

    def consent_header(self, context: RequestContext) -> str:
        """``X-Consent: preferences=0; analytics=1; marketing=0; revision=3`` for the upstream."""
        consent = context.consent
        flags = "; ".join(f"{c}={1 if consent.allows(c) else 0}" for c in self.categories)
        return f"{flags}; revision={self.revision}"

    def _expire(self, names: list[str], context: RequestContext) -> None:
        """Delete ``names`` in the browser, at most :data:`MAX_EXPIRIES` lines' worth.

        When they do not all fit, the names go from a random place in the list, so
        that a few the browser keeps (set at a domain the gateway cannot name) do
        not hold back the others' deletion request after request.
        """
        lines, complete = self._fill(names, context)
        if not complete:
            start = random.randrange(len(names))
            lines, _ = self._fill(names[start:] + names[:start], context)
        context.response_cookies.extend(lines)

    def _fill(self, names: list[str], context: RequestContext) -> tuple[list[bytes], bool]:
        """The deletions of the first ``names`` that fit, and whether all of them did."""
        lines: list[bytes] = []
        for name in names:
            more = self.expiries(name, context)
            if len(lines) + len(more) > MAX_EXPIRIES:
                return lines, False
            lines.extend(more)
        return lines, True

    def _remember(self, name: str, value: bytes) -> None:
        variant = path_and_domain(value)
        known = self.variants.get(name)
        if known is None:
            if len(self.variants) >= _MAX_NAMES:
                return
            known = self.variants[name] = set()
        if len(known) < _MAX_VARIANTS:
            known.add(variant)
