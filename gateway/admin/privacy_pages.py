"""Admin-only privacy pages: visitor requests (export, erase) and the retention report.

The "Visitor requests" page calls the very same local commands as
``consent-gateway export`` and ``erase`` (:mod:`gateway.privacy.commands`), so the
work and its audit entries are one piece of code; the page adds only the admin
as actor. Erasing asks for confirmation, showing how many rows it will delete,
and every POST carries the session's CSRF token. The "Retention" page renders
the report of ``consent-gateway retention``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import requires
from gateway.admin.local import gateway_context
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.commands import Context
from gateway.exceptions import CommandError, StorageError
from gateway.privacy import commands, store
from gateway.settings import Settings

ACTIONS = ("export", "confirm", "erase")


def privacy_routes(settings: Settings) -> list[BaseRoute]:
    """``/privacy`` (visitor requests) and ``/retention``, for admins only."""

    def page(request: Request, status: int = 200, **context: Any) -> Response:
        context.setdefault("consent_id", "")
        return render(request, "visitor_requests.html", status_code=status, **context)

    async def requests_get(request: Request) -> Response:
        return page(request)

    async def requests_post(request: Request) -> Response:
        auth = admin_of(request).auth
        storage = admin_of(request).storage
        form = await request.form()
        given = str(form.get("consent_id", ""))[:200]
        if not auth.form_is_genuine(request, request.state.session, str(form.get("csrf", ""))):
            return page(request, 403, error="The form had expired; try again.")
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            return page(request, 400, error=f"Unknown action {action[:40]!r}.")
        payload = {"actor": request.state.user.email, "ip": auth.client_ip(request)}
        try:
            consent_id, counts = await storage.run(lambda: store.known_consent_id(storage, given))
            payload |= {"consent_id": consent_id, "format": "json"}
            if action == "export":
                here = Context(storage, settings)
                result = await storage.run(lambda: commands.export(here, payload))
                return Response(
                    result["content"],
                    media_type="application/json; charset=utf-8",
                    headers={
                        "Content-Disposition": f'attachment; filename="visitor-{consent_id}.json"'
                    },
                )
            if action == "confirm":
                return page(request, consent_id=consent_id, confirm=counts)
            context = gateway_context(admin_of(request).services, settings)
            erased = await storage.run(lambda: commands.erase(context, payload))
        except (CommandError, StorageError) as failure:
            return page(request, 400, consent_id=given, error=str(failure))
        rows = ", ".join(f"{table} {count}" for table, count in erased["deleted"].items())
        return page(
            request,
            message=f"Erased the visitor with consent id {consent_id} (rows deleted: {rows}). "
            f"Logged as consent log entry seq {erased['logged']['seq']}.",
            deleted=erased["deleted"],
        )

    async def retention_page(request: Request) -> Response:
        storage = admin_of(request).storage
        report = await storage.run(lambda: commands.retention(Context(storage, settings), {}))
        return render(request, "retention.html", report=report)

    admin = requires("admin")
    return [
        Route("/privacy", admin(requests_get), methods=["GET"]),
        Route("/privacy", admin(requests_post), methods=["POST"]),
        Route("/retention", admin(retention_page), methods=["GET"]),
    ]
