"""Websockets, relayed both ways between the visitor and the upstream.

The gateway opens its own websocket to the upstream first, with the visitor's
headers less the hop-by-hop ones and the gateway's cookies, and only then
accepts the visitor with the subprotocol the upstream chose. If the upstream
refuses, the visitor's handshake is refused too (HTTP 403 from uvicorn), so a
page never sees a socket that leads nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from yarl import URL

from gateway.asgi import Receive, Scope, Send
from gateway.client_ip import TrustedProxies
from gateway.consent.enforcement import CookieEnforcer
from gateway.context import RequestContext
from gateway.errors import new_request_id
from gateway.proxy.headers import upstream_request_headers
from gateway.proxy.upstream import Upstream

logger = logging.getLogger("gateway.proxy")

# Headers the websocket client makes itself for the upstream handshake.
_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)

# RFC 6455 close codes: 1011 unexpected condition, 1014 bad gateway.
_BAD_GATEWAY = 1014


class WebSocketProxy:
    """ASGI app that relays one websocket to the upstream."""

    def __init__(self, upstream: Upstream, trusted: TrustedProxies, enforcer: CookieEnforcer):
        self.upstream = upstream
        self.trusted = trusted
        self.enforcer = enforcer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context: RequestContext = scope["gateway"]
        peer = scope["client"][0] if scope.get("client") else ""
        headers = upstream_request_headers(
            [(k, v) for k, v in scope["headers"] if k not in _HANDSHAKE],
            context,
            peer,
            self.trusted.is_trusted(peer),
            self.upstream.host_header,
            self.enforcer.upstream_cookies(context),
        )
        headers.append(("X-Consent", self.enforcer.consent_header(context)))
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        url = URL(self.upstream.ws_base_url + target + ("?" + query if query else ""), encoded=True)

        message = await receive()
        if message["type"] != "websocket.connect":
            return
        try:
            upstream_ws = await self.upstream.session.ws_connect(
                url,
                headers=headers,
                protocols=tuple(scope.get("subprotocols", ())),
                autoping=True,
                max_msg_size=0,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning(
                "upstream websocket refused request_id=%s path=%s error=%s",
                new_request_id(),
                scope["path"],
                type(error).__name__,
            )
            await send({"type": "websocket.close", "code": _BAD_GATEWAY})
            return

        async with upstream_ws:
            await send({"type": "websocket.accept", "subprotocol": upstream_ws.protocol})
            to_upstream = asyncio.create_task(_visitor_to_upstream(receive, upstream_ws))
            to_visitor = asyncio.create_task(_upstream_to_visitor(upstream_ws, send))
            done, pending = await asyncio.wait(
                (to_upstream, to_visitor), return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for task in done:
                if task.exception() is not None:
                    logger.info("websocket relay ended: %s", type(task.exception()).__name__)


async def _visitor_to_upstream(
    receive: Receive, upstream_ws: aiohttp.ClientWebSocketResponse
) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await upstream_ws.close(code=message.get("code", 1000))
            return
        if message.get("bytes") is not None:
            await upstream_ws.send_bytes(message["bytes"])
        elif message.get("text") is not None:
            await upstream_ws.send_str(message["text"])


async def _upstream_to_visitor(upstream_ws: aiohttp.ClientWebSocketResponse, send: Send) -> None:
    async for message in upstream_ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": message.data})
        elif message.type == aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": message.data})
        elif message.type == aiohttp.WSMsgType.ERROR:
            break
    code = upstream_ws.close_code or 1000
    # 1005/1006 are reserved and must not be sent in a close frame (RFC 6455 section 7.4.1).
    await send({"type": "websocket.close", "code": 1000 if code in (1005, 1006) else code})
