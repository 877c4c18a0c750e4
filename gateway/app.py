"""The public application, assembled in one place from explicit parts.

    FrontDoor       request id, context (client address, scheme, cookies), the
    │               essential session cookie, the visitor's consent; on the way
    │               out the response metrics and the gateway's Set-Cookie headers
    └── Dispatcher
        ├── the gateway's own routes (Starlette): the reserved prefix and
        │   /.well-known/gpc.json
        └── the proxy (plain ASGI): HTTP and websockets to the upstream,
            with the consent's cookie filter both ways

Long-lived things live in one :class:`~gateway.services.Services` built before
the app and opened by its lifespan, never in module globals, so several apps
can live in one process (the tests and the demo rely on that).
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from gateway.admin.app import create_admin_app
from gateway.admin.local import LocalCommands
from gateway.analytics.beacon import Collect
from gateway.asgi import ASGIApp, Receive, Scope, Send
from gateway.banner.service import Banner
from gateway.client_ip import TrustedProxies
from gateway.clock import Clock, system_clock
from gateway.commands import Registry
from gateway.consent.api import ConsentApi
from gateway.errors import error_handlers
from gateway.exceptions import GatewayError
from gateway.front_door import FrontDoor
from gateway.ops.health import health_routes
from gateway.own_headers import OwnSecurityHeaders
from gateway.privacy.page import PrivacyPages
from gateway.proxy.http import HttpProxy
from gateway.proxy.websocket import WebSocketProxy
from gateway.ratelimit import RateLimitMiddleware
from gateway.reports.scheduler import ReportScheduler
from gateway.reports.unsubscribe import Unsubscribe
from gateway.services import Hook, Lifecycle, Services, build_services
from gateway.settings import Settings
from gateway.site_apps import Sites

logger = logging.getLogger("gateway")

GPC_WELL_KNOWN = "/.well-known/gpc.json"


def _own_routes(
    settings: Settings, services: Services, consent: ConsentApi, banner: Banner, collect: ASGIApp
) -> list[BaseRoute]:
    """The gateway's own routes under the reserved prefix; later features add theirs here."""
    return [
        *consent.routes(settings.prefix),
        Route(f"{settings.prefix}collect", collect, methods=["POST"]),
        *banner.routes(),
        *(health_routes(settings.prefix, services) if settings.public_health else []),
        *Unsubscribe(settings, services.clock).routes(services.storage),
    ]


def build_own_app(settings: Settings, routes: list[BaseRoute]) -> Starlette:
    """The Starlette app that serves the reserved prefix, with the one error shape."""
    return Starlette(routes=routes, exception_handlers=error_handlers(settings.prefix))


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


class GatewayApp:
    """The ASGI application uvicorn serves on the public listener.

    ``services`` are the process's long-lived parts (shared with the admin app);
    ``own_routes`` the routes under the reserved prefix; the lifespan runs
    ``startup`` in order and ``shutdown`` in reverse.
    """

    def __init__(
        self,
        services: Services,
        stack: ASGIApp,
        own_routes: list[BaseRoute],
        startup: list[Hook],
        shutdown: list[Hook],
    ):
        self.services = services
        self.settings = services.settings
        self.stack = stack
        self.own_routes = own_routes
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


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    services: Services | None = None,
    also: tuple[Lifecycle, ...] = (),
) -> GatewayApp:
    """Assemble the public gateway from ``settings``; ``clock`` is injectable for tests.

    ``services`` are built from the settings unless given (as ``serve`` does, to share
    them with the admin app); ``also`` are start-up and shutdown hooks of parts that
    need the services open first (the admin listener's local commands).
    """
    services = services or build_services(settings, clock)
    if settings.sites_file:
        return _create_sites_app(settings, services, clock, also)
    trusted = TrustedProxies(settings.trusted_proxies)
    consent, analytics = services.consent, services.analytics
    banner = Banner(settings, clock=clock, hosts=consent.inventory.hosts)
    privacy = PrivacyPages(settings, consent.api, analytics, banner.script_tag, consent.inventory)
    collect = Collect(analytics)
    own = build_own_app(
        settings,
        [*_own_routes(settings, services, consent.api, banner, collect), *privacy.routes()],
    )

    def own_middleware(inner: ASGIApp) -> ASGIApp:
        # Only the reserved prefix pays for rate limiting; the proxy never sees it.
        return OwnSecurityHeaders(RateLimitMiddleware(inner, services.rate_limits))

    dispatcher = Dispatcher(
        settings.prefix,
        own=own_middleware(own),
        http=HttpProxy(
            services.upstream,
            trusted,
            consent.enforcer,
            settings.max_body_bytes,
            observers=[analytics.recorder],
            page_rewriter=banner.injector,
            request_rewriter=banner.validators.translate if banner.injector else None,
        ),
        websocket=WebSocketProxy(services.upstream, trusted, consent.enforcer),
        direct={("POST", f"{settings.prefix}collect"): own_middleware(collect)},
    )
    stack = FrontDoor.from_settings(
        dispatcher,
        settings,
        trusted,
        consent.policy,
        services.request_metrics,
        dispatcher.is_own,
        clock,
    )

    async def open_privacy() -> None:
        await privacy.open(services.storage)

    return GatewayApp(
        services,
        stack,
        own.routes,
        startup=[*services.startup(), open_privacy, *(hooks.start for hooks in also)],
        shutdown=[*services.shutdown(), privacy.close, *(hooks.stop for hooks in also)],
    )


def _create_sites_app(
    settings: Settings, services: Services, clock: Clock, also: tuple[Lifecycle, ...]
) -> GatewayApp:
    """The public app of a gateway with a sites file: each site's app as above, over its
    own services, routed by Host (gateway/site_apps.py)."""

    def build(site: Services) -> tuple[ASGIApp, list[Hook], list[Hook]]:
        app = create_app(site.settings, clock=clock, services=site)
        return app.stack, app.startup, app.shutdown

    sites = Sites(settings, services, build)
    return GatewayApp(
        services,
        sites.router,
        [],
        # The shared services open their analytics only: consent and goals are the sites'.
        startup=[services.analytics.open, sites.open, *(hooks.start for hooks in also)],
        shutdown=[*services.shutdown(), sites.close, *(hooks.stop for hooks in also)],
    )


def create_gateway(
    settings: Settings,
    commands: Registry,
    *,
    clock: Clock = system_clock,
    metrics_dir: Path | None = None,
) -> tuple[GatewayApp, Starlette]:
    """The public app and the admin app over one set of services, as ``serve`` runs them.

    The public app's lifespan opens the services, then announces the admin
    listener's local-commands route (``commands``, the CLI's) to the CLI.
    """
    services = build_services(settings, clock, metrics_dir=metrics_dir)
    local = LocalCommands(settings, services, commands)
    admin = create_admin_app(settings, services, local, clock=clock)
    reports = ReportScheduler(settings, services.storage, clock)
    public = create_app(
        settings,
        clock=clock,
        services=services,
        also=(Lifecycle(local.start, local.stop), Lifecycle(reports.start, reports.stop)),
    )
    return public, admin
