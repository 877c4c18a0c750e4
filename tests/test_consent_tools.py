"""A page with a consent tool of its own: the operator is warned once per tool."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.banner.consent_tools import KNOWN_TOOLS, ConsentToolWatch
from tests.conftest import make_settings
from tests.servers import run_server

# What mkdocs-material writes with extra.consent set, and Klaro's loader, as sites ship them.
MKDOCS = b'<form class="md-consent__form md-typeset" name="consent"></form>'
MKDOCS_PAGE = (
    b"<!doctype html><html><head><title>Docs</title></head><body>"
    b'<div class="md-consent" data-md-component="consent" id="__consent" hidden>'
    + MKDOCS
    + b"</div></body></html>"
)
KLARO_PAGE = (
    b"<!doctype html><html><head><script defer src='/static/klaro.js'></script>"
    b"</head><body>Timetable</body></html>"
)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "gateway.banner" and "consent tool" in record.getMessage()
    ]


def test_each_tool_is_reported_once_and_pages_are_looked_at_once_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    watch = ConsentToolWatch(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "gateway.banner")
    watch(b"<html><body>nothing here</body></html>")
    now[0] += 0.5
    watch(MKDOCS_PAGE)  # within the second: not looked at
    assert warnings(caplog) == []
    now[0] += 0.5
    watch(MKDOCS_PAGE + KLARO_PAGE)
    found = warnings(caplog)
    assert len(found) == 2
    assert "mkdocs-material" in found[0] and "extra.consent" in found[0]
    assert "Klaro" in found[1] and "docs/sites.md" in found[1]
    for _ in range(3):
        now[0] += 2
        watch(MKDOCS_PAGE + KLARO_PAGE)
    assert len(warnings(caplog)) == 2


def test_no_tool_is_seen_in_the_gateways_own_tags_or_a_plain_page() -> None:
    for tool in KNOWN_TOOLS:
        for needle in tool.needles:
            assert needle not in b"/_consent/banner.js consentGateway cg-banner", needle


def site_pages() -> Starlette:
    async def mkdocs(request: Request) -> Response:
        return Response(
            gzip.compress(MKDOCS_PAGE),
            headers={"content-type": "text/html; charset=utf-8", "content-encoding": "gzip"},
        )

    return Starlette(routes=[Route("/docs", mkdocs)])


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    with run_server(site_pages()) as upstream:
        with run_server(create_app(make_settings(upstream, tmp_path))) as url:
            yield url


def test_a_compressed_page_with_a_tool_warns_once_and_still_gets_the_banner(
    gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gateway.banner")
    for _ in range(3):
        response = httpx.get(gateway + "/docs")
        assert response.status_code == 200
        assert b"/_consent/banner.js" in response.content
    (found,) = warnings(caplog)
    assert "mkdocs-material" in found


def test_docs_sites_says_how_to_turn_each_tool_off() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "sites.md").read_text()
    for tool in KNOWN_TOOLS:
        assert f"\n| {tool.name} |" in text, tool.name
