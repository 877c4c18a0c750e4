"""The sites file (``CG_SITES_FILE``): the sites one gateway serves, each with its own settings.

A TOML file with one table per site, named by its id::

    [sites.primary]
    hosts = ["primary.example", "www.primary.example"]
    upstream = "http://10.0.0.5:8000"
    cookie_rules = "_shop_*=marketing"

A site's other keys override the deployment's settings of the same name (the ``CG_``
variable in lower case), parsed by that setting's own parser. Only the settings that
shape what a visitor of the site gets may differ per site (:data:`PER_SITE`); the others
are refused with a sentence. Each site signs its cookies with keys derived from
``CG_SECRET_KEY`` and its id, so a cookie copied from one site's host to another's is
a forgery there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import tomllib
from dataclasses import dataclass, replace
from typing import Any

from starlette.datastructures import Secret

from gateway.exceptions import SettingsError
from gateway.hosts import host_name
from gateway.settings import SITES_FILE_UPSTREAM, Settings
from gateway.settings_fields import FIELDS
from gateway.settings_parsers import parse_url

# The settings a site may set for itself: what its visitors see and are asked.
PER_SITE = frozenset(
    {
        "upstream_host",
        "policy_revision",
        "consent_categories",
        "cookie_rules",
        "cookie_default_category",
        "third_party_rules",
        "gpc_denies_analytics",
        "consent_regimes",
        "honour_dnt",
        "banner",
        "banner_policy_url",
        "banner_exclude",
        "banner_texts",
        "banner_consent_mode",
        "csp_enforce",
        "goals",
        "download_types",
        "outbound_links",
        "rate_limit_consent",
        "rate_limit_beacon",
    }
)
_FIELDS = {item.attribute: item for item in FIELDS}
_SITE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class Site:
    """One site of a sites file: its id, the host names it answers and its settings."""

    id: str
    hosts: tuple[str, ...]
    settings: Settings


def load_sites(settings: Settings) -> tuple[Site, ...]:
    """The sites of ``CG_SITES_FILE`` in the file's order, checked; raises
    :class:`SettingsError` naming the file, the site, the key and the fix."""
    path = settings.sites_file
    data = _read(path)
    tables = data.get("sites")
    for key in data:
        if key != "sites":
            raise SettingsError(
                f"CG_SITES_FILE {path!r} has [{key}], which is no part of a sites file; write "
                "each site as a [sites.<id>] table."
            )
    if not isinstance(tables, dict) or not tables:
        raise SettingsError(
            f"CG_SITES_FILE {path!r} lists no sites; add one table per site, such as "
            '[sites.primary] with hosts = ["primary.example"] and upstream = "http://10.0.0.5:8000".'
        )
    if settings.allowed_hosts:
        raise SettingsError(
            "CG_ALLOWED_HOSTS is set together with CG_SITES_FILE; unset it: with a sites file "
            "each site's hosts are the names the gateway answers."
        )
    if settings.upstream != SITES_FILE_UPSTREAM:
        raise SettingsError(
            "CG_UPSTREAM is set together with CG_SITES_FILE; unset it: with a sites file each "
            "site names its own upstream."
        )
    if settings.site_id:
        raise SettingsError(
            "CG_SITE_ID is set together with CG_SITES_FILE; unset it: with a sites file each "
            "site's id is the name of its table."
        )
    sites: list[Site] = []
    owner: dict[str, str] = {}
    for site_id, table in tables.items():
        site = _site(path, str(site_id), table, settings)
        for host in site.hosts:
            if host in owner:
                raise SettingsError(
                    f"{path}: [sites.{site.id}] hosts lists {host!r}, which [sites.{owner[host]}] "
                    "lists too; a host name belongs to one site, remove it from one of them."
                )
            owner[host] = site.id
        sites.append(site)
    return tuple(sites)


def read_site_ids(path: str) -> tuple[str, ...]:
    """The site ids a sites file lists, in order, without checking the rest of it."""
    tables = _read(path).get("sites")
    return tuple(str(key) for key in tables) if isinstance(tables, dict) else ()


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise SettingsError(
            f"CG_SITES_FILE names {path!r}, which cannot be read ({error.strerror}); "
            "fix the path or unset it."
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(
            f"CG_SITES_FILE {path!r} is not valid TOML ({error}); fix that line."
        ) from None


def _site(path: str, site_id: str, table: object, base: Settings) -> Site:
    where = f"{path}: [sites.{site_id}]"
    if not _SITE_ID.fullmatch(site_id):
        raise SettingsError(
            f"{where}: a site id is lower-case letters, digits, '-' and '_' (at most 63), "
            "such as primary or st-marys; rename the table."
        )
    if not isinstance(table, dict):
        raise SettingsError(f"{where} must be a table with hosts and upstream; write it so.")
    values = dict(table)
    hosts = _hosts(where, values.pop("hosts", None))
    raw_upstream = values.pop("upstream", None)
    if not isinstance(raw_upstream, str):
        raise SettingsError(
            f'{where} has no upstream; add upstream = "http://10.0.0.5:8000", the site\'s address.'
        )
    overrides: dict[str, Any] = {"upstream": parse_url(f"{where} upstream", raw_upstream.strip())}
    for key, value in values.items():
        overrides[key] = _override(where, str(key), value)
    return Site(
        site_id,
        hosts,
        replace(
            base,
            **overrides,
            site_id=site_id,
            sites_file="",
            allowed_hosts=hosts,
            secret_key=site_keys(base, site_id),
        ),
    )


def _hosts(where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SettingsError(
            f'{where} has no hosts; add hosts = ["school.example", "www.school.example"], '
            "the names visitors use for the site."
        )
    hosts: list[str] = []
    for item in value:
        name = host_name(item) if isinstance(item, str) else None
        if name is None or name != item.lower().rstrip(".") or not name:
            raise SettingsError(
                f"{where} hosts: {item!r} is not a host name; write names without scheme, "
                'port or path, such as "www.school.example".'
            )
        hosts.append(name)
    return tuple(hosts)


def _override(where: str, key: str, value: object) -> Any:
    item = _FIELDS.get(key)
    if item is None:
        raise SettingsError(
            f"{where} has the key {key!r}, which is no setting; use hosts, upstream or one of "
            f"{', '.join(sorted(PER_SITE))}."
        )
    if key not in PER_SITE:
        raise SettingsError(
            f"{where} sets {key!r}, which is one for the whole gateway, not per site; set "
            f"{item.env_name} in the environment instead, or use one of "
            f"{', '.join(sorted(PER_SITE))}."
        )
    return item.parse(f"{where} {key}", _text(key, value).strip())


def _text(key: str, value: object) -> str:
    """A TOML value as the text its environment variable would hold: a list joined as
    the variable separates items, a table as JSON for the banner's texts and as
    ``name=value`` pairs for the rule settings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        if key == "banner_texts":
            return json.dumps(value)
        return ",".join(f"{name}={_text(key, item)}" for name, item in value.items())
    if isinstance(value, list):
        return (";" if key == "goals" else ",").join(_text(key, item) for item in value)
    return str(value)


def site_keys(settings: Settings, site_id: str) -> tuple[Secret, ...]:
    """``CG_SECRET_KEY``'s keys, each bound to one site by HMAC: every cookie, CSRF token
    and signature a site makes is worthless on another, and rotation still works."""
    return tuple(
        Secret(hmac.new(key.encode(), b"cg.site:" + site_id.encode(), hashlib.sha256).hexdigest())
        for key in settings.secret_keys
    )
