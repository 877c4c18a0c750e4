"""The gateway puts the banner into HTML pages, whatever their encoding, and nothing else.

Unit tests of where the tags go and of the codecs, then a real gateway in front
of a small upstream that sends pages identity, gzip, deflate, br, chunked,
corrupt, huge, partial and of other types.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import brotli
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.banner.inject import UndecodableBody, decode, encode, insertion_point
from gateway.banner.service import Banner
from tests.conftest import make_settings
from tests.servers import run_server

MARKER = b"/_consent/banner.js"
PAGE = (
    b"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>T</title>"
    b"<script src=/site.js></script></head><body><h1>Hello</h1>"
    + b"<p>text</p>" * 300
    + b"</body></html>"
)


@pytest.mark.parametrize(
    ("page", "after"),
    [
        (b"<html><head><title>x</title></head><body></body></html>", b"<html><head>"),
        (b"<HTML><HEAD data-x='1'><title>", b"<HEAD data-x='1'>"),
        (b"<!doctype html><html><head><meta charset=utf-8><title>", b"<meta charset=utf-8>"),
        (b'<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">', b'utf-8">'),
        (b"<html lang=cy><title>x</title><body>", b"<html lang=cy>"),
        (b"<!doctype html><title>x</title><p>hi", b"<!doctype html>"),
        (b"<html><header>x</header>", b"<html>"),
    ],
)
def test_tags_go_first_in_the_head(page: bytes, after: bytes) -> None:
    at = insertion_point(page, MARKER)
    assert at is not None
    assert page[:at].endswith(after)


def test_a_script_before_the_charset_keeps_the_tags_before_it() -> None:
    page = b"<html><head><script src=/early.js></script><meta charset=utf-8>"
    assert page[: insertion_point(page, MARKER)] == b"<html><head>"


@pytest.mark.parametrize(
    "page",
    [
        b"<div class=partial>an htmx fragment</div>",
        b"",
        b"<body><p>the word <head> in the body</p>",
        b"<html><head><script src='/_consent/banner.js'></script></head>",
    ],
)
def test_fragments_and_pages_with_the_banner_are_left_alone(page: bytes) -> None:
    assert insertion_point(page, MARKER) is None


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "br", "identity"])
def test_codecs_round_trip(coding: str) -> None:
    assert decode(encode(PAGE, coding), coding, len(PAGE)) == PAGE


def test_raw_deflate_and_several_gzip_members_decode() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert decode(raw.compress(PAGE) + raw.flush(), "deflate", 1 << 20) == PAGE
    assert (
        decode(gzip.compress(b"<html>") + gzip.compress(b"<head>"), "gzip", 99) == b"<html><head>"
    )


@pytest.mark.parametrize(
    ("body", "coding"),
    [
        (b"not gzip at all", "gzip"),
        (gzip.compress(PAGE)[:-20], "gzip"),
        (b"\xff\xfe garbage", "br"),
        (brotli.compress(PAGE)[:-5], "br"),
        (b"garbage", "deflate"),
        (gzip.compress(b"\0" * 5_000_000), "gzip"),
        (brotli.compress(b"\0" * 5_000_000), "br"),
    ],
)
def test_corrupt_truncated_and_oversized_bodies_are_refused(body: bytes, coding: str) -> None:
    with pytest.raises(UndecodableBody):
        decode(body, coding, 1_000_000)


# -- through a real gateway -----------------------------------------------------------


def _html(body: bytes, **headers: str) -> Response:
    return Response(body, headers={"content-type": "text/html; charset=utf-8", **headers})


async def plain(request: Request) -> Response:
    return _html(PAGE, etag='"v1"', **{"accept-ranges": "bytes"})


async def coded(request: Request) -> Response:
    coding = request.path_params["coding"]
    return _html(encode(PAGE, coding), **{"content-encoding": coding})


async def chunked(request: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(PAGE), 700):
            yield PAGE[start : start + 700]

    return StreamingResponse(parts(), media_type="text/html")


async def corrupt(request: Request) -> Response:
    return _html(b"\x1f\x8b this is not really gzip", **{"content-encoding": "gzip"})


async def other(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind == "zstd":
        return _html(b"(pretend zstd)", **{"content-encoding": "zstd"})
    if kind == "json":
        return Response(b'{"html": "<head>"}', media_type="application/json")
    if kind == "utf16":
        return Response(PAGE.decode().encode("utf-16"), media_type="text/html; charset=utf-16")
    if kind == "partial":
        headers = {"content-type": "text/html", "content-range": f"bytes 0-99/{len(PAGE)}"}
        return Response(PAGE[:100], status_code=206, headers=headers)
    return _html(b"<div>fragment</div>")


async def nonce(request: Request) -> Response:
    return _html(
        PAGE, **{"content-security-policy": "script-src 'nonce-r4/nd+0m=' 'strict-dynamic'"}
    )


async def huge(request: Request) -> Response:
    return _html(PAGE + b"<!-- padding -->" * 10_000)


def upstream_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/plain", plain),
            Route("/admin/page", plain),
            Route("/coded/{coding}", coded),
            Route("/chunked", chunked),
            Route("/corrupt", corrupt),
            Route("/other/{kind}", other),
            Route("/huge", huge),
            Route("/nonce", nonce),
        ]
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("banner")
    with run_server(upstream_app()) as upstream:
        settings = make_settings(
            upstream, tmp, banner_exclude="/admin/*", banner_max_html_bytes=64 * 1024
        )
        with run_server(create_app(settings)) as gateway:
            yield gateway


def banner() -> Banner:
    """The banner of the test gateway: its tags depend on none of the settings changed."""
    return Banner(make_settings("http://127.0.0.1:9", None))


def get(url: str, coding: str = "identity", method: str = "GET") -> tuple[httpx.Response, bytes]:
    with httpx.stream(method, url, headers={"accept-encoding": coding}) as response:
        raw = b"".join(response.iter_raw())
    return response, raw


def expected(site: str) -> bytes:
    at = insertion_point(PAGE, MARKER)
    assert at is not None
    return PAGE[:at] + banner().tags + PAGE[at:]


def test_identity_page_gets_the_banner_with_its_length_fixed(site: str) -> None:
    response, raw = get(site + "/plain")
    assert raw == expected(site)
    assert response.headers["content-length"] == str(len(raw))
    # The bytes changed, the meaning did not: weak, and the banner's version beside it.
    tag = banner().validators.tag(b'"v1"', None)
    assert tag is not None and response.headers["etag"] == tag.decode()
    assert "accept-ranges" not in response.headers


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_compressed_pages_are_decoded_injected_and_encoded_again(site: str, coding: str) -> None:
    response, raw = get(site + f"/coded/{coding}", coding)
    assert response.headers["content-encoding"] == coding
    assert response.headers["content-length"] == str(len(raw))
    assert decode(raw, coding, 1 << 20) == expected(site)


def test_chunked_page_gets_the_banner_and_a_length(site: str) -> None:
    response, raw = get(site + "/chunked")
    assert raw == expected(site)
    assert response.headers["content-length"] == str(len(raw))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/corrupt", b"\x1f\x8b this is not really gzip"),
        ("/other/zstd", b"(pretend zstd)"),
        ("/other/json", b'{"html": "<head>"}'),
        ("/other/fragment", b"<div>fragment</div>"),
        ("/other/utf16", PAGE.decode().encode("utf-16")),
        ("/admin/page", PAGE),
    ],
)
def test_what_cannot_or_must_not_change_passes_byte_for_byte(
    site: str, path: str, body: bytes
) -> None:
    response, raw = get(site + path, "gzip")
    assert response.status_code == 200
    assert raw == body
    assert int(response.headers.get("content-length", len(raw))) == len(raw)


def test_ranges_are_left_alone(site: str) -> None:
    response, raw = get(site + "/other/partial")
    assert response.status_code == 206 and raw == PAGE[:100]


def test_a_page_over_the_limit_streams_unchanged(site: str) -> None:
    _, raw = get(site + "/huge")
    assert raw == PAGE + b"<!-- padding -->" * 10_000
    assert MARKER not in raw


def test_assets_are_versioned_compressed_and_revalidated(site: str) -> None:
    _, page = get(site + "/plain")
    js_url = banner().assets.url("/_consent/", "banner.js")
    assert js_url.encode() in page
    source = (Path(__file__).parent.parent / "static/consent-banner/banner.js").read_bytes()
    for coding in ("br", "gzip", "identity"):
        response, raw = get(site + js_url, coding)
        assert response.status_code == 200
        assert decode(raw, coding, 1 << 20) == source
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["content-length"] == str(len(raw))
    bare = httpx.get(site + "/_consent/banner.css")
    assert bare.headers["cache-control"] == "no-cache"
    again = httpx.get(
        site + "/_consent/banner.css", headers={"if-none-match": bare.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    assert httpx.head(site + "/_consent/banner.css").content == b""


def test_the_tags_carry_the_page_s_csp_nonce(site: str) -> None:
    _, raw = get(site + "/nonce")
    # The inline script, which hands the nonce on to the banner's script it adds.
    assert b'<script nonce="r4/nd+0m=">window.dataLayer' in raw
