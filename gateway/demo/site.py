"""A small website to put the gateway in front of: the upstream of ``consent-gateway demo``.

It has what real sites have and what the gateway must handle: several linked
pages, a form, a download, a websocket echo, a page that sets a mix of
essential and tracking cookies, a page that loads a third-party-style script,
and one with Google Analytics and a YouTube video pasted in unmarked
(``/open-day``). ``/echo`` shows what the site received, so a visitor can see
which cookies and headers the gateway let through.
"""

from __future__ import annotations

import html
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.demo.consent_pages import consent_demo_routes

PAGES = {
    "/": ("Home", "Welcome to the Riverside Learning Trust demo site."),
    "/courses": ("Courses", "Short courses for staff and pupils, online and in person."),
    "/courses/safeguarding": ("Safeguarding", "Level 1 safeguarding training, 45 minutes."),
    "/courses/first-aid": ("First aid", "Paediatric first aid, one day, certificate included."),
    "/about": ("About us", "A trust of four schools in the Thames valley."),
    "/news": ("News", "Term dates, open days and results."),
}

NAV = [
    ("/", "Home"),
    ("/courses", "Courses"),
    ("/about", "About"),
    ("/news", "News"),
    ("/contact", "Contact"),
    ("/cookies", "Cookie demo"),
    ("/third-party", "Third-party script"),
    ("/open-day", "Open day video"),
    ("/consent-demo", "Consent banner demo"),
    ("/live", "Live chat"),
    ("/download", "Prospectus (download)"),
    ("/echo", "What the site sees"),
]

DOWNLOAD_BYTES = 2 * 1024 * 1024


def page(title: str, body: str) -> HTMLResponse:
    links = " | ".join(f'<a href="{href}">{html.escape(label)}</a>' for href, label in NAV)
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} - Riverside Learning Trust</title></head>"
        f"<body><nav>{links}</nav><main><h1>{html.escape(title)}</h1>{body}</main>"
        "<footer><p>Riverside Learning Trust (a demo site)</p></footer></body></html>"
    )


async def content_page(request: Request) -> HTMLResponse:
    title, text = PAGES[request.url.path]
    school = request.app.state.school
    if school and request.url.path == "/":  # each school of the demo's trust says which
        text = f"Welcome to {school}, a Riverside Learning Trust demo site."
    extra = ""
    if request.url.path == "/courses":
        extra = (
            '<ul><li><a href="/courses/safeguarding">Safeguarding</a></li>'
            '<li><a href="/courses/first-aid">First aid</a></li></ul>'
        )
    return page(title, f"<p>{html.escape(text)}</p>{extra}")


async def contact(request: Request) -> HTMLResponse:
    if request.method == "POST":
        form = await request.form()
        name = str(form.get("name", ""))
        return page("Thank you", f"<p>Thanks, {html.escape(name)}. We will reply soon.</p>")
    return page(
        "Contact",
        '<form method=post action="/contact"><label>Name <input name=name></label> '
        "<label>Message <textarea name=message></textarea></label> <button>Send</button></form>",
    )


async def cookies(request: Request) -> HTMLResponse:
    response = page(
        "Cookie demo",
        "<p>This page sets an essential <code>sessionid</code>, an analytics <code>_ga</code>, "
        "a marketing <code>_fbp</code> and a preferences <code>theme</code> cookie. "
        'See which ones the site gets back on <a href="/echo">the echo page</a>.</p>',
    )
    response.set_cookie("sessionid", "demo-session", httponly=True, samesite="lax")
    response.set_cookie("_ga", "GA1.1.123456789.1700000000", max_age=2 * 365 * 86400)
    response.set_cookie("_fbp", "fb.1.1700000000.987654321", max_age=90 * 86400)
    response.set_cookie("theme", "dark", max_age=365 * 86400)
    return response


async def third_party(request: Request) -> HTMLResponse:
    return page(
        "Third-party script",
        "<p>This page loads a tracker-style script that marks the page when it runs.</p>"
        '<p id="tracker-status">The tracker has not run.</p>'
        '<script type="text/plain" data-consent="analytics" src="/static/tracker.js"></script>',
    )


# What sites paste from Google and YouTube, unmarked: the gateway holds both back.
GA_SNIPPET = (
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-DEMO000000"></script>'
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js',new Date());gtag('config','G-DEMO000000');</script>"
)
YOUTUBE_EMBED = (
    '<iframe width="560" height="315" src="https://www.youtube-nocookie.com/embed/aqz-KE-bpKQ" '
    'title="Open day tour" allowfullscreen></iframe>'
)


async def open_day(request: Request) -> HTMLResponse:
    return page(
        "Open day",
        "<p>Google Analytics and a YouTube video, pasted in as their providers give them: "
        "neither loads before you agree.</p>" + GA_SNIPPET + YOUTUBE_EMBED,
    )


async def tracker(request: Request) -> Response:
    script = (
        "document.getElementById('tracker-status').textContent = 'The tracker ran.';\n"
        "document.cookie = '_ga_demo=1; path=/; max-age=3600';\n"
    )
    return Response(script, media_type="text/javascript")


async def live(request: Request) -> HTMLResponse:
    return page(
        "Live chat",
        "<p>A websocket echo: type and the site answers.</p>"
        "<input id=msg> <button id=send>Send</button><pre id=log></pre>"
        '<script src="/static/live.js"></script>',
    )


async def live_js(request: Request) -> Response:
    script = (
        "const log = document.getElementById('log');\n"
        "const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://')"
        " + location.host + '/ws');\n"
        "ws.onmessage = (e) => { log.textContent += e.data + '\\n'; };\n"
        "document.getElementById('send').onclick = () => "
        "ws.send(document.getElementById('msg').value);\n"
    )
    return Response(script, media_type="text/javascript")


async def download(request: Request) -> StreamingResponse:
    async def chunks() -> object:
        block = b"Riverside Learning Trust prospectus.\n" * 1024
        sent = 0
        while sent < DOWNLOAD_BYTES:
            part = block[: DOWNLOAD_BYTES - sent]
            sent += len(part)
            yield part

    return StreamingResponse(
        chunks(),  # type: ignore[arg-type]
        media_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="prospectus.txt"'},
    )


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": {key: value for key, value in request.headers.items()},
            "cookies": dict(request.cookies),
            "body_bytes": len(body),
        },
        headers={"Cache-Control": "no-store"},
    )


async def echo_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(json.dumps({"echo": text}))
    except WebSocketDisconnect:
        return


def create_demo_site(school: str = "") -> Starlette:
    """The demo website as an ASGI app; ``school`` names it on the home page (the demo
    runs a primary school and a college)."""
    routes: list[BaseRoute] = [Route(path, content_page) for path in PAGES]
    routes += [
        Route("/contact", contact, methods=["GET", "POST"]),
        Route("/cookies", cookies),
        Route("/third-party", third_party),
        Route("/open-day", open_day),
        *consent_demo_routes(),
        Route("/static/tracker.js", tracker),
        Route("/live", live),
        Route("/static/live.js", live_js),
        Route("/download", download),
        Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        WebSocketRoute("/ws", echo_ws),
    ]
    app = Starlette(routes=routes)
    app.state.school = school
    return app
