"""What the banner's injection costs the proxy, beside what the proxy already does.

Run with ``scripts/bench banner_inject``. Two figures, each measured side by side
in one run (best of several rounds, so other load on the machine counts least):

- the decision for a response that is not HTML (the hook's whole cost for
  scripts, images, downloads), beside the analytics recorder's check of the same
  headers, which every response already pays;
- putting the tags into a 60 KB page, identity, gzip and brotli, beside only
  decoding and encoding it again (the least any change to a compressed page costs).
"""

from __future__ import annotations

import timeit
from functools import partial

from gateway.analytics.pageviews import is_html_success
from gateway.banner.inject import decode, encode, inject
from gateway.banner.rewrite import HtmlInjector
from gateway.banner.validators import PageValidators

HEADERS = [
    (b"date", b"Sun, 22 Nov 2026 10:00:00 GMT"),
    (b"server", b"upstream"),
    (b"content-type", b"application/javascript"),
    (b"content-length", b"12345"),
    (b"cache-control", b"public, max-age=3600"),
    (b"etag", b'"abc"'),
    (b"vary", b"accept-encoding"),
    (b"content-encoding", b"gzip"),
]
PAGE = (
    b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Courses</title></head><body>"
    + b"<p>Short courses for staff and pupils, online and in person.</p>" * 1000
    + b"</body></html>"
)
TAGS = (  # the shape of the gateway's inline script (gateway/banner/service.py), shortened
    b"<script>window.dataLayer=window.dataLayer||[];(function(){dataLayer.push(arguments)})"
    b'(\'consent\',\'default\',{"ad_storage":"denied","wait_for_update":500});'
    b"(function(d,n){var s=d.createElement('script');s.src=\"/_consent/banner.js\";"
    b"d.head.appendChild(s)})(document)</script>"
)
MARKER = b"/_consent/banner.js"


def best_ns(call: object, number: int) -> float:
    assert callable(call)
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e9


def main() -> None:
    hook = HtmlInjector(TAGS, MARKER, ("/admin/*",), 8 << 20, PageValidators("0" * 10, 0))
    scope = {"method": "GET", "path": "/static/app.js"}
    decide = best_ns(lambda: hook(scope, 200, HEADERS), 100_000)
    observer = best_ns(lambda: is_html_success(200, HEADERS), 100_000)
    print(
        f"not HTML: hook {decide:.0f} ns, page-view check {observer:.0f} ns, "
        f"ratio {decide / observer:.2f}"
    )
    for coding in ("identity", "gzip", "br"):
        body = encode(PAGE, coding)
        injected = best_ns(partial(inject, body, coding, TAGS, MARKER, 8 << 20), 20)
        line = f"60 KB page, {coding:<8}: inject {injected / 1e3:.0f} us"
        if coding != "identity":
            recoded = best_ns(partial(_recode, body, coding), 20)
            line += f", decode+encode only {recoded / 1e3:.0f} us, ratio {injected / recoded:.2f}"
        print(line)


def _recode(body: bytes, coding: str) -> bytes:
    return encode(decode(body, coding, 8 << 20), coding)


if __name__ == "__main__":
    main()
