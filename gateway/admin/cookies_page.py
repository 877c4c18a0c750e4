"""The admin "Cookies" page: the cookie inventory, unknown names first, and the
third-party hosts browsers reported pages contacting before consent; one site at a
time (``?site=``) where the gateway serves several.

It shows what ``consent-gateway cookies`` prints (the same action,
:func:`gateway.consent.commands.cookies`), after writing what the gateway has
counted in memory, with a suggested category for each unknown name and the
``CG_COOKIE_RULES`` value that would settle them all.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import requires
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.commands import Context
from gateway.consent.commands import cookies, lifetime_text
from gateway.settings import Settings
from gateway.sites import site_ids


def cookies_routes(settings: Settings) -> list[BaseRoute]:
    """``/cookies``, for admins."""

    async def page(request: Request) -> Response:
        services = admin_of(request).services
        storage = services.storage
        served = site_ids(settings)
        site = request.query_params.get("site") or served[0]
        if site not in served:
            return render(request, "cookies.html", status_code=404, sites=served, missing=site)

        def read() -> dict[str, Any]:
            for each in (services, *services.sites.values()):
                each.consent.inventory.flush()
            return cookies(Context(storage, settings), {"site": site})

        result = await storage.run(read)
        rows = result["cookies"]
        unknown = [row for row in rows if row["unknown"]]
        rules = ",".join(f"{row['name']}={row['suggested']}" for row in unknown)
        for row in rows:
            row["lifetime_text"] = lifetime_text(row["lifetime"])
        hosts = result["third_party_hosts"]
        unknown_hosts = ",".join(f"{h['host']}=marketing" for h in hosts if h["unknown"])
        return render(
            request,
            "cookies.html",
            rows=rows,
            unknown=len(unknown),
            rules=rules,
            hosts=hosts,
            host_rules=unknown_hosts,
            sites=served,
            site=site,
        )

    return [Route("/cookies", requires("admin")(page), methods=["GET"])]
