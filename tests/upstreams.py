"""A real upstream for the proxy tests: a Starlette app that reports what it received.

It runs under real uvicorn (``tests.servers.run_server``), so every byte crosses
real sockets. Endpoints are small and each exists for one kind of test.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

GZIPPED = gzip.compress(b"<html><body>" + b"compressed " * 500 + b"</body></html>", mtime=0)
BLOCK = bytes(range(256)) * 256  # 64 KiB
# Served by Starlette's StaticFiles at /files/: strong ETags, Last-Modified and 304s.
FILES = Path(__file__).parent / "upstream_files"


async def echo(request: Request) -> JSONResponse:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse(
        {
            "method": request.method,
            "path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "headers": [[k.decode(), v.decode()] for k, v in request.scope["headers"]],
            "size": size,
            "sha256": digest.hexdigest(),
        }
    )


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return Response(status_code=code, headers={"etag": '"v1"'})


async def compressed(request: Request) -> Response:
    return Response(
        GZIPPED, headers={"content-encoding": "gzip", "content-type": "text/html; charset=utf-8"}
    )


async def big(request: Request) -> StreamingResponse:
    size = int(request.query_params["size"])

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            part = BLOCK[: size - sent]
            sent += len(part)
            yield part

    headers = {"content-length": str(size)} if request.query_params.get("fixed") else {}
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


async def cache(request: Request) -> Response:
    """A small body with the type, ``Cache-Control`` (``cc``), ``CDN-Cache-Control``
    (``cdn``), ``Expires`` and cookies (``cookie``, repeatable) the query asks for."""
    query = request.query_params
    headers = {"cache-control": query["cc"]} if "cc" in query else {}
    if "cdn" in query:
        headers["cdn-cache-control"] = query["cdn"]
    if "expires" in query:
        headers["expires"] = query["expires"]
    response = Response(b"cached?", media_type=query.get("type", "text/plain"), headers=headers)
    for name in query.getlist("cookie"):
        response.set_cookie(name, "1")
    return response


async def redirect(request: Request) -> Response:
    target = request.query_params["to"]
    return Response(status_code=302, headers={"location": target})


async def hop_headers(request: Request) -> Response:
    return Response(
        "ok",
        headers={
            "connection": "x-private",
            "x-private": "secret",
            "keep-alive": "timeout=5",
            "proxy-authenticate": "Basic",
            "x-public": "yes",
        },
    )


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("seconds", "5")))
    return Response("late")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept(
        subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None
    )
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                cookie = websocket.headers.get("cookie", "")
                await websocket.send_text(f"echo:{message['text']}|cookie:{cookie}")
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect:
        return


def create_upstream() -> Starlette:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/echo", echo, methods=methods),
            Route("/echo/{rest:path}", echo, methods=methods),
            Route("/status/{code:int}", status, methods=methods),
            Route("/gzip", compressed),
            Route("/big", big),
            Route("/redirect", redirect),
            Route("/cache/{name:path}", cache),
            Mount("/files", StaticFiles(directory=FILES)),
            Route("/hop", hop_headers),
            Route("/slow", slow),
            WebSocketRoute("/ws", ws_echo),
        ]
    )
