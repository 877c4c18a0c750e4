"""The real gateway app driven in-process, for tests that send many requests.

Property and fuzz tests send hundreds of requests per test; going through
sockets would spend the time in the kernel, not in our code. This runs the
app's real lifespan (ClickHouse, the event writer) on an event loop in a
thread and sends requests through ``httpx.ASGITransport``, so a plain
(synchronous) hypothesis test can call it. The client address is chosen per
request, as a real peer address would be. Where sockets matter (limits,
timeouts, streaming), tests use ``tests.servers.run_server`` instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from gateway.asgi import ASGIApp, Message

T = TypeVar("T")
TIMEOUT = 60.0


class InProcess:
    """Sends requests to one ASGI app whose lifespan has started."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def request(
        self, method: str, path: str, *, client: str = "192.0.2.10", **kwargs: Any
    ) -> httpx.Response:
        """One request from ``client`` (an address, as the peer of a socket would be)."""
        return self.run(self._request(method, path, client, kwargs))

    async def _request(
        self, method: str, path: str, client: str, kwargs: dict[str, Any]
    ) -> httpx.Response:
        transport = httpx.ASGITransport(self.app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            return await http.request(method, path, **kwargs)


async def _lifespan(app: ASGIApp, started: asyncio.Future[None], stop: asyncio.Event) -> None:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set_result(None)
        elif message["type"] == "lifespan.startup.failed":
            started.set_exception(RuntimeError(message.get("message", "start-up failed")))

    async def shutdown_when_told() -> None:
        await stop.wait()
        await inbox.put({"type": "lifespan.shutdown"})

    waiter = asyncio.ensure_future(shutdown_when_told())
    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    waiter.cancel()


@contextmanager
def in_process(app: ASGIApp) -> Iterator[InProcess]:
    """Start ``app``'s lifespan on a loop in a thread; stop it (flushing the writer) after."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def begin() -> tuple[asyncio.Event, asyncio.Future[None]]:
        started: asyncio.Future[None] = loop.create_future()
        stop = asyncio.Event()
        task = asyncio.ensure_future(_lifespan(app, started, stop))
        await started
        return stop, task

    try:
        stop, task = asyncio.run_coroutine_threadsafe(begin(), loop).result(TIMEOUT)
        try:
            yield InProcess(app, loop)
        finally:

            async def end() -> None:
                stop.set()
                await task

            asyncio.run_coroutine_threadsafe(end(), loop).result(TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=TIMEOUT)
        loop.close()
