"""The admin listener's side of the CLI's commands: the route that runs their actions.

While a gateway owns the embedded ClickHouse, the CLI sends an action to it
(:func:`gateway.commands.run_command`) instead of opening the data folder. At
start-up a gateway on the embedded engine announces itself in
``<data_dir>/admin.json`` with a random token, and removes the file at
shutdown; ``POST /_local/commands/{name}`` then runs the action ``name`` of the
registry this app was given, for peers on this machine that show the token.
"""

from __future__ import annotations

import secrets
from functools import partial
from hmac import compare_digest

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.commands import ROUTE, Context, Registry, announce, withdraw
from gateway.errors import error_response
from gateway.exceptions import CommandError, StorageError
from gateway.json_body import parse_json
from gateway.privacy.erasure import settle_analytics
from gateway.services import Services
from gateway.settings import Settings

MAX_PAYLOAD_BYTES = 64 * 1024


def settle_writers(services: Services) -> None:
    """Write what the consent log and the analytics writer hold (before an erasure, so its
    entry follows the visitor's newest choice and no queued event lands after it)."""
    for part in (services, *services.sites.values()):  # each site's, with a sites file
        part.consent.log.flush()
        part.consent.inventory.flush()
        part.analytics.recorder.flush()
    settle_analytics(services.analytics)


def gateway_context(services: Services, settings: Settings) -> Context:
    """The context of an action run inside the gateway: its storage and its writers."""
    return Context(services.storage, settings, partial(settle_writers, services))


def _from_this_machine(request: Request) -> bool:
    """Loopback, or a connection from this host to its own address."""
    peer = request.client.host if request.client else ""
    server = request.scope.get("server") or ("", 0)
    return peer in ("127.0.0.1", "::1", "::ffff:127.0.0.1") or (bool(peer) and peer == server[0])


class LocalCommands:
    """The route that runs ``commands``' actions for the CLI, and the announcement that
    leads the CLI to it: ``start`` writes ``admin.json`` once the services are open
    (only the embedded engine needs it; with a server DSN the CLI connects itself),
    ``stop`` removes it."""

    def __init__(self, settings: Settings, services: Services, commands: Registry) -> None:
        self.settings = settings
        self.services = services
        self.commands = commands
        self.token: str | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route(ROUTE + "{name}", self.endpoint, methods=["POST"])]

    async def start(self) -> None:
        self.token = secrets.token_urlsafe(32)
        if self.services.storage.embedded:
            self.token = announce(self.settings)

    async def stop(self) -> None:
        if self.services.storage.embedded and self.token is not None:
            withdraw(self.settings, self.token)

    async def endpoint(self, request: Request) -> Response:
        token = self.token
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not _from_this_machine(request) or not token or not compare_digest(given, token):
            return error_response(403, "forbidden", "Local commands come from this machine only.")
        body = await request.body()
        try:
            payload = parse_json(body) if len(body) <= MAX_PAYLOAD_BYTES else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return error_response(400, "bad_payload", "The payload must be a JSON object.")
        context = gateway_context(self.services, self.settings)
        try:
            action = self.commands.action(request.path_params["name"])
            result = await context.storage.run(lambda: action.run(context, payload))
        except (CommandError, StorageError) as error:
            return error_response(400, "command_failed", str(error))
        return JSONResponse(result)
