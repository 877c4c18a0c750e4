"""Where proxied requests go, and how the gateway reaches it.

HTTP requests go through the gateway's own keep-alive pool
(``gateway/proxy/pool.py``); websockets through the ``websockets`` library's
client (``gateway/proxy/websocket.py``); the readiness probe through a
connection of its own. All three reach the one configured origin, verify its
certificate with the same TLS context, and read no proxy setting from the
environment.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from gateway.proxy.pool import ConnectionPool
from gateway.proxy.request import encode_head
from gateway.settings import Settings


def _ascii_netloc(netloc: str, hostname: str, port: int | None) -> str:
    """``netloc``, or for an international host name its ASCII (IDNA) form, which is
    what the ``Host`` header must carry (RFC 9110 section 7.2)."""
    if netloc.isascii():
        return netloc
    host = hostname.encode("idna").decode("ascii")
    return f"{host}:{port}" if port is not None else host


class Upstream:
    """The upstream's address, its TLS context and the connection pool to it.

    ``ssl_context`` replaces the default verifying one for an https upstream
    (tests trust their own CA); the pool, the websockets and the probe share it.
    """

    def __init__(self, settings: Settings, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(settings.upstream)
        secure = parts.scheme == "https"
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        # Prefixed to every request's path: an upstream at https://host/app gets /app/...
        self.base_path = parts.path.rstrip("/")
        self.host_header = _ascii_netloc(parts.netloc, parts.hostname or "", parts.port)
        # The Host every request carries (CG_UPSTREAM_HOST); empty passes the visitor's on.
        self.fixed_host = settings.upstream_host
        self.origin = f"{parts.scheme}://{self.host_header}"
        self.ws_scheme = "wss" if secure else "ws"
        # The name the upstream's certificate is checked against, whatever the Host says.
        self.tls_name = _ascii_netloc(parts.hostname or "", parts.hostname or "", None)
        self.connect_timeout = settings.connect_timeout
        self.read_timeout = settings.read_timeout
        self.ssl_context = (ssl_context or ssl.create_default_context()) if secure else None
        self.pool = ConnectionPool(
            self.origin,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            ssl_context=self.ssl_context,
        )

    @property
    def address(self) -> tuple[str, int]:
        """The host and port every connection to the upstream goes to."""
        return self.pool.host, self.pool.port

    async def probe(self) -> int:
        """The status the upstream answers ``HEAD /`` (under its base path) with.

        On a connection of its own, closed after: a health check must not take a
        pooled connection from visitors, nor leave one behind on its event loop.
        Raises :class:`gateway.exceptions.UpstreamError` when there is no answer;
        the caller bounds the whole with its own deadline.
        """
        pool = ConnectionPool(
            self.origin, self.connect_timeout, self.read_timeout, ssl_context=self.ssl_context
        )
        head = encode_head(
            "HEAD", self.base_path + "/", [("Host", self.fixed_host or self.host_header)]
        )
        response = await pool.request("HEAD", head, None)
        response.close()
        return response.status

    async def close(self) -> None:
        """Close the idle pooled connections (websockets close with their visitors)."""
        self.pool.close()
