"""Which site a gateway serves, as its rows in ClickHouse name it."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.settings import Settings


def site_id(settings: Settings) -> str:
    """The ``site`` column: ``CG_SITE_ID``, else the upstream's host name, else "default"."""
    return settings.site_id or urlsplit(settings.upstream).hostname or "default"
