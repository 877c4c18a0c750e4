"""The floor for a Python proxy: a bare ASGI app forwarding a GET, nothing else.

Not a product: ``bench/proxy.py`` runs it beside the gateway so the report can
say how much of the gateway's cost is its own and how much is uvicorn's and
the upstream client's. Two clients: ``aiohttp`` (the yardstick of the
foundation issue) and ``pool`` (the gateway's own ``gateway/proxy/pool.py``).
Run as ``python -m bench.bare_forwarder UPSTREAM PORT [aiohttp|pool]``.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn

from bench.harness import fetch
from gateway.proxy.pool import ConnectionPool
from gateway.proxy.request import encode_head


def make_app(upstream: str) -> Any:
    """The forwarder over one aiohttp session."""
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            state["session"] = aiohttp.ClientSession(auto_decompress=False)
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await state["session"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        async with state["session"].get(upstream + scope["path"]) as response:
            body = await response.read()
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def make_pool_app(upstream: str) -> Any:
    """The same forwarder over the gateway's connection pool."""
    pool = ConnectionPool(upstream, connect_timeout=10, read_timeout=60)
    host = upstream.split("://", 1)[1]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        head = encode_head("GET", scope["path"], [("Host", host)])
        status, _, body = await fetch(pool, "GET", head)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    client = sys.argv[3] if len(sys.argv) > 3 else "aiohttp"
    uvicorn.run(
        (make_pool_app if client == "pool" else make_app)(sys.argv[1]),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
