"""A tiny site served by the gateway's worker supervisor, run as its own process by a test.

``python -m tests.prefork_site PORT WORKERS`` binds PORT as ``serve --workers``
does, then supervises WORKERS processes that each serve, on the shared socket
and with the gateway's own ``serve_all``, a page answering with their pid. The
ClickHouse-backed gateway needs a ClickHouse server to run several workers;
this runs the same supervisor, sockets and signal handling without one.
"""

from __future__ import annotations

import os
import sys

import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.ops.logging import configure_logging
from gateway.server import Listener, serve_all
from gateway.workers import STARTUP_FAILED, bind, supervise


async def whoami(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


def main() -> int:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    configure_logging("text")
    sock = bind("127.0.0.1", port)
    app = Starlette(routes=[Route("/", whoami)])

    def worker(number: int) -> int:
        listener = Listener(app, "127.0.0.1", port, f"site-{number}", sock)
        return 0 if uvloop.run(serve_all([listener], "info")) else STARTUP_FAILED

    try:
        return supervise(workers, worker)
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
