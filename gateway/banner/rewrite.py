"""The proxy's hook that puts the banner into HTML pages on their way to the visitor.

:class:`HtmlInjector` decides from the status and headers alone, in one pass:
anything but a whole HTML page streams through untouched. An HTML page is read
to its end (up to ``CG_BANNER_MAX_HTML_BYTES``, past which it streams unchanged),
changed by ``inject.py`` and sent in one piece with its new ``Content-Length``;
a body that cannot be changed safely goes out byte for byte as it came. Every
page the banner would go into (its ``HEAD`` and its 304 too) carries the same
headers: the validators of ``validators.py`` and ``private``; a ``HEAD`` names
no length, since the upstream's is not the page's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from fnmatch import translate
from functools import partial

from gateway.asgi import RawHeaders, Scope, Send
from gateway.banner.consent_tools import ConsentToolWatch
from gateway.banner.csp import POLICY_HEADERS, fit_policies, page_nonce, script_hash, with_nonce
from gateway.banner.csp_report import PagePolicy
from gateway.banner.holdback import HoldBack
from gateway.banner.inject import SUPPORTED_CODINGS, inject
from gateway.banner.validators import VALIDATED, PageValidators
from gateway.consent.state import NECESSARY, ConsentState
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


def is_html(content_type: bytes) -> bool:
    """An HTML (or XHTML) type in an ASCII-compatible charset, where ASCII tags fit in."""
    lowered = content_type.lower()
    return lowered.startswith(HTML_TYPES) and b"utf-16" not in lowered


def changed_headers(headers: RawHeaders, length: int | None) -> RawHeaders:
    """``headers`` without those that describe the upstream's exact bytes, and with the
    changed page's length (none for a ``HEAD``)."""
    out = [(key, value) for key, value in headers if key not in _STALE]
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    return out


class HtmlInjector:
    """Decides per response whether the banner goes in, and puts it there."""

    def __init__(
        self,
        tags: bytes,
        marker: bytes,
        exclude: tuple[str, ...],
        limit: int,
        validators: PageValidators,
        inline: bytes = b"",
        hold: HoldBack | None = None,
        extra: bytes = b"",
        policy: PagePolicy | None = None,
    ) -> None:
        self.tags = tags
        # Third-party tags held back, and the script that releases them on pages with some.
        self.hold = hold
        self.extra = extra
        self.policy = policy  # the gateway's own policy header (csp_report.py)
        # The source expression that lets the tags' inline script run (csp.py).
        self.inline_source = script_hash(inline)
        self.marker = marker
        self.limit = limit
        self.excluded = re.compile("|".join(translate(p) for p in exclude)) if exclude else None
        self.validators = validators
        self.watch = ConsentToolWatch()  # warns of a consent tool of the site's own

    def __call__(self, scope: Scope, status: int, headers: RawHeaders) -> BodyRewrite | None:
        if status == 304:
            # The visitor's copy is a page with the banner: the 304 confirms that copy,
            # so it carries the validators the 200 had (a 304 has no content type).
            tag = scope.get(VALIDATED)
            if tag is None or self._excluded(scope):
                return None
            return partial(_send_head, status, self.validators.page_headers(headers, tag or None))
        # The content type first: most responses are not HTML and leave at this loop.
        for key, value in headers:
            if key == b"content-type":
                if not is_html(value):
                    return None
                break
        else:
            return None
        if status < 200 or status in NO_BODY:
            return None
        coding = b"identity"
        policed = False
        for key, value in headers:
            if key == b"content-encoding":
                coding = value
            elif key == b"content-range":
                return None
            elif key in POLICY_HEADERS:
                policed = True
        name = coding.decode("latin-1").strip().lower()
        if name not in SUPPORTED_CODINGS:
            return None
        if self._excluded(scope):
            return None
        tags, extra = self.tags, self.extra
        if policed:
            extra = with_nonce(extra, page_nonce(headers))
            tags, headers = fit_policies(tags, self.inline_source, headers)
        headers = self.validators.page_headers(headers)
        if self.policy is not None:
            headers.append(self.policy.for_granted(_granted(scope)))
        if scope["method"] == "HEAD":
            return partial(_send_head, status, changed_headers(headers, None))
        return partial(self._send, status, headers, name, tags, extra)

    def _excluded(self, scope: Scope) -> bool:
        return self.excluded is not None and self.excluded.match(scope["path"]) is not None

    async def _send(
        self,
        status: int,
        headers: RawHeaders,
        coding: str,
        tags: bytes,
        extra: bytes,
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
        work = partial(
            inject, body, coding, tags, self.marker, self.limit, self.watch, self.hold, extra
        )
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


_ONLY_NECESSARY = frozenset({NECESSARY})


def _granted(scope: Scope) -> frozenset[str]:
    """What the visitor of this request has granted (only necessary if unknown)."""
    context = scope.get("gateway")
    consent = getattr(context, "consent", None)
    return consent.granted if isinstance(consent, ConsentState) else _ONLY_NECESSARY


async def _send_head(
    status: int, headers: RawHeaders, first: bytes, content: ResponseBody, send: Send
) -> None:
    """A response without a body (``HEAD``, 304) with the page's headers."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
