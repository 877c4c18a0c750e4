"""The admin application, assembled in one place from each feature's routes.

It listens on its own address (``CG_ADMIN_HOST``:``CG_ADMIN_PORT``, loopback by
default) in the public gateway's process, over the same
:class:`~gateway.services.Services`, which handlers reach through
:func:`gateway.admin.services.admin_of`. Nothing here is reachable through the
public port. Features add their routes in :func:`admin_routes`, so this file
stays a table of contents.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.admin.auth import Auth
from gateway.admin.cookies_page import cookies_routes
from gateway.admin.front_door import AdminFrontDoor
from gateway.admin.headers import SecurityHeadersMiddleware
from gateway.admin.local import LocalCommands
from gateway.admin.login import login_routes
from gateway.admin.marketing import goal_routes
from gateway.admin.pages import page_routes
from gateway.admin.people import people_routes, settings_routes
from gateway.admin.privacy_pages import privacy_routes
from gateway.admin.rendering import STATIC
from gateway.admin.reports_page import reports_routes
from gateway.admin.services import Admin
from gateway.admin.trust import trust_routes
from gateway.clock import Clock, system_clock
from gateway.errors import API_PREFIX, error_handlers
from gateway.ops.health import health_routes
from gateway.ops.metrics import metrics_endpoint
from gateway.services import Services
from gateway.settings import Settings
from gateway.stats.api import stats_routes


def admin_routes(settings: Settings, services: Services, local: LocalCommands) -> list[BaseRoute]:
    """Every route of the admin listener; later features add theirs here."""
    return [
        *local.routes(),
        *health_routes(settings.prefix, services),
        Route("/metrics", metrics_endpoint(services), methods=["GET"]),
        *login_routes(),
        *page_routes(settings),
        *goal_routes(settings),
        *reports_routes(settings),
        *trust_routes(settings),
        *people_routes(),
        *privacy_routes(settings),
        *cookies_routes(settings),
        *settings_routes(settings),
        *stats_routes(settings, services.storage),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_admin_app(
    settings: Settings,
    services: Services,
    local: LocalCommands,
    *,
    clock: Clock = system_clock,
) -> Starlette:
    """The admin app for ``settings``, over the public app's ``services``.

    It has no lifespan of its own: the public app opens and closes the services,
    and ``local``'s announcement with them (:func:`gateway.app.create_gateway`
    wires both). ``clock`` drives the dashboard's idle logout and login
    throttling (tests move it instead of sleeping).
    """
    auth = Auth(settings, clock)
    return Starlette(
        routes=admin_routes(settings, services, local),
        exception_handlers=error_handlers(settings.prefix, API_PREFIX),
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(AdminFrontDoor, trusted=auth.trusted, admin=Admin(services, auth)),
        ],
    )
