"""What the request metrics cost per request: the middleware beside no middleware.

Run by hand with ``scripts/bench metrics`` (never by the tests). One event loop
calls a minimal ASGI app (a response start and a body, as a small proxied page
is sent) directly and through :class:`~gateway.ops.metrics.RequestMetrics`,
alternating in rounds so that drift hits both alike, and prints the median
microseconds per request of each and their difference. Compare the difference
with the gateway's CPU time per request that ``scripts/bench proxy`` prints.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.ops.metrics import RequestMetrics


async def page(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"x", "more_body": False})


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    return None


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/courses", "headers": []}


async def per_request(app: ASGIApp, requests: int) -> float:
    """Microseconds per request, each request in a task of its own as uvicorn runs them."""

    async def one() -> None:
        await app(scope(), receive, send)

    start = time.perf_counter()
    for _ in range(requests):
        await asyncio.create_task(one())
    return (time.perf_counter() - start) / requests * 1e6


async def measure(requests: int, rounds: int) -> tuple[list[float], list[float]]:
    wrapped = RequestMetrics(page, lambda path: path.startswith("/_consent/"))
    bare: list[float] = []
    metered: list[float] = []
    for _ in range(rounds):
        bare.append(await per_request(page, requests))
        metered.append(await per_request(wrapped, requests))
    assert sum(wrapped.proxied.values()) == requests * rounds
    return bare, metered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    bare, metered = uvloop.run(measure(args.requests, args.rounds))  # as the gateway runs
    b, m = statistics.median(bare), statistics.median(metered)
    print(f"{args.requests} requests x {args.rounds} alternating rounds (median round)")
    print(f"without RequestMetrics   {b:7.2f} us/request")
    print(f"with RequestMetrics      {m:7.2f} us/request")
    print(f"cost of the metrics      {m - b:7.2f} us/request   ratio {m / b:.2f}")


if __name__ == "__main__":
    main()
