"""Fuzzing the banner's HTML injection on arbitrary and malformed pages and encodings.

Invariants: it never raises; it either leaves a page alone or inserts the tags
exactly once, before ``<body>``, changing nothing else; a second pass leaves
the page alone; and a compressed page gets exactly what the plain one would.
"""

from __future__ import annotations

import zlib

import brotli
from hypothesis import given
from hypothesis import strategies as st

from gateway.banner.inject import decode, encode, inject

TAGS = b'<script src="/_consent/banner.js" data-config="{}"></script>'
MARKER = b"/_consent/banner.js"
LIMIT = 1 << 20

pieces = st.sampled_from(
    [
        b"<!doctype html>",
        b"<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0//EN'>",
        b"<html>",
        b'<html lang="en">',
        b"<head>",
        b"<HEAD data-x='1'>",
        b"<head",
        b"<header>",
        b'<meta charset="utf-8">',
        b"<meta http-equiv=content-type content='text/html; charset=utf-8'>",
        b"<script>var a='<head>';</script>",
        b"<title>t</title>",
        b"</head>",
        b"<body>",
        b"<BODY class=x>",
        b"<p>text</p>",
        b"\xef\xbb\xbf",
        b"\x00",
        MARKER,
    ]
)
pages = st.lists(st.one_of(pieces, st.binary(max_size=20)), max_size=12).map(b"".join)


def body_start(page: bytes) -> int:
    lower = page.lower()
    positions = [p for p in (lower.find(b"<body "), lower.find(b"<body>")) if p >= 0]
    return min(positions) if positions else len(page)


@given(pages)
def test_tags_go_in_once_before_the_body_and_nothing_else_changes(page: bytes) -> None:
    result = inject(page, "identity", TAGS, MARKER, LIMIT)
    if result is None:
        return
    assert result.count(TAGS) == page.count(TAGS) + 1
    at = result.find(TAGS)
    while result[:at] + result[at + len(TAGS) :] != page:
        at = result.find(TAGS, at + 1)
        assert at >= 0, "the page changed beyond the inserted tags"
    assert at <= body_start(page)
    assert inject(result, "identity", TAGS, MARKER, LIMIT) is None  # never twice


@given(pages, st.sampled_from(["gzip", "deflate", "br"]))
def test_a_compressed_page_gets_what_the_plain_page_gets(page: bytes, coding: str) -> None:
    plain = inject(page, "identity", TAGS, MARKER, LIMIT)
    compressed = inject(encode(page, coding), coding, TAGS, MARKER, LIMIT)
    if plain is None:
        assert compressed is None
    else:
        assert compressed is not None
        assert decode(compressed, coding, LIMIT) == plain


@given(st.binary(max_size=2000), st.sampled_from(["gzip", "x-gzip", "deflate", "br"]))
def test_garbage_in_any_coding_is_left_alone_or_changed_whole(body: bytes, coding: str) -> None:
    result = inject(body, coding, TAGS, MARKER, LIMIT)
    if result is not None:
        assert TAGS in decode(result, coding, LIMIT)


@given(pages, st.integers(1, 200))
def test_a_truncated_compressed_page_is_passed_on_unchanged(page: bytes, cut: int) -> None:
    for coding, packed in (
        ("gzip", encode(page + b"<p>padding</p>" * 20, "gzip")),
        ("deflate", zlib.compress(page + b"x" * 300)),
        ("br", brotli.compress(page + b"y" * 300)),
    ):
        truncated = packed[: max(1, len(packed) - cut)]
        if truncated == packed:
            continue
        assert inject(truncated, coding, TAGS, MARKER, LIMIT) is None
