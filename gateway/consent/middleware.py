"""Reads each visitor's consent once per request into ``context.consent``.

Runs after the session middleware and before everything that asks about
consent: the proxy's cookie filter, the page-view recorder, the beacon.
"""

from __future__ import annotations

from gateway.asgi import ASGIApp, Receive, Scope, Send
from gateway.consent.state import CONSENT_COOKIE, ConsentPolicy
from gateway.context import RequestContext


class ConsentMiddleware:
    """Resolve the visitor's consent from their cookie, GPC signal and country."""

    def __init__(self, app: ASGIApp, policy: ConsentPolicy, honour_dnt: bool) -> None:
        self.app = app
        self.policy = policy
        self.honour_dnt = honour_dnt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context: RequestContext | None = scope.get("gateway")
        if context is not None:
            gpc = False
            for key, value in scope["headers"]:
                # Sec-GPC: https://privacycg.github.io/gpc-spec/ ; DNT only when configured.
                if (
                    key == b"sec-gpc" or (key == b"dnt" and self.honour_dnt)
                ) and value.strip() == b"1":
                    gpc = True
                    break
            context.consent = self.policy.resolve(
                context.cookie(CONSENT_COOKIE), gpc, context.client_ip
            )
        await self.app(scope, receive, send)
