"""What the front door costs per request: the page beside the page behind the front door.

Run by hand with ``scripts/bench front_door`` (never by the tests). One event
loop calls a minimal ASGI app (a response start and a body, as a small proxied
page is sent) directly and through :class:`~gateway.front_door.FrontDoor`
(request id, header check, context, session cookie, consent, metrics and
cookies out) for a returning visitor who sends a valid session cookie and a
consent cookie, as a browser does, alternating in rounds so that drift hits
both alike. It prints the median microseconds per request of each and their
difference; compare the difference with the gateway's CPU time per request
that ``scripts/bench proxy`` prints.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import uvloop

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.client_ip import TrustedProxies
from gateway.clock import system_clock
from gateway.consent import build_consent
from gateway.front_door import FrontDoor
from gateway.ops.metrics import RequestMetrics
from gateway.session import SESSION_COOKIE
from gateway.settings import load_settings

BROWSER_HEADERS = [
    (b"host", b"school.example"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-GB,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
]


async def page(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"x", "more_body": False})


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    return None


def front_door() -> tuple[FrontDoor, bytes]:
    """A front door as the gateway builds it, and the Cookie header of a returning visitor."""
    settings = load_settings(
        environ={"CG_UPSTREAM": "http://127.0.0.1:9", "CG_SECRET_KEY": os.urandom(24).hex()},
        env_file=None,
    )
    consent = build_consent(settings, system_clock)
    door = FrontDoor.from_settings(
        page,
        settings,
        TrustedProxies(settings.trusted_proxies),
        consent.policy,
        RequestMetrics(),
        lambda path: path.startswith(settings.prefix),
    )
    session = door.sessions.signer.sign("benchvisitor")
    return door, f"_ga=GA1.1.123; {SESSION_COOKIE}={session}".encode()


def scope(cookie: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/courses",
        "client": ("203.0.113.7", 50000),
        "headers": [*BROWSER_HEADERS, (b"cookie", cookie)],
    }


async def per_request(app: ASGIApp, cookie: bytes, requests: int) -> float:
    """Microseconds per request, each request in a task of its own as uvicorn runs them."""

    async def one() -> None:
        await app(scope(cookie), receive, send)

    start = time.perf_counter()
    for _ in range(requests):
        await asyncio.create_task(one())
    return (time.perf_counter() - start) / requests * 1e6


async def measure(requests: int, rounds: int) -> tuple[list[float], list[float]]:
    door, cookie = front_door()
    bare: list[float] = []
    behind: list[float] = []
    for _ in range(rounds):
        bare.append(await per_request(page, cookie, requests))
        behind.append(await per_request(door, cookie, requests))
    assert sum(door.metrics.proxied.values()) == requests * rounds
    return bare, behind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    bare, behind = uvloop.run(measure(args.requests, args.rounds))  # as the gateway runs
    b, f = statistics.median(bare), statistics.median(behind)
    print(f"{args.requests} requests x {args.rounds} alternating rounds (median round)")
    print(f"page alone                 {b:7.2f} us/request")
    print(f"page behind the front door {f:7.2f} us/request")
    print(f"cost of the front door     {f - b:7.2f} us/request   ratio {f / b:.2f}")


if __name__ == "__main__":
    main()
