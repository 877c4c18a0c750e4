"""The proxy's hook that puts the banner into HTML pages on their way to the visitor.

:class:`HtmlInjector` decides from the status and headers alone, in one pass:
anything but a whole HTML page streams through untouched. An HTML page is read
to its end (up to ``CG_BANNER_MAX_HTML_BYTES``, past which it streams unchanged),
changed by ``inject.py`` and sent in one piece with its new ``Content-Length``;
a body that cannot be changed safely goes out byte for byte as it came.
"""

from __future__ import annotations

import asyncio
import logging
import re
from fnmatch import translate
from functools import partial

from gateway.asgi import RawHeaders, Scope, Send
from gateway.banner.inject import SUPPORTED_CODINGS, inject
from gateway.exceptions import UpstreamError
from gateway.proxy.http import BodyRewrite, ResponseBody

logger = logging.getLogger("gateway.banner")

HTML_TYPES = (b"text/html", b"application/xhtml+xml")
NO_BODY = frozenset({204, 206, 304})
# Headers that describe the upstream's exact bytes, which the page no longer is.
_STALE = frozenset(
    {
        b"content-length",
        b"content-md5",
        b"digest",
        b"content-digest",
        b"repr-digest",
        b"accept-ranges",
    }
)
# Work on pages larger than this runs in a thread, so other visitors are not kept waiting.
OFFLOAD_BYTES = 256 * 1024
_NONCE = re.compile(rb"'nonce-([A-Za-z0-9+/_=-]+)'")


def is_html(content_type: bytes) -> bool:
    """An HTML (or XHTML) type in an ASCII-compatible charset, where ASCII tags fit in."""
    lowered = content_type.lower()
    return lowered.startswith(HTML_TYPES) and b"utf-16" not in lowered


def with_nonce(tags: bytes, policy: bytes) -> bytes:
    """``tags`` carrying the page's CSP nonce, if its policy trusts scripts by nonce.

    A strict policy (``script-src 'nonce-…' 'strict-dynamic'``) ignores ``'self'``, so
    without the nonce the banner would be blocked on exactly the most careful sites.
    https://www.w3.org/TR/CSP3/#framework-directive-source-list
    """
    found = _NONCE.search(policy)
    if found is None:
        return tags
    nonce = b' nonce="' + found.group(1) + b'"'
    return tags.replace(b"<script ", b"<script" + nonce + b" ", 1).replace(
        b"<link ", b"<link" + nonce + b" ", 1
    )


def changed_headers(headers: RawHeaders, length: int) -> RawHeaders:
    """``headers`` for the changed page: its length, and a weak ``ETag`` (same meaning,
    other bytes: RFC 9110 section 8.8.1)."""
    out: RawHeaders = []
    for key, value in headers:
        if key in _STALE:
            continue
        if key == b"etag" and not value.startswith(b"W/"):
            value = b"W/" + value
        out.append((key, value))
    out.append((b"content-length", str(length).encode()))
    return out


class HtmlInjector:
    """Decides per response whether the banner goes in, and puts it there."""

    def __init__(self, tags: bytes, marker: bytes, exclude: tuple[str, ...], limit: int) -> None:
        self.tags = tags
        self.marker = marker
        self.limit = limit
        self.excluded = re.compile("|".join(translate(p) for p in exclude)) if exclude else None

    def __call__(self, scope: Scope, status: int, headers: RawHeaders) -> BodyRewrite | None:
        # The content type first: most responses are not HTML and leave at this loop.
        for key, value in headers:
            if key == b"content-type":
                if not is_html(value):
                    return None
                break
        else:
            return None
        if status < 200 or status in NO_BODY or scope["method"] == "HEAD":
            return None
        coding = b"identity"
        tags = self.tags
        for key, value in headers:
            if key == b"content-encoding":
                coding = value
            elif key == b"content-range":
                return None
            elif key == b"content-security-policy":
                tags = with_nonce(tags, value)
        name = coding.decode("latin-1").strip().lower()
        if name not in SUPPORTED_CODINGS:
            return None
        if self.excluded is not None and self.excluded.match(scope["path"]):
            return None
        return partial(self._send, status, headers, name, tags)

    async def _send(
        self,
        status: int,
        headers: RawHeaders,
        coding: str,
        tags: bytes,
        first: bytes,
        content: ResponseBody,
        send: Send,
    ) -> None:
        # Nothing has gone to the visitor yet: an upstream failure here still becomes a 502.
        chunks = [first]
        size = len(first)
        while not content.at_eof:
            chunk = await content.read()
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > self.limit:
                await self._pass_on(status, headers, chunks, content, send)
                return
        body = b"".join(chunks)
        work = partial(inject, body, coding, tags, self.marker, self.limit)
        changed = await asyncio.to_thread(work) if size > OFFLOAD_BYTES else work()
        if changed is None:  # the upstream's bytes, exactly; only the length is now known
            out = [h for h in headers if h[0] != b"content-length"]
            out.append((b"content-length", str(size).encode()))
            page = body
        else:
            out, page = changed_headers(headers, len(changed)), changed
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": page, "more_body": False})

    async def _pass_on(
        self,
        status: int,
        headers: RawHeaders,
        chunks: list[bytes],
        content: ResponseBody,
        send: Send,
    ) -> None:
        """A page too large to change: what was read, then the rest as it comes."""
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        try:
            while chunk := await content.read():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as error:
            # As in the proxy: the headers are gone, so cutting the connection is the signal.
            logger.warning("upstream failed mid-page error=%s", type(error).__name__)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
