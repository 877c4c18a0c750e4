"""The validators of pages the banner goes into, and the visitor's conditional requests.

A page the banner goes into is not the upstream's bytes, and it changes when
the banner does. So its ``ETag`` is weak (same meaning, other bytes: RFC 9110
section 8.8.1) and carries the banner's version after the upstream's tag
(``W/"abc:cg1f2e3d4c5bs"``; from the upstream's ``Last-Modified`` when it sent
no tag), and its ``Last-Modified`` is never older than the moment this gateway
started serving its banner. On the way in, a visitor's ``If-None-Match`` is
translated back to the upstream's own tags, and a tag or date from another
banner is dropped: the upstream then answers 200, and a new banner is never
hidden behind a 304. Every such page is marked ``private`` (``gateway.caching``).
"""

from __future__ import annotations

import re

from gateway.asgi import RawHeaders, Scope
from gateway.caching import http_date, mark_private, parse_http_date

VALIDATED = "gateway.banner_validator"
"""Scope key: the visitor's tag of the current banner that a request carried (``b""`` for a
page asked for by date alone), so that the upstream's 304 for it goes out with the
validators the 200 had."""

_ENTITY_TAG = re.compile(rb'(W/)?"([^"]*)"')
_TAGS = re.compile(rb'(?:W/)?"[^"]*"|\*')
_OURS = re.compile(rb'W/"(.*):cg([0-9a-f]+)([swm])"', re.DOTALL)
_CONDITIONAL = (b"if-none-match", b"if-modified-since")
# A date tag's seconds: ten digits reach the year 2286; a longer number is not one of ours.
_MAX_SECONDS_DIGITS = 10


class PageValidators:
    """The validators of injected pages for one banner ``version``, served since ``since``."""

    def __init__(self, version: str, since: int) -> None:
        self.version = version.encode("ascii")
        self.since = since

    def tag(self, etag: bytes | None, last_modified: bytes | None) -> bytes | None:
        """The page's weak tag from the upstream's ``ETag``, or else its ``Last-Modified``."""
        if etag is not None:
            found = _ENTITY_TAG.fullmatch(etag.strip())
            if found is not None:
                kind = b"w" if found.group(1) else b"s"
                return b'W/"' + found.group(2) + b":cg" + self.version + kind + b'"'
        if last_modified is not None:
            seconds = parse_http_date(last_modified)
            if seconds is not None:
                return b'W/"' + str(seconds).encode() + b":cg" + self.version + b'm"'
        return None

    def page_headers(self, headers: RawHeaders, fallback: bytes | None = None) -> RawHeaders:
        """``headers`` of a page the banner goes into (or its 304, with the visitor's tag as
        ``fallback``): the banner's validators, and ``private``."""
        out: RawHeaders = []
        etag = last_modified = None
        for key, value in headers:
            if key == b"etag":
                etag = value
            elif key == b"last-modified":
                last_modified = value
            else:
                out.append((key, value))
        tag = self.tag(etag, last_modified) or fallback
        if tag is not None:
            out.append((b"etag", tag))
        if last_modified is not None:
            seconds = parse_http_date(last_modified)
            if seconds is not None and seconds < self.since:
                last_modified = http_date(self.since)
            out.append((b"last-modified", last_modified))
        return mark_private(out)

    def translate(self, scope: Scope) -> None:
        """Turn the request's validators back into the upstream's (see the module doc).

        Replaces ``scope["headers"]`` only when they change; sets :data:`VALIDATED`
        when the request carries a tag of the current banner.
        """
        headers: RawHeaders = scope["headers"]
        none_match = modified_since = None
        accept = b""
        for key, value in headers:
            if key == b"if-none-match":
                none_match = value if none_match is None else none_match + b", " + value
            elif key == b"if-modified-since":
                modified_since = value
            elif key == b"accept":
                accept = value
        if none_match is None and modified_since is None:
            return
        if none_match is None:
            assert modified_since is not None
            # Only a page may predate the banner; other files keep their dates (a browser
            # asks for a page with text/html in Accept).
            seconds = parse_http_date(modified_since)
            if seconds is None or b"text/html" not in accept:
                return
            if seconds < self.since:
                scope["headers"] = [h for h in headers if h[0] != b"if-modified-since"]
            else:
                scope[VALIDATED] = b""
            return
        tags = _TAGS.findall(none_match)
        kept: list[bytes] = []
        ours = False
        from_date: bytes | None = None
        for tag in tags:
            found = _OURS.fullmatch(tag)
            if found is None:
                kept.append(tag)
                continue
            ours = True
            opaque, version, kind = found.groups()
            if version != self.version:
                continue  # from another banner: it cannot match this page
            scope.setdefault(VALIDATED, tag)
            if kind == b"s":
                kept.append(b'"' + opaque + b'"')
            elif kind == b"w":
                kept.append(b'W/"' + opaque + b'"')
            elif opaque.isdigit() and len(opaque) <= _MAX_SECONDS_DIGITS:
                from_date = http_date(int(opaque))
        if not ours:
            return
        out = [h for h in headers if h[0] not in _CONDITIONAL]
        if kept:
            out.append((b"if-none-match", b", ".join(kept)))
        elif from_date is not None:
            out.append((b"if-modified-since", from_date))
        scope["headers"] = out
