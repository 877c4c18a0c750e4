"""The only module that reads the environment.

Every setting is declared once in ``FIELDS`` (``settings_fields.py``, with the
parsers in ``settings_parsers.py``): its ``CG_`` name, its default, how to parse
it and a sentence for the documentation. Values come, strongest first,
from explicit overrides (command-line flags), the process environment, a
``.env`` file, a TOML file named by ``CG_CONFIG_FILE`` and finally the default.
A missing or unusable value raises :class:`SettingsError` with a sentence that
names the variable and the fix, so ``serve`` stops before it listens.

Secrets are wrapped in :class:`starlette.datastructures.Secret` so that they
never show up in a ``repr`` or a log line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.config import Config
from starlette.datastructures import Secret

from gateway.exceptions import SettingsError
from gateway.iptools import IPNetwork
from gateway.settings_analytics import Goal
from gateway.settings_fields import FIELDS
from gateway.settings_parsers import PREFIX, Field, Rate
from gateway.settings_reports import SmtpServer

__all__ = ["FIELDS", "PREFIX", "Field", "IPNetwork", "Settings", "load_fields", "load_settings"]


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration, parsed and checked once at start-up.

    One attribute per entry of ``FIELDS``, in its order and typed as its parser
    returns (``tests/test_settings.py`` fails when they part).
    """

    upstream: str
    upstream_host: str
    secret_key: tuple[Secret, ...] = field(repr=False)
    host: str
    port: int
    admin_host: str
    admin_port: int
    workers: int
    background_nice: int
    public_health: bool
    log_format: str
    trusted_proxies: tuple[IPNetwork, ...]
    allowed_hosts: tuple[str, ...]
    prefix: str
    connect_timeout: float
    read_timeout: float
    max_body_bytes: int
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    max_connections: int
    session_idle_minutes: int
    data_dir: str
    clickhouse_dsn: str
    clickhouse_cluster: str
    flush_interval: float
    flush_batch_size: int
    queue_max_events: int
    spool_dir: str
    beacon_max_bytes: int
    beacon_max_events: int
    download_types: frozenset[str]
    outbound_links: bool
    goals: tuple[Goal, ...]
    rate_limit_consent: Rate | None
    rate_limit_beacon: Rate | None
    site_id: str
    sites_file: str
    geolocation: bool
    geoip_db: str
    policy_revision: str
    consent_categories: tuple[str, ...]
    consent_lifetime_days: int
    consent_log_days: int
    analytics_retention_days: int
    analytics_retention_override: str
    cookie_rules: tuple[tuple[str, str], ...]
    cookie_default_category: str
    third_party_rules: tuple[tuple[str, str], ...]
    gpc_denies_analytics: bool
    consent_regimes: dict[str, str] = field(hash=False)
    honour_dnt: bool
    banner: bool
    banner_policy_url: str
    banner_exclude: tuple[str, ...]
    banner_texts: dict[str, dict[str, str]] = field(hash=False)
    banner_consent_mode: dict[str, str] = field(hash=False)
    banner_max_html_bytes: int
    csp_enforce: bool
    stats_min_visitors: int
    smtp_url: SmtpServer | None
    smtp_ca_file: str
    report_from: str
    report_url: str
    report_hour: int

    @property
    def secret_keys(self) -> list[str]:
        """The keys as plain strings, newest first."""
        return [str(key) for key in self.secret_key]

    @property
    def consent_log_retention_days(self) -> int:
        """Days a consent log entry is kept: CG_CONSENT_LOG_DAYS, or the lifetime + 31."""
        return self.consent_log_days or self.consent_lifetime_days + 31


# CG_UPSTREAM with a sites file: the deployment has no one upstream, its sites do.
SITES_FILE_UPSTREAM = "http://sites-file.invalid"
_SITES_FILE = next(item for item in FIELDS if item.attribute == "sites_file")


def _read_toml(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(
            f"CG_CONFIG_FILE names {path!r}, which does not exist; fix the path or unset it."
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"CG_CONFIG_FILE {path!r} is not valid TOML: {error}.") from None
    table = data.get("gateway", data)
    return {PREFIX + str(key).upper(): _toml_value(value) for key, value in table.items()}


def _toml_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _reader(
    environ: Mapping[str, str] | None, env_file: str | Path | None
) -> Callable[[Field], str | None]:
    """Where raw values come from: the environment, then ``.env``, then TOML, then default."""
    environ = dict(os.environ if environ is None else environ)
    env_path = Path(env_file) if env_file else None
    # Our own mapping rather than os.environ, so tests build settings without
    # touching the process environment.
    config = Config(env_file=env_path if env_path and env_path.is_file() else None, environ=environ)
    toml_path = environ.get("CG_CONFIG_FILE") or config.get("CG_CONFIG_FILE", default=None)
    toml_values = _read_toml(toml_path) if toml_path else {}

    def read(item: Field) -> str | None:
        value: str | None = config.get(
            item.env_name, default=toml_values.get(item.env_name, item.default)
        )
        return value

    return read


def _parse(item: Field, raw: str | None) -> Any:
    if raw is None:
        raise SettingsError(f"{item.env_name} is not set. {item.doc}")
    return item.parse(item.env_name, str(raw).strip())


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
    overrides: Mapping[str, object] | None = None,
    fallbacks: Mapping[str, object] | None = None,
) -> Settings:
    """Build :class:`Settings` from overrides, environment, ``.env``, TOML and defaults.

    ``overrides`` maps attribute names (``"upstream"``) to values given on the
    command line; ``None`` values are ignored so that absent flags fall through.
    ``fallbacks`` (same keys) stand in for settings that are set nowhere and have
    no default, for commands that never use them.
    """
    read = _reader(environ, env_file)
    given = {k: str(v) for k, v in (overrides or {}).items() if v is not None}
    spare = {k: str(v) for k, v in (fallbacks or {}).items()}
    if given.get("sites_file") or read(_SITES_FILE):
        spare["upstream"] = SITES_FILE_UPSTREAM  # each site names its own

    def raw(item: Field) -> str | None:
        value = given.get(item.attribute) or read(item)
        return spare.get(item.attribute) if value is None else value

    return Settings(**{item.attribute: _parse(item, raw(item)) for item in FIELDS})


def load_fields(
    attributes: Sequence[str],
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> dict[str, Any]:
    """Only the named settings, parsed, for commands that need a few of them.

    ``consent-gateway geo`` needs where the database lives but not the upstream
    or the secret key that ``serve`` cannot start without, so it must not fail
    for their absence.
    """
    read = _reader(environ, env_file)
    return {
        item.attribute: _parse(item, read(item)) for item in FIELDS if item.attribute in attributes
    }
