"""The admin application, assembled in one place from each feature's routes.

It listens on its own address (``CG_ADMIN_HOST``:``CG_ADMIN_PORT``, loopback by
default) in the same process and event loop as the public gateway, and shares
the public app's ``state``: the ClickHouse client, the event writer and the
GeoIP reader are opened once, by the public app's lifespan, and read from
``request.app.state`` here. Nothing under this app is reachable through the
public port, because the public app's dispatcher never routes to it.

Features add their routes in :func:`admin_routes`; each feature module keeps a
``routes(settings) -> list[BaseRoute]`` function so this file stays a table of
contents.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.admin.auth import Auth
from gateway.admin.front_door import AdminFrontDoor
from gateway.admin.headers import SecurityHeadersMiddleware
from gateway.admin.local import lifespan_hooks, local_routes
from gateway.admin.login import login_routes
from gateway.admin.pages import page_routes
from gateway.admin.people import people_routes, settings_routes
from gateway.admin.privacy_pages import privacy_routes
from gateway.admin.rendering import STATIC
from gateway.app import GatewayApp, error_handlers
from gateway.clock import Clock, system_clock
from gateway.ops.health import health_routes
from gateway.ops.metrics import metrics_endpoint
from gateway.settings import Settings
from gateway.stats.api import stats_routes


def admin_routes(settings: Settings) -> list[BaseRoute]:
    """Every route of the admin listener; later features add theirs here."""
    return [
        *local_routes(settings),
        *health_routes(settings.prefix),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *login_routes(),
        *page_routes(settings),
        *people_routes(),
        *privacy_routes(settings),
        *settings_routes(settings),
        *stats_routes(settings),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_admin_app(
    settings: Settings, public: GatewayApp, *, clock: Clock = system_clock
) -> Starlette:
    """The admin app for ``settings``, sharing ``public``'s long-lived state.

    It has no lifespan of its own: the public app opens and closes what both use,
    and both run under one ``serve_all`` call. ``clock`` drives the dashboard's
    idle logout and login throttling (tests move it instead of sleeping).
    """
    auth = Auth(settings, clock)
    app = Starlette(
        routes=admin_routes(settings),
        exception_handlers=error_handlers(),
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(AdminFrontDoor, trusted=auth.trusted),
        ],
    )
    app.state = public.state
    app.state.admin_auth = auth
    # admin.json (local commands) is written once the public lifespan has opened storage.
    start, stop = lifespan_hooks(settings, public.state)
    public.startup.append(start)
    public.shutdown.insert(0, stop)
    return app
