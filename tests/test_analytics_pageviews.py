"""The page-view recorder: which proxied responses count as a page a visitor saw."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.analytics.events import Event
from gateway.analytics.pageviews import BATCH_EVENTS, BATCH_SECONDS, PageViewRecorder
from gateway.analytics.steps import DropReason, Pipeline, default_pipeline
from gateway.context import NO_CONSENT, ConsentView
from tests.analytics_helpers import FIREFOX, make_context

HTML = [(b"content-type", b"text/html; charset=utf-8")]
NAVIGATION = [
    (b"user-agent", FIREFOX.encode()),
    (b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
]


SCOPE: dict[str, Any] = {
    "method": "GET",
    "path": "/courses",
    "query_string": b"utm_source=x&id=7",
    "headers": NAVIGATION,
}


def recorded(
    headers: list[tuple[bytes, bytes]] = NAVIGATION,
    *,
    method: str = "GET",
    status: int = 200,
    response: list[tuple[bytes, bytes]] = HTML,
    consent: ConsentView | None = None,
) -> list[bytes]:
    lines: list[bytes] = []
    recorder = PageViewRecorder(default_pipeline(lines.extend, None), "site")
    scope: dict[str, Any] = {
        "method": method,
        "path": "/courses",
        "query_string": b"utm_source=x&id=7",
        "headers": headers,
    }
    recorder(scope, make_context("192.0.2.200", consent), status, response)
    return lines


def test_a_consented_document_navigation_is_one_page_view() -> None:
    (line,) = recorded()
    assert b'"/courses","utm_source=x"' in line and b"192.0.2.0" in line
    assert b"192.0.2.200" not in line and b"id=7" not in line


@pytest.mark.parametrize(
    "change",
    [
        {"method": "POST"},
        {"method": "HEAD"},
        {"status": 404},
        {"status": 304},
        {"status": 204},
        {"response": [(b"content-type", b"application/json")]},
        {"response": []},
        {"headers": [*NAVIGATION, (b"sec-purpose", b"prefetch")]},
        {"headers": [*NAVIGATION, (b"purpose", b"prefetch")]},
        {"headers": [(b"accept", b"image/avif,image/*"), (b"sec-fetch-dest", b"image")]},
        {"headers": [(b"accept", b"*/*"), (b"sec-fetch-dest", b"script")]},
        {"headers": [(b"accept", b"*/*"), (b"sec-fetch-dest", b"empty")]},
        {"headers": [(b"accept", b"application/json")]},
        {"consent": NO_CONSENT},
    ],
)
def test_everything_else_is_not_a_page_view(change: dict[str, Any]) -> None:
    # A 404 page is a "404" event instead (tests/test_analytics_downloads.py).
    assert [line for line in recorded(**change) if b'"pageview"' in line] == []


def test_browsers_without_fetch_metadata_are_judged_by_accept() -> None:
    headers = [(b"user-agent", FIREFOX.encode()), (b"accept", b"text/html")]
    assert len(recorded(headers)) == 1


def test_on_the_event_loop_page_views_wait_for_their_batch_in_order() -> None:
    lines: list[bytes] = []
    recorder = PageViewRecorder(default_pipeline(lines.extend, None), "site")

    async def visit() -> list[int]:
        seen = []
        for number in range(3):
            recorder({**SCOPE, "path": f"/page/{number}"}, make_context("192.0.2.200"), 200, HTML)
        seen.append(len(lines))  # the response has gone; the steps have not run yet
        await asyncio.sleep(BATCH_SECONDS / 2)
        seen.append(len(lines))
        await asyncio.sleep(BATCH_SECONDS)
        seen.append(len(lines))
        return seen

    assert asyncio.run(visit()) == [0, 0, 3]
    assert [b'"/page/%d"' % number in line for number, line in enumerate(lines)] == [True] * 3
    assert recorder.waiting == 0


def test_a_full_batch_runs_at_once_and_close_runs_what_waits() -> None:
    lines: list[bytes] = []
    between: list[int] = []  # lines written when the loop next ran something else

    async def visit() -> None:
        loop = asyncio.get_running_loop()

        def sink(batch: list[bytes]) -> None:
            if not lines:
                loop.call_soon(lambda: between.append(len(lines)))
            lines.extend(batch)

        recorder = PageViewRecorder(default_pipeline(sink, None), "site")
        for _ in range(BATCH_EVENTS + 10):
            recorder(SCOPE, make_context("192.0.2.200"), 200, HTML)
        assert lines == []  # not while this request is being answered
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # One full batch at the loop's next turn, the rest at the one after, with the
        # loop's other work in between: no waiting for the timer.
        assert len(lines) == BATCH_EVENTS + 10
        recorder(SCOPE, make_context("192.0.2.200"), 200, HTML)
        recorder.close()  # the shutdown: no waiting for the timer either
        assert len(lines) == BATCH_EVENTS + 11

    asyncio.run(visit())
    assert between == [BATCH_EVENTS]


def test_a_page_view_whose_steps_fail_leaves_the_rest_of_its_batch_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines: list[bytes] = []
    steps = default_pipeline(lines.extend, None).steps

    def step_fail_on_broken(event: Event) -> DropReason | None:
        if event.path == "/broken":
            raise ValueError("a step's own bug")
        return None

    pipeline = Pipeline(
        [*steps[:-1], ("fail_on_broken", step_fail_on_broken), steps[-1]], lines.extend
    )
    recorder = PageViewRecorder(pipeline, "site")

    async def visit() -> None:
        for path in ("/first", "/broken", "/third", "/fourth"):
            recorder({**SCOPE, "path": path}, make_context("192.0.2.200"), 200, HTML)
        recorder.close()  # one batch of four

    asyncio.run(visit())
    assert [line.split(b",")[5] for line in lines] == [b'"/first"', b'"/third"', b'"/fourth"']
    assert "recording a page view failed" in caplog.text
