"""Real servers on loopback for the tests: uvicorn in a thread, on a free port.

Each server is started by the test (or fixture) that needs it and stopped by
the same one, so nothing outlives its test. Apps are the real ones; nothing of
ours is patched.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from gateway.asgi import ASGIApp
from gateway.server import Listener, uvicorn_config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


@contextmanager
def run_server(app: ASGIApp, **config: Any) -> Iterator[str]:
    """Serve ``app`` with the gateway's own uvicorn settings; yield its base URL."""
    port = config.pop("port", None) or free_port()
    cfg = uvicorn_config(Listener(app, "127.0.0.1", port, "test"), log_level="warning")
    for key, value in config.items():
        setattr(cfg, key, value)
    server = _ThreadedServer(cfg)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def run_raw_server(handler: Any) -> Iterator[tuple[str, list[bytes]]]:
    """A bare TCP server whose ``handler(reader, writer)`` misbehaves on purpose.

    Yields its base URL and the list of raw requests it received, for upstreams
    that hang, reset or send malformed answers, which no well-behaved framework
    can be made to do.
    """
    port = free_port()
    received: list[bytes] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def serve() -> None:
        nonlocal stop
        stop = loop.create_future()

        handlers: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer, received)
            except (ConnectionError, asyncio.CancelledError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(handle(reader, writer))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

        server = await asyncio.start_server(on_connect, "127.0.0.1", port)
        ready.set()
        async with server:
            await stop
            server.close()
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(timeout=10)
        loop.close()


@contextmanager
def run_gateway(settings: Any, *, clock: Any = None) -> Iterator[tuple[str, str]]:
    """The public gateway and its admin listener, over one set of services as ``serve`` runs them.

    Yields ``(public_url, admin_url)``; ``clock`` (a :class:`gateway.clock.Clock`) drives
    both apps when given. The public app's lifespan opens what both use
    (ClickHouse, the writer), so it starts first and stops last.
    """
    from dataclasses import replace

    from gateway.app import create_gateway
    from gateway.cli import COMMANDS
    from gateway.clock import system_clock

    # The admin listener's real port goes into the settings, as `serve` has it, so
    # that what the gateway announces (admin.json, for local commands) is right.
    settings = replace(settings, admin_port=free_port())
    public, admin_app = create_gateway(settings, COMMANDS, clock=clock or system_clock)
    with run_server(public) as public_url, run_server(admin_app, port=settings.admin_port) as admin:
        yield public_url, admin
