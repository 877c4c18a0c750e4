"""The public application, assembled in one place from explicit parts.

    FrontDoor       request id, context (client address, scheme, cookies), the
    │               essential session cookie, the visitor's consent; on the way
    │               out the response metrics and the gateway's Set-Cookie headers
    └── Dispatcher
        ├── the gateway's own routes (Starlette): the reserved prefix and
        │   /.well-known/gpc.json
        └── the proxy (plain ASGI): HTTP and websockets to the upstream,
            with the consent's cookie filter both ways

Long-lived things (the upstream client) open in the lifespan and live on
``app.state``, never in module globals, so several apps can live in one
process (the tests and the demo rely on that).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.analytics.beacon import Collect
from gateway.analytics.service import Analytics
from gateway.asgi import ASGIApp, Receive, Scope, Send
from gateway.banner.service import Banner
from gateway.client_ip import TrustedProxies
from gateway.clock import Clock, system_clock
from gateway.consent import build_consent
from gateway.consent.api import ConsentApi
from gateway.errors import error_response, new_request_id, wants_json
from gateway.exceptions import GatewayError, JsonTooDeep
from gateway.front_door import FrontDoor
from gateway.geo.lookup import open_geo
from gateway.ops.health import health_routes
from gateway.ops.metrics import RequestMetrics
from gateway.own_headers import OwnSecurityHeaders
from gateway.privacy.page import PrivacyPages
from gateway.proxy.http import HttpProxy
from gateway.proxy.upstream import Upstream
from gateway.proxy.websocket import WebSocketProxy
from gateway.ratelimit import RateLimiter, RateLimitMiddleware
from gateway.settings import Settings

logger = logging.getLogger("gateway")

GPC_WELL_KNOWN = "/.well-known/gpc.json"


def _own_routes(
    settings: Settings, consent: ConsentApi, banner: Banner, collect: ASGIApp
) -> list[BaseRoute]:
    """The gateway's own routes under the reserved prefix; later features add theirs here."""
    return [
        *consent.routes(settings.prefix),
        Route(f"{settings.prefix}collect", collect, methods=["POST"]),
        *banner.routes(),
        *(health_routes(settings.prefix) if settings.public_health else []),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    as_json = wants_json(request.headers.get("accept")) or request.url.path.startswith(
        request.app.state.prefix
    )
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), as_json=as_json)


async def _server_error(request: Request, exc: Exception) -> Response:
    request_id = new_request_id()
    logger.exception("unexpected error request_id=%s path=%s", request_id, request.url.path)
    return error_response(
        500,
        "internal_error",
        "Something went wrong inside the gateway.",
        request_id=request_id,
        as_json=wants_json(request.headers.get("accept")),
    )


async def _json_too_deep(request: Request, exc: Exception) -> Response:
    # Raised by gateway.json_body.parse_json in any endpoint that reads a JSON body.
    assert isinstance(exc, JsonTooDeep)
    return error_response(exc.status_code, exc.code, str(exc))


def error_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """The exception handlers every Starlette app of the gateway uses: one error shape."""
    return {HTTPException: _http_error, JsonTooDeep: _json_too_deep, Exception: _server_error}


def build_own_app(settings: Settings, routes: list[BaseRoute]) -> Starlette:
    """The Starlette app that serves the reserved prefix, with the one error shape."""
    return Starlette(routes=routes, exception_handlers=error_handlers())


def own_rate_limits(settings: Settings, clock: Clock) -> dict[str, RateLimiter]:
    """The rate-limited paths of the reserved prefix; a rate set to ``off`` is left out.

    The erase route shares the consent API's rate (a budget of its own): an
    erasure is a consent change, and its jobs are bounded by their queue besides.
    """
    rates = {
        f"{settings.prefix}state": settings.rate_limit_consent,
        f"{settings.prefix}collect": settings.rate_limit_beacon,
        f"{settings.prefix}privacy/erase": settings.rate_limit_consent,
    }
    return {path: RateLimiter(rate, clock=clock) for path, rate in rates.items() if rate}


class Dispatcher:
    """Sends the reserved prefix to the gateway's own routes and everything else upstream.

    ``direct`` maps a method and an exact own path to an app that takes it without
    the own routes' router (the beacon: the busiest own route); it must carry the
    same middleware as ``own``. Other methods on that path still reach ``own``.
    """

    def __init__(
        self,
        prefix: str,
        own: ASGIApp,
        http: ASGIApp,
        websocket: ASGIApp,
        direct: dict[tuple[str, str], ASGIApp] | None = None,
    ) -> None:
        self.prefix = prefix
        self.bare_prefix = prefix.rstrip("/")
        self.own = own
        self.http = http
        self.websocket = websocket
        self.direct = direct or {}

    def is_own(self, path: str) -> bool:
        return path.startswith(self.prefix) or path in (self.bare_prefix, GPC_WELL_KNOWN)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.is_own(scope["path"]):
            direct = self.direct.get((scope.get("method", ""), scope["path"]))
            await (direct or self.own)(scope, receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.websocket(scope, receive, send)


Hook = Callable[[], Awaitable[None]]


class GatewayApp:
    """The ASGI application uvicorn serves on the public listener."""

    def __init__(
        self, settings: Settings, stack: ASGIApp, startup: list[Hook], shutdown: list[Hook]
    ):
        self.settings = settings
        self.state = State()
        self.stack = stack
        self.startup = startup
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.stack(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            for hook in self.startup:
                await hook()
        except Exception as error:
            if isinstance(error, GatewayError):
                # Expected (a setting, ClickHouse, the geolocation file): the message says
                # what to fix and uvicorn logs it; a traceback would only bury it.
                logger.debug("start-up failed", exc_info=True)
            else:
                logger.exception("start-up failed")
            # Close what did open (the upstream's connection pool); every shutdown hook
            # is safe on a part that never opened.
            await self._shut_down()
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await self._shut_down()
        await send({"type": "lifespan.shutdown.complete"})

    async def _shut_down(self) -> None:
        for hook in reversed(self.shutdown):
            try:
                await hook()
            except Exception:
                logger.exception("shutdown step failed")


def create_app(settings: Settings, *, clock: Clock = system_clock) -> GatewayApp:
    """Assemble the public gateway from ``settings``; ``clock`` is injectable for tests."""
    trusted = TrustedProxies(settings.trusted_proxies)
    upstream = Upstream(settings)
    consent = build_consent(settings, clock)
    banner = Banner(settings)
    privacy = PrivacyPages(settings, consent.api, banner.tags)
    # Reads the geolocation database at start-up, once whoever opens it has put it there.
    analytics = Analytics(settings, geo=lambda: getattr(app.state, "geo", None))
    collect = Collect(analytics)
    own = build_own_app(
        settings, [*_own_routes(settings, consent.api, banner, collect), *privacy.routes()]
    )
    limits = own_rate_limits(settings, clock)

    def own_middleware(inner: ASGIApp) -> ASGIApp:
        # Only the reserved prefix pays for rate limiting; the proxy never sees it.
        return OwnSecurityHeaders(RateLimitMiddleware(inner, limits))

    dispatcher = Dispatcher(
        settings.prefix,
        own=own_middleware(own),
        http=HttpProxy(
            upstream,
            trusted,
            consent.enforcer,
            settings.max_body_bytes,
            observers=[analytics.recorder],
            page_rewriter=banner.injector,
        ),
        websocket=WebSocketProxy(upstream, trusted, consent.enforcer),
        direct={("POST", f"{settings.prefix}collect"): own_middleware(collect)},
    )
    request_metrics = RequestMetrics()
    stack = FrontDoor.from_settings(
        dispatcher, settings, trusted, consent.policy, request_metrics, dispatcher.is_own, clock
    )
    app = GatewayApp(
        settings,
        stack,
        # The consent log's writers start once analytics has migrated the schema.
        startup=[
            upstream.open,
            analytics.open,
            partial(consent.log.open, analytics.storage),
            partial(privacy.open, analytics.storage),
        ],
        shutdown=[upstream.close, analytics.close, consent.log.close, privacy.close],
    )
    app.state.upstream = upstream
    app.state.request_metrics = request_metrics
    app.state.analytics = analytics
    app.state.consent_log = consent.log
    app.state.rate_limits = limits
    app.state.own_routes = own.routes
    # Opened here, not on the first request: a missing or corrupt database stops
    # start-up with a SettingsError saying how to fetch one. Memory-mapped and
    # thread-safe; it re-opens the file itself when it changes on disk.
    app.state.geo = open_geo(settings)
    consent.policy.geo = app.state.geo
    # The own routes read long-lived things (the event writer, the ClickHouse client)
    # from ``request.app.state``: share one State so the lifespan fills both.
    own.state = app.state
    app.state.prefix = settings.prefix
    return app
