"""Server-side page views: the proxy records one per HTML page a consented visitor opens.

No JavaScript is needed. :class:`PageViewRecorder` observes each proxied
response and counts a page view for a GET document navigation
(``Sec-Fetch-Dest: document``, else an ``Accept`` asking for ``text/html``; never
a prefetch or prerender) answered with a 2xx other than 204/206 and an HTML
``Content-Type``; the ``consent`` step drops the rest as ``no_consent``.

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

from gateway.analytics.events import Event, page_view_for
from gateway.analytics.steps import DropReason, Pipeline
from gateway.asgi import RawHeaders, Scope
from gateway.context import RequestContext

logger = logging.getLogger("gateway.analytics")

BATCH_SECONDS = 0.1  # the longest a page view waits for its batch
# A batch runs sooner once this many wait, and is never longer, so that a busy
# gateway's requests never queue behind a long run of steps.
BATCH_EVENTS = 64

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
    """The response observer that turns page loads into ``pageview`` events, in batches."""

    def __init__(self, pipeline: Pipeline, site: str) -> None:
        self.pipeline = pipeline
        self.site = site
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
