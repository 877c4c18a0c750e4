"""The one layer every request of the public listener passes, before it is dispatched.

It does in order, once per request: bind the request for its log lines and
error pages; refuse control characters in header values and a ``Host`` the
site is not served under (``CG_ALLOWED_HOSTS``); read the request's context
(client address, scheme, host, cookies; 431 for a Cookie header too long to
parse); attach the session and the visitor's consent; hand the request to the
dispatcher. On the way out it counts the response, puts the gateway's
``Set-Cookie`` headers on it unless a shared cache may store it
(``gateway/caching.py``), and a ``Date`` if it has none. One layer with plain
steps rather than nested middlewares, because it sits on the proxy's hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.caching import DateHeader, shared_cacheable, with_date
from gateway.client_ip import TrustedProxies
from gateway.clock import Clock, system_clock
from gateway.consent.reader import ConsentReader
from gateway.consent.state import ConsentPolicy
from gateway.context import RequestContext, has_forbidden_controls, read_context
from gateway.errors import refuse_websocket, send_error
from gateway.exceptions import CookieHeaderTooLarge
from gateway.hosts import AllowedHosts, Refusal, request_host, to_origin_form
from gateway.ops.metrics import RequestMetrics
from gateway.request_id import bind_request
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
        hosts: AllowedHosts,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.trusted = trusted
        self.sessions = sessions
        self.consent = consent
        self.metrics = metrics
        self.is_own = is_own
        self.date = DateHeader()

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
            AllowedHosts(settings.allowed_hosts),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Refusal | None:
        """Why a request is refused before anything reads it, or ``None``."""
        headers = scope["headers"]
        if has_forbidden_controls(headers):
            return Refusal(
                400, "bad_header", "A request header holds a control character, which HTTP forbids."
            )
        host = request_host(headers)
        if host is None:
            return Refusal(400, "bad_host", "A request may carry one Host header only.")
        if not self.hosts.allows(host):
            return Refusal(
                400, "host_not_allowed", "The Host header does not name a site this gateway serves."
            )
        return None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) or to_origin_form(scope)
        if refusal is None:
            try:
                scope["gateway"] = self._context(scope)
            except CookieHeaderTooLarge as error:
                refusal = Refusal(431, error.code, str(error))
        if refusal is not None:
            await refuse_websocket(scope, send, *refusal)
            return
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
        date = self.date
        start = perf_counter()
        context: RequestContext | None = None

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                metrics.count(own, message["status"], perf_counter() - start)
                headers = message.get("headers", ())
                # Never on what a shared cache may store and replay to everyone: the
                # session, consent and deletions wait for the visitor's next page.
                if (
                    context is not None
                    and context.response_cookies
                    and not shared_cacheable(scope["method"], scope["path"], headers)
                ):
                    headers = list(headers)
                    headers.extend((b"set-cookie", value) for value in context.response_cookies)
                message["headers"] = with_date(headers, date)
            await send(message)

        metrics.in_flight += 1
        try:
            refusal = self._refusal(scope)
            if refusal is None:
                try:
                    context = scope["gateway"] = self._context(scope)
                except CookieHeaderTooLarge as error:
                    refusal = Refusal(431, error.code, str(error))
            if refusal is not None:
                status, code, message = refusal
                await send_error(send_out, status, code, message, request_id=None, as_json=True)
                return
            await self.app(scope, receive, send_out)
        finally:
            metrics.in_flight -= 1
