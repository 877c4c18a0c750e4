"""Health endpoints: ``healthz`` (the process answers) and ``readyz`` (it can serve).

Both live under the reserved prefix on the admin listener, and on the public
one too when ``CG_PUBLIC_HEALTH`` is on (for a load balancer that can only
reach the public port).

``readyz`` answers 200 while the gateway can serve visitors: start-up is
complete and the upstream answers (any HTTP status counts as an answer). A
ClickHouse that cannot be reached does not make the gateway unready: events
wait in memory and in the spool, nothing is lost, and pulling every gateway
out of a load balancer because the analytics database is away would take the
site down with it. The body says so (``"status": "degraded"``) and gives each
check and the queue and spool sizes, so a monitor can alert on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from gateway.storage import Storage

# Seconds each check may take: a readiness probe must answer quickly even when a
# dependency hangs.
CHECK_TIMEOUT = 3.0
NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def _check_upstream(state: Any) -> dict[str, Any]:
    """HEAD / on the upstream: any HTTP answer means reachable.

    A short-lived session of its own, not the proxy's pool: the check must not
    take a pooled connection from visitors, and it runs on whichever event loop
    the admin listener has.
    """
    upstream = getattr(state, "upstream", None)
    if upstream is None:
        return {"ok": False, "detail": "not started"}
    timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, trust_env=False) as session,
            session.head(
                upstream.base_url + "/",
                allow_redirects=False,
                headers={"Host": upstream.host_header},
            ) as response,
        ):
            return {"ok": True, "status": response.status}
    except (aiohttp.ClientError, TimeoutError) as error:
        return {"ok": False, "detail": type(error).__name__}


def _ping(storage: Storage) -> None:
    client = storage.connect()
    try:
        client.command("SELECT 1")
    finally:
        client.close()


async def _check_clickhouse(state: Any) -> dict[str, Any]:
    analytics = getattr(state, "analytics", None)
    if analytics is None:
        return {"ok": False, "detail": "not started"}
    try:
        await asyncio.wait_for(
            analytics.storage.run(lambda: _ping(analytics.storage)), CHECK_TIMEOUT
        )
    except Exception as error:  # any failure means "not reachable"; the message says which
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True}


async def readyz(request: Request) -> JSONResponse:
    """Whether this process can serve visitors, with each dependency's state."""
    state = request.app.state
    analytics = getattr(state, "analytics", None)
    writer = analytics.writer if analytics is not None else None
    upstream, clickhouse = await asyncio.gather(_check_upstream(state), _check_clickhouse(state))
    queued = analytics.queued if analytics is not None else 0
    spooled = await asyncio.to_thread(writer.spool.pending_events) if writer is not None else 0
    if writer is None or not upstream["ok"]:
        status, code = "not_ready", 503
    elif not clickhouse["ok"] or spooled:
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    body = {
        "status": status,
        "started": writer is not None,
        "checks": {"upstream": upstream, "clickhouse": clickhouse},
        "events": {"queued": queued, "spooled": spooled},
    }
    return JSONResponse(body, status_code=code, headers=NO_STORE)


def health_routes(prefix: str) -> list[BaseRoute]:
    """``<prefix>healthz`` and ``<prefix>readyz``."""
    return [
        Route(prefix + "healthz", healthz, methods=["GET", "HEAD"]),
        Route(prefix + "readyz", readyz, methods=["GET", "HEAD"]),
    ]
