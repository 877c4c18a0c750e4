"""Putting the banner's tags into an HTML page: where they go, and through which encoding.

The tags go first in ``<head>``, so their inline Consent Mode defaults run
before any script of the page. Three cases move them:

- a ``<meta charset>`` right at the start of ``<head>``, before any script, keeps
  its place in the first bytes (browsers look for it in the first 1024 bytes),
  and the tags go after it;
- a page without ``<head>`` gets them after ``<html>`` (where the parser opens
  the head itself), or failing that after the doctype;
- a page with none of these is a fragment (an htmx or Turbo partial, an HTML
  e-mail preview) and is left alone, as is a page that already loads the banner.

Compressed pages are decoded, changed and encoded again with the same coding
(gzip, deflate, br); any other coding, a stacked one, or a body that does not
decode is passed on as it came. Nothing is ever sent half-changed.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

import brotli

# Search only before <body>: a "<head" later on is text or script, not the head.
_BODY = re.compile(rb"<body[\s>]", re.IGNORECASE)
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_HTML = re.compile(rb"<html(?:\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!doctype[^>]*>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta\s[^>]*charset[^>]*>", re.IGNORECASE)
_SCRIPT = re.compile(rb"<script[\s>]", re.IGNORECASE)
CHARSET_WINDOW = 1024

SUPPORTED_CODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate", "br"})


class UndecodableBody(ValueError):
    """A compressed body that is corrupt, truncated, or larger than allowed once decoded."""


def insertion_point(page: bytes, marker: bytes) -> int | None:
    """Where the tags go in ``page``, or ``None`` to leave it alone (see the module doc)."""
    body = _BODY.search(page)
    limit = body.start() if body else len(page)
    if marker in page[:limit]:
        return None
    opening = _HEAD.search(page, 0, limit) or _HTML.search(page, 0, limit)
    opening = opening or _DOCTYPE.search(page, 0, limit)
    if opening is None:
        return None
    at = opening.end()
    meta = _META_CHARSET.search(page, at, min(limit, at + CHARSET_WINDOW))
    if meta is not None and not _SCRIPT.search(page, at, meta.start()):
        at = meta.end()
    return at


def decode(body: bytes, coding: str, limit: int) -> bytes:
    """``body`` without its content coding; :class:`UndecodableBody` if that cannot be done."""
    if coding == "identity":
        return body
    if coding == "br":
        try:
            decoder = brotli.Decompressor()
            out: bytes = decoder.process(body, output_buffer_limit=limit + 1)
            while not decoder.is_finished() and len(out) <= limit:
                more: bytes = decoder.process(b"", output_buffer_limit=limit + 1 - len(out))
                if not more:
                    break
                out += more
        except brotli.error as error:
            raise UndecodableBody(f"brotli: {error}") from None
        if len(out) > limit:
            raise UndecodableBody(f"larger than {limit} bytes once decoded")
        if not decoder.is_finished():
            raise UndecodableBody("brotli: truncated")
        return out
    # gzip (31: a gzip header), deflate as RFC 9110 means it (15: zlib), or raw (-15),
    # which some servers send for deflate.
    failure: zlib.error | None = None
    for wbits in (31,) if coding in ("gzip", "x-gzip") else (15, -15):
        try:
            return _inflate(body, wbits, limit)
        except zlib.error as error:
            failure = error
    raise UndecodableBody(f"{coding}: {failure}")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    data = body
    while data:  # gzip allows several members one after the other
        decoder = zlib.decompressobj(wbits)
        part = decoder.decompress(data, limit + 1 - size)
        size += len(part)
        parts.append(part)
        if size > limit or decoder.unconsumed_tail:
            raise UndecodableBody(f"larger than {limit} bytes once decoded")
        if not decoder.eof:
            raise zlib.error("truncated")
        data = decoder.unused_data if wbits == 31 else b""
    return b"".join(parts)


def encode(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding`` again, at a level that favours speed over the last byte."""
    if coding == "br":
        result: bytes = brotli.compress(body, quality=5, mode=brotli.MODE_TEXT)
        return result
    if coding in ("gzip", "x-gzip"):
        encoder = zlib.compressobj(6, zlib.DEFLATED, 31)
        return encoder.compress(body) + encoder.flush()
    if coding == "deflate":
        return zlib.compress(body, 6)
    return body


def inject(
    body: bytes,
    coding: str,
    tags: bytes,
    marker: bytes,
    limit: int,
    seen: Callable[[bytes], None] | None = None,
    hold: Callable[[bytes], bytes | None] | None = None,
    extra: bytes = b"",
) -> bytes | None:
    """``body`` with ``tags`` in its head, in the same coding; ``None`` to send it unchanged.

    ``seen`` is shown the decoded page as the upstream sent it (``consent_tools.py``).
    ``hold`` returns the page with its third-party tags held back, or ``None`` when it
    has none (``holdback.py``); a page it changed gets ``extra`` after ``tags``.
    """
    try:
        page = decode(body, coding, limit)
    except UndecodableBody:
        return None
    if seen is not None:
        seen(page)
    if hold is not None:
        held = hold(page)
        if held is not None:
            page, tags = held, tags + extra
    at = insertion_point(page, marker)
    if at is None:
        return None
    return encode(page[:at] + tags + page[at:], coding)
