"""Server-side page views: the proxy records one per HTML page a consented visitor opens.

No JavaScript is needed. :class:`PageViewRecorder` is a response observer of
:class:`~gateway.proxy.http.HttpProxy`: it sees each proxied response's
status and headers as they go out, and counts a page view when all hold:

- the request is a GET navigation to a document: ``Sec-Fetch-Dest: document``
  when the browser sends Fetch Metadata, otherwise an ``Accept`` that asks for
  ``text/html``; prefetches and prerenders (``Sec-Purpose``, ``Purpose``,
  ``X-Purpose``, ``X-Moz``) are skipped, and so are scripts, images, styles
  and fetches, which never ask for a document;
- the response is a 2xx other than 204/206 with an HTML ``Content-Type``;
- the visitor consented to analytics (checked by the ``consent`` step, which
  counts the rest as ``no_consent`` drops).

It runs on the hot path, so it reads headers in one pass and leaves all work
beyond that to the ingest steps; it never raises.
"""

from __future__ import annotations

import logging
import time

from gateway.analytics.events import page_view_for
from gateway.analytics.steps import DropReason, Pipeline
from gateway.asgi import RawHeaders, Scope
from gateway.context import RequestContext

logger = logging.getLogger("gateway.analytics")

_PREFETCH_HEADERS = frozenset({b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"})


def is_document_navigation(headers: RawHeaders) -> tuple[bool, str, str]:
    """Whether request ``headers`` ask for a page to show; also the User-Agent and Referer."""
    dest = accept = None
    user_agent = referrer = ""
    for key, value in headers:
        if key == b"sec-fetch-dest":
            dest = value
        elif key == b"accept":
            accept = value
        elif key == b"user-agent":
            user_agent = value.decode("latin-1")
        elif key == b"referer":
            referrer = value.decode("latin-1")
        elif key in _PREFETCH_HEADERS:
            return False, "", ""
    if dest is not None:
        wanted = dest == b"document"
    else:
        wanted = accept is not None and b"text/html" in accept
    return wanted, user_agent, referrer


def is_html_success(status: int, headers: RawHeaders) -> bool:
    """Whether a response is a page that was shown: 2xx (not 204/206) and HTML."""
    if not 200 <= status < 300 or status in (204, 206):
        return False
    for key, value in headers:
        if key == b"content-type":
            return value[:9].lower() == b"text/html"
    return False


class PageViewRecorder:
    """The response observer that turns page loads into ``pageview`` events."""

    def __init__(self, pipeline: Pipeline, site: str) -> None:
        self.pipeline = pipeline
        self.site = site

    def __call__(
        self, scope: Scope, context: RequestContext, status: int, headers: RawHeaders
    ) -> None:
        if scope["method"] != "GET" or not is_html_success(status, headers):
            return
        if not context.consent.allows("analytics"):
            # The consent step would drop it: count it the same, without building it.
            self.pipeline.dropped[DropReason.NO_CONSENT] += 1
            return
        try:
            wanted, user_agent, referrer = is_document_navigation(scope["headers"])
            if not wanted:
                return
            self.pipeline.process(
                page_view_for(
                    context,
                    self.site,
                    user_agent,
                    time.time(),
                    scope["path"],
                    scope.get("query_string", b"").decode("latin-1"),
                    referrer,
                    status,
                )
            )
        except Exception:  # an observer must never break a response
            logger.exception("recording a page view failed")
