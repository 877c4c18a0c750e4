"""The one HTTP client to the upstream site, opened in the lifespan and shared.

A single aiohttp session keeps a pool of keep-alive connections, so a proxied
request usually costs no TCP handshake. It never decompresses (bodies pass
byte for byte), never follows redirects (the browser must see them), never adds
headers of its own, and never reads proxy settings from the environment.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from gateway.settings import Settings

# The headers aiohttp would otherwise invent when the visitor did not send them.
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class Upstream:
    """Where requests go, and the pooled client that takes them there."""

    def __init__(self, settings: Settings) -> None:
        parts = urlsplit(settings.upstream)
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        self.host_header = parts.netloc
        self.ws_base_url = ("wss" if parts.scheme == "https" else "ws") + self.base_url[
            len(parts.scheme) :
        ]
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
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
        if self._session is not None:
            await self._session.close()
            self._session = None
