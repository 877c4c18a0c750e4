"""Which site a gateway serves, as its rows in ClickHouse name it."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.settings import Settings


def site_id(settings: Settings) -> str:
    """The ``site`` column: ``CG_SITE_ID``, else the upstream's host name, else "default"."""
    return settings.site_id or urlsplit(settings.upstream).hostname or "default"


def site_ids(settings: Settings) -> tuple[str, ...]:
    """Every site this deployment serves, in the order the operator listed them.

    One site (:func:`site_id`) until a sites file lists several; roles, tokens and
    the trust view ask this, never the events table, which site ids exist.
    """
    return (site_id(settings),)
