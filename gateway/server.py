"""Running the gateway's ASGI apps under uvicorn, several in one event loop.

uvicorn's own proxy-header handling is switched off: the gateway decides who
the client is through ``CG_TRUSTED_PROXIES`` alone. Its ``Server`` and ``Date``
headers are off too, so the upstream's pass through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from gateway.app import create_gateway
from gateway.asgi import ASGIApp
from gateway.commands import Registry
from gateway.limits import ConnectionLimits, limited_protocol
from gateway.ops.priority import PriorityKeeper
from gateway.settings import Settings


@dataclass(frozen=True)
class Listener:
    """One app on one address."""

    app: ASGIApp
    host: str
    port: int
    name: str
    # A socket bound beforehand (``serve --workers``: every worker shares it); None binds.
    sock: socket.socket | None = None
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


def uvicorn_config(listener: Listener, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration every gateway listener uses."""
    return uvicorn.Config(
        listener.app,
        host=listener.host,
        port=listener.port,
        loop="uvloop",
        # httptools, with the head-size, header-count and slow-client limits uvicorn lacks.
        http=limited_protocol(listener.limits),
        limit_concurrency=listener.limits.max_connections,
        ws="websockets-sansio",
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        log_level=log_level,
        # No logging config of uvicorn's own: its records go to the root handler, which
        # gateway.ops.logging sets up (text or JSON, with IPs and cookies redacted).
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


async def serve_all(listeners: list[Listener], log_level: str = "info") -> bool:
    """Serve every listener until one stops (Ctrl-C or SIGTERM stops them all).

    Returns whether every listener started: ``False`` means a start-up failed
    (ClickHouse unreachable, a port taken), and the caller exits non-zero.
    """
    servers = [uvicorn.Server(uvicorn_config(item, log_level)) for item in listeners]

    def stop_all(sig: int, frame: object) -> None:
        for server in servers:
            server.should_exit = True

    # Each uvicorn server takes SIGTERM/SIGINT while it serves, and re-raises the signal
    # to the handler it found once it has shut down. With this one underneath, a signal
    # stops every listener (even one still starting), and the re-raised signal after a
    # graceful shutdown (requests drained, writer flushed) does not kill the process,
    # so `serve` exits 0.
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop_all) for sig in _SIGNALS} if main else {}
    if main:  # `systemctl reload` must not stop a gateway (a sites file takes it over)
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _nothing_to_reload)
    tasks = [
        asyncio.create_task(_serve_one(server, item))
        for server, item in zip(servers, listeners, strict=True)
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return all(server.started for server in servers)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _nothing_to_reload(sig: int, frame: object) -> None:
    logging.getLogger("gateway").warning(
        "SIGHUP: nothing reloaded; only a sites file (CG_SITES_FILE) is read again, other "
        "settings take a restart."
    )


async def _serve_one(server: uvicorn.Server, listener: Listener) -> None:
    """One listener. uvicorn raises ``SystemExit`` when its app fails to start; let out
    of the task it would tear the loop down under the other listener (a traceback that
    buries the start-up message), so it ends this task instead: the caller sees a
    server that never started and exits non-zero."""
    try:
        await server.serve([listener.sock] if listener.sock else None)
    except SystemExit:
        server.should_exit = True


def gateway_listeners(
    settings: Settings,
    commands: Registry,
    sockets: tuple[socket.socket, socket.socket] | None = None,
    metrics_dir: Path | None = None,
) -> list[Listener]:
    """The public listener and the admin listener for ``settings``, over one set of services.

    ``commands`` are the CLI's, for the admin listener's local-commands route;
    ``sockets`` are the public and admin sockets bound by ``serve --workers``, and
    ``metrics_dir`` where each worker publishes its counters.
    """

    public, admin = create_gateway(settings, commands, metrics_dir=metrics_dir)
    limits = connection_limits(settings)
    public_sock, admin_sock = sockets or (None, None)
    return [
        Listener(public, settings.host, settings.port, "gateway", public_sock, limits=limits),
        Listener(
            admin,
            settings.admin_host,
            settings.admin_port,
            "admin",
            admin_sock,
            limits=limits,
        ),
    ]


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The per-connection limits of ``settings``, for both listeners."""
    return ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )


# Young objects allowed before a collection of the youngest generation (CPython's
# default is 700). A request makes a few hundred short-lived containers, almost
# none in cycles, so the default collected several times per request batch.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Keep the garbage collector off the hot path of a serving process.

    Everything alive once the app is built (modules, the embedded engine's
    bindings, settings, routes) lives for the whole process, yet CPython's
    collector would keep walking it, at a real cost in CPU and tail latency.
    ``gc.freeze()`` moves those objects out of the
    collector's sight, and a larger young threshold makes collections rare;
    cycles are still collected, so nothing leaks. Called by ``serve`` only,
    never by the tests, which build many apps in one process.
    """
    import gc

    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def tune_process(background_nice: int) -> None:
    """Set up a serving process once, before its loop starts: the garbage collector
    kept off the hot path, and the loop's thread (this one) first in line for the CPU
    (``gateway/ops/priority.py``). Never called by the tests' in-process servers."""

    tune_gc()
    PriorityKeeper(threading.get_native_id(), background_nice).start()


def run(listeners: list[Listener], log_level: str = "info", background_nice: int = 0) -> bool:
    """Blocking entry point for the CLI; whether every listener started."""
    import uvloop

    tune_process(background_nice)
    return uvloop.run(serve_all(listeners, log_level))
