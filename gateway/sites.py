"""Which sites a gateway serves, as their rows in ClickHouse name them."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from gateway.exceptions import SettingsError
from gateway.settings import Settings
from gateway.sites_file import load_sites, read_site_ids

# The ids of each sites file read, by path, size and modification time: asked per
# request by the admin side, read again only when the file changes (a SIGHUP reload).
_READ: dict[tuple[str, int, int], tuple[str, ...]] = {}
_LAST: dict[str, tuple[str, ...]] = {}


def site_id(settings: Settings) -> str:
    """The ``site`` column: ``CG_SITE_ID``, else the sites file's first site, else the
    upstream's host name, else "default"."""
    if settings.site_id:
        return settings.site_id
    if settings.sites_file:
        return site_ids(settings)[0]
    return urlsplit(settings.upstream).hostname or "default"


def site_ids(settings: Settings) -> tuple[str, ...]:
    """Every site this deployment serves, in the order the operator listed them.

    The sites file's ids, or one site (:func:`site_id`) without one; roles, tokens
    and the trust view ask this, never the events table, which site ids exist.
    """
    if not settings.sites_file:
        return (site_id(settings),)
    path = settings.sites_file
    try:
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = (path, -1, -1)
    ids = _READ.get(key)
    if ids is None:
        try:
            ids = read_site_ids(path) or ("default",)
        except SettingsError:
            # A file broken after start-up: the gateway keeps serving the sites it
            # loaded (the SIGHUP reload refuses it), so the ids stay those too.
            return _LAST.get(path, ("default",))
        if len(_READ) > 16:
            _READ.clear()
        _READ[key] = _LAST[path] = ids
    return ids


def site_settings(settings: Settings, site: str = "") -> Settings:
    """The settings one site runs with: its sites file table over the deployment's, or
    the deployment's own without a sites file. ``site`` empty means the first site;
    a site the deployment does not serve raises :class:`SettingsError` naming them."""
    if not settings.sites_file:
        if site and site != site_id(settings):
            raise SettingsError(
                f"This gateway serves one site, {site_id(settings)!r}, not {site!r}; leave "
                "--site out or name that one."
            )
        return settings
    sites = load_sites(settings)
    for each in sites:
        if each.id == site or not site:
            return each.settings
    raise SettingsError(
        f"The sites file lists no site {site!r}; name one of {', '.join(s.id for s in sites)}."
    )
