"""An upstream for the fuzz tests that says whatever the test tells it to.

``POST /set-cookies`` answers with the ``Set-Cookie`` values listed (latin-1
text) in its JSON body, so a test can throw any header an upstream might send
at the gateway's cookie filter; ``GET /echo`` reports the cookies that reached
the site; ``GET /page`` is a small HTML page.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


async def set_cookies(request: Request) -> Response:
    values = json.loads(await request.body())
    response = Response(b"ok", media_type="text/plain")
    response.raw_headers.extend((b"set-cookie", value.encode("latin-1")) for value in values)
    return response


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {"cookies": request.headers.get("cookie", ""), "consent": request.headers.get("x-consent")}
    )


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><html><head><title>t</title></head><body>p</body></html>")


def create_fuzz_upstream() -> Starlette:
    return Starlette(
        routes=[
            Route("/set-cookies", set_cookies, methods=["POST"]),
            Route("/echo", echo),
            Route("/page", page),
        ]
    )
