"""The admin "Cookies" page: the cookie inventory, unknown names first.

It shows what ``consent-gateway cookies`` prints (the same action,
:func:`gateway.consent.commands.cookies`), after writing what the gateway has
counted in memory, with a suggested category for each unknown name and the
``CG_COOKIE_RULES`` value that would settle them all.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import requires
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.commands import Context
from gateway.consent.commands import cookies, lifetime_text
from gateway.settings import Settings


def cookies_routes(settings: Settings) -> list[BaseRoute]:
    """``/cookies``, for admins."""

    async def page(request: Request) -> Response:
        services = admin_of(request).services
        storage = services.storage

        def read() -> dict[str, object]:
            services.consent.inventory.flush()
            return cookies(Context(storage, settings), {})

        result = await storage.run(read)
        rows = result["cookies"]
        assert isinstance(rows, list)
        unknown = [row for row in rows if row["unknown"]]
        rules = ",".join(f"{row['name']}={row['suggested']}" for row in unknown)
        for row in rows:
            row["lifetime_text"] = lifetime_text(row["lifetime"])
        return render(request, "cookies.html", rows=rows, unknown=len(unknown), rules=rules)

    return [Route("/cookies", requires("admin")(page), methods=["GET"])]
