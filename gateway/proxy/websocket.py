"""Websockets, relayed both ways between the visitor and the upstream.

The gateway opens its own websocket to the upstream first, with the ``websockets``
library's client and the headers :class:`RequestTranslator` gives HTTP requests
too, and only then accepts the visitor with the subprotocol the upstream chose.
If the upstream refuses or cannot be reached, the visitor's handshake is refused
(HTTP 403 from uvicorn), so a page never sees a socket that leads nowhere.
Messages pass as they are, of any size: no compression is negotiated upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from gateway.asgi import Receive, Scope, Send
from gateway.client_ip import TrustedProxies
from gateway.consent.enforcement import CookieEnforcer
from gateway.context import RequestContext
from gateway.errors import new_request_id
from gateway.proxy.headers import RequestTranslator
from gateway.proxy.upstream import Upstream

logger = logging.getLogger("gateway.proxy")

# RFC 6455 section 7.4.1: 1014 bad gateway, for an upstream that cannot be reached.
_BAD_GATEWAY = 1014
# Seconds between pings to the upstream, and for its pong: a vanished upstream is
# noticed, and its visitor told, within a minute.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0


class _OneOrigin(connect):
    """The ``websockets`` client, except that it never follows a redirect: the
    configured upstream is the only place the gateway connects to."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def _sendable(code: int | None) -> int:
    """``code`` if a close frame may carry it, else 1000 (normal): 1005 and 1006 only
    report that no code or no close frame came (RFC 6455 section 7.4.1)."""
    if code is not None and (
        (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999
    ):
        return code
    return 1000


class WebSocketProxy:
    """ASGI app that relays one websocket to the upstream."""

    def __init__(self, upstream: Upstream, trusted: TrustedProxies, enforcer: CookieEnforcer):
        self.upstream = upstream
        self.translate = RequestTranslator(
            upstream.fixed_host,
            upstream.host_header,
            upstream.base_path,
            trusted,
            enforcer,
            websocket=True,
        ).translate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context: RequestContext = scope["gateway"]
        target, headers = self.translate(scope, context)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            upstream_ws = await self._connect(target, headers, scope.get("subprotocols", ()))
        except (WebSocketException, OSError, TimeoutError, ValueError) as error:
            logger.warning(
                "upstream websocket refused request_id=%s path=%s error=%s",
                new_request_id(),
                scope["path"],
                type(error).__name__,
            )
            await send({"type": "websocket.close", "code": _BAD_GATEWAY})
            return
        async with upstream_ws:
            try:
                await send({"type": "websocket.accept", "subprotocol": upstream_ws.subprotocol})
            except OSError:  # the visitor left while the upstream answered
                return
            await _relay(receive, send, upstream_ws)

    async def _connect(
        self, target: str, headers: list[tuple[str, str]], subprotocols: list[str]
    ) -> ClientConnection:
        """The upstream's websocket; the handshake, TLS included, within the connect and
        read timeouts together. Raises what ``websockets`` raises for a refusal."""
        upstream = self.upstream
        host, port = upstream.address
        secure = upstream.ssl_context is not None
        return await _OneOrigin(
            # Host comes first, and the client writes it from the URI; the connection goes
            # to the upstream's address (host, port) and checks its certificate's name.
            f"{upstream.ws_scheme}://{headers[0][1]}{target}",
            additional_headers=headers[1:],
            # None, not an empty list, which would send an empty Sec-WebSocket-Protocol.
            subprotocols=[Subprotocol(protocol) for protocol in subprotocols] or None,
            user_agent_header=None,  # only the visitor's
            compression=None,
            proxy=None,
            open_timeout=upstream.connect_timeout + upstream.read_timeout,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            max_size=None,
            ssl=upstream.ssl_context,
            server_hostname=upstream.tls_name if secure else None,
            host=host,
            port=port,
        )


async def _relay(receive: Receive, send: Send, upstream_ws: ClientConnection) -> None:
    """Messages both ways until one side closes; then the other side is closed too."""
    visitor_left = asyncio.Event()
    pump = asyncio.create_task(_visitor_to_upstream(receive, upstream_ws, visitor_left))
    try:
        await _upstream_to_visitor(upstream_ws, send)
        if not visitor_left.is_set():
            with contextlib.suppress(OSError):  # the visitor left meanwhile
                code = _sendable(upstream_ws.close_code)
                await send({"type": "websocket.close", "code": code})
    finally:
        pump.cancel()
        try:
            await pump
        except asyncio.CancelledError:
            pass
        except Exception as error:
            logger.info("websocket relay ended: %s", type(error).__name__)


async def _visitor_to_upstream(
    receive: Receive, upstream_ws: ClientConnection, visitor_left: asyncio.Event
) -> None:
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                visitor_left.set()
                await upstream_ws.close(_sendable(message.get("code")))
                return
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
            if data is not None:
                await upstream_ws.send(data)
    except ConnectionClosed:
        return  # the upstream left: the other direction tells the visitor


async def _upstream_to_visitor(upstream_ws: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream_ws:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        return  # closed abnormally: close_code says 1006
    except OSError:
        return  # the visitor left: its side of the relay closes the upstream
