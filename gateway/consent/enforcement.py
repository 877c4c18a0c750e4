"""Cookie enforcement both ways: what the upstream may read and what the browser may keep.

On the way in, cookies of categories the visitor has not granted are removed
from the ``Cookie`` header, so the site's server code cannot read them either,
and the browser is told to delete them. On the way out, a ``Set-Cookie`` of an
ungranted category is removed, and a granted one has its lifetime capped at 13
months. The upstream learns the visitor's state from one ``X-Consent`` header.

Deleting a cookie needs the path and domain it was set with. The gateway
remembers the variants it has seen the upstream set for each name (bounded),
and adds the request's host and its parent domains, which is where tracking
scripts put theirs; HttpOnly cookies, which no banner script can reach, go the
same way.
"""

from __future__ import annotations

import re

from gateway.asgi import RawHeaders
from gateway.clock import Clock
from gateway.consent.cookie_rules import CookieClassifier
from gateway.consent.set_cookie import cap_lifetime, cookie_name, expire_cookie, path_and_domain
from gateway.context import GATEWAY_COOKIE_PREFIX, RequestContext

_MAX_NAMES = 2048  # cookie names whose variants are remembered
_MAX_VARIANTS = 8  # (path, domain) variants remembered per name
# A host name as a Domain attribute may carry it: the visitor's Host header is copied
# into deletions, so anything else (a ";" adding attributes) is not used at all.
_HOST_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")


class CookieEnforcer:
    """Applies each visitor's consent to the cookies that cross the gateway."""

    def __init__(
        self,
        classifier: CookieClassifier,
        categories: tuple[str, ...],
        revision: str,
        clock: Clock,
    ) -> None:
        self.classifier = classifier
        self.categories = categories
        self.revision = revision
        self.clock = clock
        self.variants: dict[str, set[tuple[str, str]]] = {}

    def upstream_cookies(self, context: RequestContext) -> list[tuple[str, str]]:
        """The visitor's cookies the upstream may read; the browser is told to drop the rest."""
        allowed = []
        category = self.classifier.category
        for name, value in context.cookies:
            if name.startswith(GATEWAY_COOKIE_PREFIX):
                continue
            if context.consent.allows(category(name)):
                allowed.append((name, value))
            else:
                context.response_cookies.extend(self.expiries(name, context))
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
                if name.startswith(GATEWAY_COOKIE_PREFIX):
                    continue  # the site may not overwrite the gateway's own cookies
                self._remember(name, value)
                if not context.consent.allows(category(name)):
                    continue
                value = cap_lifetime(value, now)
            kept.append((key, value))
        return kept

    def expiries(self, name: str, context: RequestContext) -> list[bytes]:
        """``Set-Cookie`` values deleting ``name`` everywhere it may have been set."""
        places = {("/", "")} | self.variants.get(name, set())
        for domain in _cookie_domains(context.host):
            places.add(("/", domain))
        return [
            expire_cookie(name, path, domain, context.secure) for path, domain in sorted(places)
        ]

    def expire_withdrawn(self, context: RequestContext, granted: frozenset[str]) -> None:
        """After a choice: delete every presented cookie whose category is no longer granted."""
        for name, _ in context.cookies:
            if name.startswith(GATEWAY_COOKIE_PREFIX):
                continue
            if self.classifier.category(name) not in granted:
                context.response_cookies.extend(self.expiries(name, context))

    def consent_header(self, context: RequestContext) -> str:
        """``X-Consent: preferences=0; analytics=1; marketing=0; revision=3`` for the upstream."""
        consent = context.consent
        flags = "; ".join(f"{c}={1 if consent.allows(c) else 0}" for c in self.categories)
        return f"{flags}; revision={self.revision}"

    def _remember(self, name: str, value: bytes) -> None:
        variant = path_and_domain(value)
        known = self.variants.get(name)
        if known is None:
            if len(self.variants) >= _MAX_NAMES:
                return
            known = self.variants[name] = set()
        if len(known) < _MAX_VARIANTS:
            known.add(variant)


def _cookie_domains(host_header: str) -> list[str]:
    """The host and up to two parent domains, where scripts set their cookies; none for IPs."""
    host = host_header.rsplit(":", 1)[0].lower() if host_header else ""
    if not _HOST_NAME.fullmatch(host) or host.replace(".", "").isdigit():
        return []
    labels = host.split(".")
    return [".".join(labels[start:]) for start in range(min(3, len(labels) - 1))]
