"""The admin listener's front door: what ``gateway/front_door.py`` is to the public one.

It reads each request's context (client address, scheme, host, cookies)
through ``CG_TRUSTED_PROXIES``, since uvicorn's own proxy headers are off: behind
an HTTPS proxy the admin cookie is then ``Secure`` and ``__Host-`` prefixed, and
it is read by the gateway's own-cookie rules (:mod:`gateway.own_cookies`). The
deletions those rules ask for go out first, before any cookie the answer sets.
Every answer carries a ``Date`` (RFC 9110 section 6.6.1).
"""

from __future__ import annotations

from gateway.admin.services import SCOPE_KEY, Admin
from gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.caching import DateHeader, with_date
from gateway.client_ip import TrustedProxies
from gateway.context import read_context
from gateway.errors import send_error
from gateway.exceptions import CookieHeaderTooLarge


class AdminFrontDoor:
    """ASGI middleware: the listener's :class:`Admin` and the request's context in the
    scope (``admin_of``, ``scope["gateway"]``), cookie deletions out."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies, admin: Admin) -> None:
        self.app = app
        self.trusted = trusted
        self.admin = admin
        self.date = DateHeader()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = self.admin
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deletions: list[tuple[bytes, bytes]] = []

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*deletions, *message.get("headers", ())]
                message["headers"] = with_date(headers, self.date)
            await send(message)

        try:
            context = scope["gateway"] = read_context(scope, self.trusted)
        except CookieHeaderTooLarge as error:
            await send_error(send_out, 431, error.code, str(error), request_id=None, as_json=False)
            return
        deletions.extend((b"set-cookie", value) for value in context.response_cookies)
        await self.app(scope, receive, send_out)
