"""Demo pages that show the consent banner at work, under a strict Content-Security-Policy.

    /consent-demo          a blocked analytics script, a blocked marketing iframe, a
                           "cookie settings" link, and a button that navigates like a
                           single-page app (history.pushState); ?csp=nonce sends a
                           nonce-based strict policy instead, ?lang= sets the page's lang
    /consent-demo/step-2   where that button goes, for a reload
    /embed/video           what the iframe shows once marketing is granted
    /compressed            a page the site compresses itself, with br or gzip as the
                           browser allows, to show the banner going into compressed pages

Every page here sends ``script-src 'self'`` and ``style-src 'self'``: no inline script or
style runs, which is what the banner must live with on careful sites.
"""

from __future__ import annotations

import gzip
import html

import brotli
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-src 'self'; img-src 'self'"
# Google's "strict CSP": scripts run by nonce, and what they load is trusted in turn.
NONCE = "cGxlYXNlLWJlLXJhbmRvbQ"
STRICT_CSP = f"default-src 'self'; script-src 'nonce-{NONCE}' 'strict-dynamic'; style-src 'self'"


def strict_page(title: str, body: str, lang: str = "en") -> str:
    return (
        f"<!doctype html><html lang={lang}><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} - Riverside Learning Trust</title></head>"
        f'<body><nav><a href="/">Home</a> | <a href="/consent-demo">Consent demo</a> | '
        f'<a href="#" data-consent-open>Cookie settings</a></nav>'
        f"<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


async def consent_demo(request: Request) -> HTMLResponse:
    lang = request.query_params.get("lang", "en")
    if not (lang.isalpha() and len(lang) <= 3):
        lang = "en"
    body = (
        "<p>This page loads an analytics script and a marketing video only once you allow them."
        "</p>"
        '<p id="tracker-status">The tracker has not run.</p>'
        '<script type="text/plain" data-consent="analytics" src="/static/tracker.js"></script>'
        '<iframe title="Course video" data-consent="marketing" data-src="/embed/video" '
        'width="320" height="120"></iframe>'
        '<p><button type="button" id="spa-next">Next step (single-page navigation)</button></p>'
        '<script src="/static/spa.js"></script>'
    )
    csp = CSP
    if request.query_params.get("csp") == "nonce":  # a real site makes a new nonce each time
        body = body.replace("<script src=", f'<script nonce="{NONCE}" src=')
        csp = STRICT_CSP
    return HTMLResponse(
        strict_page("Consent demo", body, lang), headers={"Content-Security-Policy": csp}
    )


async def embed_video(request: Request) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Video</title></head>"
        '<body><p id="video">The course video is playing.</p></body></html>',
        headers={"Content-Security-Policy": CSP},
    )


async def spa_js(request: Request) -> Response:
    script = (
        "document.getElementById('spa-next').addEventListener('click', () => {\n"
        "  history.pushState({}, '', '/consent-demo/step-2');\n"
        "  document.title = 'Step 2 - Riverside Learning Trust';\n"
        "});\n"
    )
    return Response(script, media_type="text/javascript")


async def compressed(request: Request) -> Response:
    page = strict_page(
        "Compressed page",
        "<p>The site compresses this page itself; the gateway adds the banner all the same.</p>"
        + "<p>Short courses for staff and pupils.</p>" * 200,
    ).encode()
    accepted = request.headers.get("accept-encoding", "")
    headers = {"Content-Security-Policy": CSP, "Vary": "Accept-Encoding"}
    if "br" in accepted:
        body, headers["Content-Encoding"] = brotli.compress(page), "br"
    elif "gzip" in accepted:
        body, headers["Content-Encoding"] = gzip.compress(page), "gzip"
    else:
        body = page
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


def consent_demo_routes() -> list[BaseRoute]:
    """The routes above, for ``create_demo_site``."""
    return [
        Route("/consent-demo", consent_demo),
        Route("/consent-demo/step-2", consent_demo),
        Route("/embed/video", embed_video),
        Route("/static/spa.js", spa_js),
        Route("/compressed", compressed),
    ]
