"""Running the gateway's ASGI apps under uvicorn, several in one event loop.

uvicorn's own proxy-header handling is switched off: the gateway decides who
the client is through ``CG_TRUSTED_PROXIES`` alone. Its ``Server`` and ``Date``
headers are off too, so the upstream's pass through unchanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvicorn

from gateway.asgi import ASGIApp
from gateway.settings import Settings


@dataclass(frozen=True)
class Listener:
    """One app on one address."""

    app: ASGIApp
    host: str
    port: int
    name: str


def uvicorn_config(listener: Listener, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration every gateway listener uses."""
    return uvicorn.Config(
        listener.app,
        host=listener.host,
        port=listener.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


async def serve_all(listeners: list[Listener], log_level: str = "info") -> None:
    """Serve every listener until one stops (Ctrl-C or SIGTERM stops them all)."""
    servers = [uvicorn.Server(uvicorn_config(item, log_level)) for item in listeners]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


def gateway_listeners(settings: Settings) -> list[Listener]:
    """The public listener and the admin listener for ``settings``, sharing one state."""
    from gateway.admin import create_admin_app
    from gateway.app import create_app

    public = create_app(settings)
    return [
        Listener(public, settings.host, settings.port, "gateway"),
        Listener(
            create_admin_app(settings, public), settings.admin_host, settings.admin_port, "admin"
        ),
    ]


def run(listeners: list[Listener], log_level: str = "info") -> None:
    """Blocking entry point for the CLI."""
    import uvloop

    uvloop.run(serve_all(listeners, log_level))
