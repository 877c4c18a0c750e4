"""What the banner's injection costs the proxy, beside what the proxy already does.

Run with ``scripts/bench banner_inject``. Two figures, each measured side by side
in one run (best of several rounds, so other load on the machine counts least):

- the decision for a response that is not HTML (the hook's whole cost for
  scripts, images, downloads), beside the analytics recorder's check of the same
  headers, which every response already pays;
- putting the tags into a 60 KB page, identity, gzip and brotli, beside only
  decoding and encoding it again (the least any change to a compressed page costs);
- holding back third-party tags (``holdback.py``), identity: on the same page
  without links, on one with 600 links to ordinary sites, and on one with Google
  Analytics, Google Fonts and a YouTube embed, each beside injection alone.
"""

from __future__ import annotations

import timeit
from functools import partial

from gateway.analytics.pageviews import is_html_success
from gateway.banner.holdback import HoldBack
from gateway.banner.inject import decode, encode, inject
from gateway.banner.rewrite import HtmlInjector
from gateway.banner.validators import PageValidators
from gateway.consent.third_parties import ThirdParties

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
EXTRA = b'<script async src="/_consent/third-parties.js?v=0"></script>'
LINKED = PAGE.replace(
    b"<p>Short courses for staff and pupils, online and in person.</p>" * 600,
    b'<p>Short courses <a href="https://www.example.ac.uk/courses">online</a>.</p>' * 600,
)
TRACKED = PAGE.replace(
    b"</title></head>",
    b"</title>"
    b'<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
    b'<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b"<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
    b"gtag('js',new Date());gtag('config','G-1')</script></head>",
).replace(
    b"</body>",
    b'<iframe width=560 height=315 src="https://www.youtube.com/embed/x"></iframe></body>',
)


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
    hold = HoldBack(ThirdParties())
    for name, page in (("no links", PAGE), ("600 links", LINKED), ("trackers", TRACKED)):
        alone = best_ns(partial(inject, page, "identity", TAGS, MARKER, 8 << 20), 20)
        held = best_ns(
            partial(inject, page, "identity", TAGS, MARKER, 8 << 20, None, hold, EXTRA), 20
        )
        print(
            f"{len(page) >> 10} KB page, {name:<9}: inject {alone / 1e3:.0f} us, "
            f"with hold-back {held / 1e3:.0f} us"
        )


def _recode(body: bytes, coding: str) -> bytes:
    return encode(decode(body, coding, 8 << 20), coding)


if __name__ == "__main__":
    main()
