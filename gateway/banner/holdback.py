"""Third-party tags held back in a page until the visitor grants their category.

A page whose bytes name no known third-party host (the common case) is left
as it is after one scan. Otherwise every ``<script>``, ``<iframe>``, ``<img>``
and ``<link>`` that would fetch from a host of ``third_parties.py`` needing
consent is rewritten so that it fetches nothing:

- scripts (with a ``src``, or inline ones naming such a host or a known
  snippet) take the hand-marked form ``type="text/plain" data-consent="..."``
  that ``banner.js`` already releases (the old ``type`` kept as ``data-type``);
- frames, images and links keep their address in ``data-cg-src`` or
  ``data-cg-href``, released by ``third-parties.js`` (with placeholders for
  embeds), which the page then loads.

Every held-back tag names its provider's id in ``data-cg-service`` (an embed
also its kind and name, for the placeholder).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from gateway.consent.third_parties import ThirdParties, ThirdParty, service_id

# Absolute or protocol-relative addresses: the host after "//".
_ADDRESS = re.compile(rb"//([a-z0-9][a-z0-9.-]*\.[a-z]{2,})(/[^\s\"'<>]*)?", re.IGNORECASE)
_HOST = re.compile(rb"//([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})")
_SEEN_HOSTS = 4096  # hosts remembered between pages
_TAG = re.compile(rb"<(script|iframe|img|link)\b([^>]*)>", re.IGNORECASE)
_SCRIPT_END = re.compile(rb"</script\s*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    rb"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""", re.IGNORECASE
)
_JS_TYPES = frozenset({b"", b"text/javascript", b"application/javascript", b"module"})
_FETCHING_RELS = frozenset(
    {b"stylesheet", b"preconnect", b"preload", b"prefetch", b"dns-prefetch", b"modulepreload"}
)
_URL_ATTRIBUTE = {b"script": b"src", b"iframe": b"src", b"img": b"src", b"link": b"href"}


@dataclass(frozen=True, slots=True)
class Held:
    """One tag held back: its provider, category and whether it is an embed."""

    tag: str
    party: ThirdParty


def attributes(text: bytes) -> dict[bytes, bytes]:
    """A tag's attributes, names in lower case, values as written (entities decoded later)."""
    out: dict[bytes, bytes] = {}
    for found in _ATTRIBUTE.finditer(text):
        name = found.group(1).lower()
        if name not in out:
            value = found.group(2) if found.group(2) is not None else found.group(3)
            out[name] = value if value is not None else (found.group(4) or b"")
    return out


def _party_of(url: bytes, parties: ThirdParties) -> ThirdParty | None:
    address = html.unescape(url.decode("latin-1")).strip().encode("latin-1")
    found = _ADDRESS.match(address, address.find(b"//")) if b"//" in address[:8] else None
    if found is None:
        return None
    return parties.held(found.group(1).decode().lower(), (found.group(2) or b"").decode("latin-1"))


class HoldBack:
    """Rewrites a decoded page so that its third-party tags wait for consent."""

    def __init__(self, parties: ThirdParties) -> None:
        self.parties = parties
        self.seen: dict[bytes, bool] = {}  # host as written to whether it may be held

    def mentions(self, page: bytes) -> bool:
        """Whether ``page`` names a host that may need consent (the cheap first scan)."""
        return any(self._may_hold(host) for host in set(_HOST.findall(page)))

    def _may_hold(self, host: bytes) -> bool:
        known = self.seen.get(host)
        if known is None:
            name = host.decode("ascii").lower()
            # A host with path rules (www.google.com/maps) is decided per tag.
            known = name in self.parties.with_path or self.parties.held(name) is not None
            if len(self.seen) >= _SEEN_HOSTS:
                self.seen.clear()
            self.seen[host] = known
        return known

    def __call__(self, page: bytes) -> bytes | None:
        """``page`` with its third-party tags held back, or ``None`` if it has none."""
        changed, held = self.rewrite(page)
        return changed if held else None

    def rewrite(self, page: bytes) -> tuple[bytes, list[Held]]:
        """``page`` with its third-party tags held back, and what was held."""
        if not self.mentions(page):
            return page, []
        held: list[Held] = []
        out: list[bytes] = []
        at = 0
        for found in _TAG.finditer(page):
            if found.start() < at:  # inside a script already copied
                continue
            name = found.group(1).lower()
            attrs = attributes(found.group(2))
            end = found.end()
            body = b""
            if name == b"script":
                closing = _SCRIPT_END.search(page, end)
                body = page[end : closing.start()] if closing else b""
                end = closing.end() if closing else end
            party = self._party(name, attrs, body)
            if party is None:
                if name == b"script":
                    out.append(page[at:end])
                    at = end
                continue
            held.append(Held(name.decode(), party))
            out.append(page[at : found.start()])
            out.append(_held_tag(name, found.group(2), attrs, party))
            out.append(page[found.end() : end])
            at = end
        out.append(page[at:])
        return b"".join(out), held

    def _party(self, name: bytes, attrs: dict[bytes, bytes], body: bytes) -> ThirdParty | None:
        if b"data-consent" in attrs or b"data-cg-service" in attrs:
            return None  # marked by hand, or already held
        if name == b"script" and attrs.get(b"type", b"").strip().lower() not in _JS_TYPES:
            return None
        if name == b"link" and not (set(attrs.get(b"rel", b"").lower().split()) & _FETCHING_RELS):
            return None
        url = attrs.get(_URL_ATTRIBUTE[name])
        if url is not None:
            return _party_of(url, self.parties)
        if name == b"script" and body:
            for found in _ADDRESS.finditer(body):
                path = (found.group(2) or b"").decode("latin-1")
                party = self.parties.held(found.group(1).decode().lower(), path)
                if party is not None:
                    return party
            for signature, party in self.parties.signatures:
                if signature in body:
                    return party
        return None


def _held_tag(name: bytes, inside: bytes, attrs: dict[bytes, bytes], party: ThirdParty) -> bytes:
    """The opening tag ``<name inside>`` in its held-back form."""
    marks = b' data-consent="%s" data-cg-service="%s"' % (
        party.category.encode(),
        service_id(party.provider).encode(),
    )
    if party.embed:
        marks += b' data-cg-embed="%s" data-cg-provider="%s"' % (
            party.embed.encode(),
            html.escape(party.provider).encode(),
        )
    if name == b"script":
        kept = _without(inside, (b"type",))
        old = attrs.get(b"type", b"").strip()
        if old:
            marks += b' data-type="' + _quoted(old) + b'"'
        return b"<script" + kept.rstrip() + b' type="text/plain"' + marks + b">"
    url_name = _URL_ATTRIBUTE[name]
    kept = _without(inside, (url_name, b"srcset") if name == b"img" else (url_name,))
    marks += b" data-cg-" + url_name + b'="' + _quoted(attrs[url_name]) + b'"'
    if name == b"img" and b"srcset" in attrs:
        marks += b' data-cg-srcset="' + _quoted(attrs[b"srcset"]) + b'"'
    closing = b" /" if kept.rstrip().endswith(b"/") else b""
    kept = kept.rstrip().removesuffix(b"/").rstrip()
    return b"<" + name + kept + marks + closing + b">"


def _without(inside: bytes, names: tuple[bytes, ...]) -> bytes:
    """A tag's attribute text without the attributes ``names``."""
    out = []
    at = 0
    for found in _ATTRIBUTE.finditer(inside):
        if found.group(1).lower() in names:
            out.append(inside[at : found.start()].rstrip())
            at = found.end()
    out.append(inside[at:])
    return b"".join(out)


def _quoted(value: bytes) -> bytes:
    """An attribute value as it came, fit to go between double quotes."""
    return value.replace(b'"', b"&quot;")
