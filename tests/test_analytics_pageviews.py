"""The page-view recorder: which proxied responses count as a page a visitor saw."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.analytics.pageviews import PageViewRecorder
from gateway.analytics.steps import default_pipeline
from gateway.context import NO_CONSENT, ConsentView
from tests.analytics_helpers import FIREFOX, make_context

HTML = [(b"content-type", b"text/html; charset=utf-8")]
NAVIGATION = [
    (b"user-agent", FIREFOX.encode()),
    (b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8"),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
]


def recorded(
    headers: list[tuple[bytes, bytes]] = NAVIGATION,
    *,
    method: str = "GET",
    status: int = 200,
    response: list[tuple[bytes, bytes]] = HTML,
    consent: ConsentView | None = None,
) -> list[bytes]:
    lines: list[bytes] = []
    recorder = PageViewRecorder(default_pipeline(lines.append, None), "site")
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
    assert recorded(**change) == []


def test_browsers_without_fetch_metadata_are_judged_by_accept() -> None:
    headers = [(b"user-agent", FIREFOX.encode()), (b"accept", b"text/html")]
    assert len(recorded(headers)) == 1
