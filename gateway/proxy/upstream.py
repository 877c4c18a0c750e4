"""Where proxied requests go, and the clients that take them there, opened in the lifespan.

Plain HTTP requests go through the gateway's own keep-alive pool
(``gateway/proxy/pool.py``): one origin, bytes passed through exactly, about a
third of aiohttp's CPU per request (see ``bench/bare_forwarder.py``).
Websockets keep an aiohttp session, which does the upgrade and the framing;
it never decompresses, never follows redirects, never invents headers and
never reads proxy settings from the environment.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from gateway.proxy.pool import ConnectionPool
from gateway.settings import Settings

# The headers aiohttp would otherwise invent when the visitor did not send them.
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def _ascii_netloc(netloc: str, hostname: str, port: int | None) -> str:
    """``netloc``, or for an international host name its ASCII (IDNA) form, which is
    what the ``Host`` header must carry (RFC 9110 section 7.2)."""
    if netloc.isascii():
        return netloc
    host = hostname.encode("idna").decode("ascii")
    return f"{host}:{port}" if port is not None else host


class Upstream:
    """The upstream's address, its connection pool and the websocket client."""

    def __init__(self, settings: Settings) -> None:
        parts = urlsplit(settings.upstream)
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        # Prefixed to every request's path: an upstream at https://host/app gets /app/...
        self.base_path = parts.path.rstrip("/")
        self.host_header = _ascii_netloc(parts.netloc, parts.hostname or "", parts.port)
        self.ws_base_url = ("wss" if parts.scheme == "https" else "ws") + self.base_url[
            len(parts.scheme) :
        ]
        self.pool = ConnectionPool(
            f"{parts.scheme}://{parts.netloc}",
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        )
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session for websockets."""
        if self._session is None:
            raise RuntimeError("The upstream client is used before the app's lifespan opened it.")
        return self._session

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    async def close(self) -> None:
        self.pool.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
