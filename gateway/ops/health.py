"""Health endpoints: ``healthz`` (the process answers) and ``readyz`` (it can serve).

Both are on the admin listener, and on the public one when ``CG_PUBLIC_HEALTH``
is on. ``readyz`` is 200 once start-up is complete and the upstream answers with
any status. An unreachable ClickHouse does not make the gateway unready: events
wait in memory and the spool, and pulling every gateway out of the load balancer
for it would take the site down. The body then says ``"status": "degraded"``
with each check and the queue and spool sizes, for monitors.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from gateway.analytics.service import Analytics
from gateway.exceptions import UpstreamError
from gateway.storage import Storage

# Seconds each check may take: a readiness probe must answer quickly even when a
# dependency hangs.
CHECK_TIMEOUT = 3.0
NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


class UpstreamProbe(Protocol):
    """What readiness asks of the upstream (:class:`gateway.proxy.upstream.Upstream`)."""

    async def probe(self) -> int:
        """The HTTP status the upstream answers ``HEAD /`` with; raises
        :class:`UpstreamError` when it gives none."""
        ...


async def _check_upstream(upstream: UpstreamProbe) -> dict[str, Any]:
    """Any HTTP answer to ``HEAD /`` means reachable."""
    try:
        status = await asyncio.wait_for(upstream.probe(), CHECK_TIMEOUT)
    except (UpstreamError, TimeoutError) as error:
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True, "status": status}


def _ping(storage: Storage) -> None:
    client = storage.connect()
    try:
        client.command("SELECT 1")
    finally:
        client.close()


async def _check_clickhouse(analytics: Analytics) -> dict[str, Any]:
    storage = analytics.storage
    try:
        await asyncio.wait_for(storage.run(lambda: _ping(storage)), CHECK_TIMEOUT)
    except Exception as error:  # any failure means "not reachable"; the message says which
        return {"ok": False, "detail": type(error).__name__}
    return {"ok": True}


class HealthSources(Protocol):
    """What readiness reads (:class:`gateway.services.Services` is one)."""

    @property
    def upstream(self) -> UpstreamProbe: ...

    @property
    def analytics(self) -> Analytics: ...


async def readiness(upstream: UpstreamProbe, analytics: Analytics) -> JSONResponse:
    """Whether this process can serve visitors, with each dependency's state."""
    writer = analytics.writer
    upstream_check, clickhouse = await asyncio.gather(
        _check_upstream(upstream), _check_clickhouse(analytics)
    )
    queued = analytics.queued
    spooled = await asyncio.to_thread(writer.spool.pending_events) if writer is not None else 0
    if writer is None or not upstream_check["ok"]:
        status, code = "not_ready", 503
    elif not clickhouse["ok"] or spooled:
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    body = {
        "status": status,
        "started": writer is not None,
        "checks": {"upstream": upstream_check, "clickhouse": clickhouse},
        "events": {"queued": queued, "spooled": spooled},
    }
    return JSONResponse(body, status_code=code, headers=NO_STORE)


def health_routes(prefix: str, sources: HealthSources) -> list[BaseRoute]:
    """``<prefix>healthz`` and ``<prefix>readyz``, which reads ``sources``."""

    async def readyz(request: Request) -> JSONResponse:
        return await readiness(sources.upstream, sources.analytics)

    return [
        Route(prefix + "healthz", healthz, methods=["GET", "HEAD"]),
        Route(prefix + "readyz", readyz, methods=["GET", "HEAD"]),
    ]
