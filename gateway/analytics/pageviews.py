"""Server-side page views, downloads and 404s: what the proxy sees a consented visitor do.

No JavaScript is needed. :class:`PageViewRecorder` observes each proxied
response and counts a page view for a GET document navigation
(``Sec-Fetch-Dest: document``, else an ``Accept`` asking for ``text/html``; never
a prefetch or prerender) answered with a 2xx other than 204/206 and an HTML
``Content-Type``; the ``consent`` step drops the rest as ``no_consent``. The same
navigation answered 404 with HTML is a ``404`` event (prop ``path``; its
``Referer`` says which page linked there), and a 200 for a file whose extension is
in ``CG_DOWNLOAD_TYPES`` and that is not HTML is a ``File Download`` event (prop
``url``) on the page that linked to it: Plausible's names for both.

It runs on the hot path: one pass over the headers, never raises. Page views wait
up to :data:`BATCH_SECONDS` or :data:`BATCH_EVENTS` and go through the ingest
steps together, because the steps run far cheaper back to back. The price: a
crash can lose that last fraction of a second; shutdown, erasure and
:meth:`PageViewRecorder.flush` run the waiting ones first. Beacon events are not
batched: their 202 says they are on disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from urllib.parse import urlsplit

from gateway.analytics.events import MAX_PATH, Event, Kind, event_for, page_view_for
from gateway.analytics.steps import DropReason, Pipeline
from gateway.asgi import RawHeaders, Scope
from gateway.context import RequestContext

logger = logging.getLogger("gateway.analytics")

BATCH_SECONDS = 0.1  # the longest a page view waits for its batch
# A batch runs sooner once this many wait, and is never longer, so that a busy
# gateway's requests never queue behind a long run of steps.
BATCH_EVENTS = 64

_PREFETCH_HEADERS = frozenset({b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"})

# Navigations that show a file inside a page (a PDF in an <iframe>): not a download.
_EMBEDDED = frozenset({b"embed", b"object", b"iframe", b"frame"})

DOWNLOAD_EVENT = "File Download"
NOT_FOUND_EVENT = "404"


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


def is_html(headers: RawHeaders) -> bool:
    """Whether response ``headers`` say the body is HTML."""
    for key, value in headers:
        if key == b"content-type":
            return value[:9].lower() == b"text/html"
    return False


def extension(path: str) -> str:
    """The lower-case extension of a URL path's last segment, or ``""``."""
    last = path.rpartition("/")[2]
    dot = last.rfind(".")
    return last[dot + 1 :].lower() if dot > 0 else ""


def is_html_success(status: int, headers: RawHeaders) -> bool:
    """Whether a response is a page that was shown: 2xx (not 204/206) and HTML."""
    if not 200 <= status < 300 or status in (204, 206):
        return False
    for key, value in headers:
        if key == b"content-type":
            return value[:9].lower() == b"text/html"
    return False


class PageViewRecorder:
    """The response observer that turns page loads into ``pageview`` events, in batches."""

    def __init__(
        self, pipeline: Pipeline, site: str, download_types: frozenset[str] = frozenset()
    ) -> None:
        self.pipeline = pipeline
        self.site = site
        self.download_types = download_types
        # Page views waiting for their batch. A deque, because flush() may run in
        # another thread (an erasure's, a test's) while the event loop appends.
        self._waiting: deque[Event] = deque()
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._soon = False  # whether _timer runs at the loop's next turn

    @property
    def waiting(self) -> int:
        """Page views not yet run through the steps."""
        return len(self._waiting)

    def __call__(
        self, scope: Scope, context: RequestContext, status: int, headers: RawHeaders
    ) -> None:
        if scope["method"] != "GET":
            return
        if not is_html_success(status, headers):
            if status == 404 or (status == 200 and self.download_types):
                self._other(scope, context, status, headers)
            return
        if not context.consent.allows("analytics"):
            # The consent step would drop it: count it the same, without building it.
            self.pipeline.dropped[DropReason.NO_CONSENT] += 1
            return
        try:
            wanted, user_agent, referrer = is_document_navigation(scope["headers"])
            if not wanted:
                return
            self._waiting.append(
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
            if len(self._waiting) >= BATCH_EVENTS:
                self._schedule(0.0)
            elif self._timer is None:
                self._schedule(BATCH_SECONDS)
        except Exception:  # an observer must never break a response
            logger.exception("recording a page view failed")

    def _other(
        self, scope: Scope, context: RequestContext, status: int, headers: RawHeaders
    ) -> None:
        """A 404 page or a download: a custom event, when the visitor allowed analytics."""
        path: str = scope["path"]
        if status == 404:
            if not is_html(headers):
                return
            name, props = NOT_FOUND_EVENT, {"path": path[:MAX_PATH]}
        elif extension(path) in self.download_types and not is_html(headers):
            name, props = DOWNLOAD_EVENT, {"url": f"{context.scheme}://{context.host}{path}"}
        else:
            return
        if not context.consent.allows("analytics"):
            self.pipeline.dropped[DropReason.NO_CONSENT] += 1
            return
        try:
            wanted, user_agent, referrer = is_document_navigation(scope["headers"])
            if not (_is_download_request(scope) if name == DOWNLOAD_EVENT else wanted):
                return
            where = path
            if name == DOWNLOAD_EVENT:
                # Counted on the page that linked to the file, as Plausible counts a
                # click there; a file opened from elsewhere counts on its own path.
                where = _same_origin_path(referrer, context.host) or path
            self._waiting.append(
                event_for(
                    context,
                    self.site,
                    user_agent,
                    time.time(),
                    kind=Kind.CUSTOM,
                    path=where,
                    referrer=referrer,
                    status=status,
                    name=name,
                    props=props,
                )
            )
            if self._timer is None:
                self._schedule(BATCH_SECONDS)
        except Exception:  # an observer must never break a response
            logger.exception("recording a %s event failed", name)

    def flush(self, limit: int | None = None) -> None:
        """Run the waiting page views through the steps now, or the first ``limit`` of them.

        Safe from any thread: the shutdown and the tests call it on the event loop,
        an erasure from its own thread before it deletes anything.
        """
        waiting = self._waiting
        count = len(waiting) if limit is None else min(limit, len(waiting))
        batch: list[Event] = []
        for _ in range(count):
            try:
                batch.append(waiting.popleft())
            except IndexError:  # another thread's flush took the rest
                break
        events = iter(batch)
        while True:
            try:
                self.pipeline.process_all(events)
                return
            except Exception:  # one page view's failure; the others go on
                logger.exception("recording a page view failed")

    def close(self) -> None:
        """At shutdown, on the event loop: stop the timer and run what waits."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    def _schedule(self, delay: float) -> None:
        """Run a batch ``delay`` seconds from now (0: once the loop has served what is
        ready), unless one is due sooner."""
        if self._timer is not None:
            if self._soon or delay:
                return
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop: no batch to wait for
            self.flush()
            return
        self._soon = not delay
        self._timer = (
            loop.call_soon(self._batch) if self._soon else loop.call_later(delay, self._batch)
        )

    def _batch(self) -> None:
        """One batch; what still waits has waited long enough, so the next runs soon."""
        self._timer = None
        self.flush(BATCH_EVENTS)
        if self._waiting:
            self._schedule(0.0)


def _is_download_request(scope: Scope) -> bool:
    """Whether a request for a file is the visitor's own: a top-level navigation (a
    link, an ``<a download>``), never a resource a page loads (an ``<img>``, a
    ``<video>``'s ranges, a script's ``fetch``, an ``<embed>``) nor a prefetch.
    Without Fetch Metadata (curl, an old browser) it counts."""
    mode: bytes | None = None
    dest: bytes | None = None
    for key, value in scope["headers"]:
        if key == b"sec-fetch-mode":
            mode = value
        elif key == b"sec-fetch-dest":
            dest = value
        elif key in _PREFETCH_HEADERS:
            return False
    if dest in _EMBEDDED:
        return False
    return mode is None or mode == b"navigate"


def _same_origin_path(referrer: str, host: str) -> str:
    """The path of a ``Referer`` on the visitor's own host, else ``""``."""
    if not referrer:
        return ""
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
        return ""
    return (parts.path or "/")[:MAX_PATH]
