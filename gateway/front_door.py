"""The one layer every request of the public listener passes, before it is dispatched.

It does in order, once per request: bind the request for its log lines and
error pages, refuse control characters in header values, read the request's
context (client address, scheme, host, cookies), attach the session, attach
the visitor's consent, then hand the request to the dispatcher; on the way out
it counts the response and puts the gateway's ``Set-Cookie`` headers on it.

These used to be four nested middlewares. Each layer of an ASGI stack costs a
coroutine per request and, for those that watch the response, a wrapper around
every ``send``; on the proxy's hot path one layer with plain steps does the
same work for less, and reads top to bottom in the order it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.client_ip import TrustedProxies
from gateway.clock import Clock, system_clock
from gateway.consent.reader import ConsentReader
from gateway.consent.state import ConsentPolicy
from gateway.context import RequestContext, has_forbidden_controls, read_context
from gateway.errors import send_error
from gateway.ops.metrics import RequestMetrics
from gateway.ops.request_id import bind_request
from gateway.session import Sessions
from gateway.settings import Settings


class FrontDoor:
    """ASGI middleware: context, session and consent in, metrics and cookies out."""

    def __init__(
        self,
        app: ASGIApp,
        trusted: TrustedProxies,
        sessions: Sessions,
        consent: ConsentReader,
        metrics: RequestMetrics,
        is_own: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.trusted = trusted
        self.sessions = sessions
        self.consent = consent
        self.metrics = metrics
        self.is_own = is_own

    @classmethod
    def from_settings(
        cls,
        app: ASGIApp,
        settings: Settings,
        trusted: TrustedProxies,
        policy: ConsentPolicy,
        metrics: RequestMetrics,
        is_own: Callable[[str], bool],
        clock: Clock = system_clock,
    ) -> FrontDoor:
        """The front door as ``settings`` configure it (the app and its benchmark share it)."""
        return cls(
            app,
            trusted,
            Sessions(settings.secret_keys, settings.session_idle_minutes * 60, clock=clock),
            ConsentReader(policy, settings.honour_dnt),
            metrics,
            is_own,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            if has_forbidden_controls(scope["headers"]):
                await send({"type": "websocket.close", "code": 1008})
                return
            scope["gateway"] = self._context(scope)
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _context(self, scope: Scope) -> RequestContext:
        context = read_context(scope, self.trusted)
        self.sessions.attach(context)
        self.consent.attach(context, scope["headers"])
        return context

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        bind_request(scope)
        own = self.is_own(scope["path"])
        metrics = self.metrics
        start = perf_counter()
        context: RequestContext | None = None

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics.count(own, message["status"], perf_counter() - start)
                if context is not None and context.response_cookies:
                    headers = list(message.get("headers", ()))
                    headers.extend((b"set-cookie", value) for value in context.response_cookies)
                    message["headers"] = headers
            await send(message)

        metrics.in_flight += 1
        try:
            if has_forbidden_controls(scope["headers"]):
                await send_error(
                    send_out,
                    400,
                    "bad_header",
                    "A request header holds a control character, which HTTP forbids.",
                    request_id=None,
                    as_json=True,
                )
                return
            context = scope["gateway"] = self._context(scope)
            await self.app(scope, receive, send_out)
        finally:
            metrics.in_flight -= 1
