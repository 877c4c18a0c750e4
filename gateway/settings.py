"""The only module that reads the environment.

Every setting is declared once in ``FIELDS``: its ``CG_`` name, its default, how
to parse it and a sentence for the documentation. Values come, strongest first,
from explicit overrides (command-line flags), the process environment, a
``.env`` file, a TOML file named by ``CG_CONFIG_FILE`` and finally the default.
A missing or unusable value raises :class:`SettingsError` with a sentence that
names the variable and the fix, so ``serve`` stops before it listens.

Secrets are wrapped in :class:`starlette.datastructures.Secret` so that they
never show up in a ``repr`` or a log line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.config import Config
from starlette.datastructures import Secret

from gateway.banner.options import (
    DEFAULT_CONSENT_MODE,
    parse_banner_texts,
    parse_consent_mode,
    parse_path_patterns,
)
from gateway.exceptions import SettingsError
from gateway.ratelimit import Rate

PREFIX = "CG_"
MIN_SECRET_BYTES = 32

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"{name} must be an http:// or https:// URL such as http://127.0.0.1:8000, "
            f"not {raw!r}; set it to the address of the site the gateway protects."
        )
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not carry a query or fragment; remove it from {raw!r}.")
    return raw.rstrip("/")


def _parse_keys(name: str, raw: str) -> tuple[Secret, ...]:
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if not keys:
        raise SettingsError(
            f"{name} is empty; set it to a random string of at least {MIN_SECRET_BYTES} "
            "bytes, for example the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    for position, key in enumerate(keys, start=1):
        if len(key.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"{name}: key number {position} is {len(key.encode())} bytes long; every key must "
                f"have at least {MIN_SECRET_BYTES} bytes. Generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
    return tuple(Secret(key) for key in keys)


def _parse_int(minimum: int, maximum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {raw!r}.") from None
        if not minimum <= value <= maximum:
            raise SettingsError(
                f"{name} must be between {minimum} and {maximum}, not {value}; change it."
            )
        return value

    return parse


def _parse_seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not 0 < value <= 3600:
        raise SettingsError(f"{name} must be more than 0 and at most 3600 seconds, not {raw}.")
    return value


def _parse_networks(name: str, raw: str) -> tuple[IPNetwork, ...]:
    networks = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"{name} must be a comma-separated list of IP addresses or CIDR networks "
                f"(such as 127.0.0.1,10.0.0.0/8); {item.strip()!r} is neither."
            ) from None
    return tuple(networks)


def _parse_prefix(name: str, raw: str) -> str:
    if not (raw.startswith("/") and raw.endswith("/") and len(raw) > 2) or "//" in raw:
        raise SettingsError(
            f"{name} must be a path that starts and ends with a slash, such as /_consent/, "
            f"not {raw!r}."
        )
    return raw


def _parse_text(name: str, raw: str) -> str:
    return raw


# CNIL: a consent choice is kept at most 13 months.
MAX_CONSENT_DAYS = 395
REGIMES = ("opt-in", "opt-out", "none")
_CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _parse_revision(name: str, raw: str) -> str:
    if not raw or len(raw) > 32 or not all(c.isalnum() or c in "._-" for c in raw):
        raise SettingsError(
            f"{name} must be 1 to 32 letters, digits, dots, dashes or underscores "
            f"(such as 3 or 2026-11), not {raw!r}."
        )
    return raw


def _parse_categories(name: str, raw: str) -> tuple[str, ...]:
    categories = tuple(item.strip() for item in raw.split(",") if item.strip())
    for category in categories:
        if not _CATEGORY_NAME.match(category) or category == "necessary":
            raise SettingsError(
                f"{name}: {category!r} is not a usable category name; use lower-case words "
                "such as analytics (and leave out necessary, which is always on)."
            )
    if len(set(categories)) != len(categories):
        raise SettingsError(f"{name} names a category twice: {raw!r}.")
    return categories


def _parse_cookie_rules(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    rules = []
    for item in raw.split(","):
        if not item.strip():
            continue
        pattern, sep, category = item.strip().partition("=")
        if not sep or not pattern.strip() or not category.strip():
            raise SettingsError(
                f"{name} must be comma-separated name=category pairs such as "
                f"_myapp_*=analytics; {item.strip()!r} is not one."
            )
        rules.append((pattern.strip(), category.strip()))
    return tuple(rules)


def _parse_regimes(name: str, raw: str) -> dict[str, str]:
    regimes: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        country, _, regime = item.strip().partition("=")
        country, regime = country.strip().upper(), regime.strip().lower()
        if len(country) != 2 or not country.isalpha() or regime not in REGIMES:
            raise SettingsError(
                f"{name} must be comma-separated COUNTRY=regime pairs with a two-letter country "
                f"code and one of {', '.join(REGIMES)} (such as US=opt-out); "
                f"{item.strip()!r} is not one."
            )
        regimes[country] = regime
    return regimes


def _parse_clickhouse_dsn(name: str, raw: str) -> str:
    if raw and not raw.startswith(("chdb://", "http://", "https://")):
        raise SettingsError(
            f"{name} must start with chdb://, http:// or https://, not {raw!r}; leave it empty "
            "for the embedded ClickHouse in the data folder."
        )
    return raw


def _parse_rate(name: str, raw: str) -> Rate | None:
    try:
        return Rate.parse(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def _parse_one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
        return value

    return parse


def _parse_switch(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise SettingsError(f"{name} must be on or off (or true or false), not {raw!r}.")


@dataclass(frozen=True)
class Field:
    """One setting: where it comes from, how it is parsed and what it means."""

    attribute: str
    parse: Callable[[str, str], Any]
    default: str | None
    doc: str

    @property
    def env_name(self) -> str:
        return PREFIX + self.attribute.upper()


FIELDS: tuple[Field, ...] = (
    Field(
        "upstream",
        _parse_url,
        None,
        "The site the gateway protects, as an http(s) URL: every request outside the "
        "reserved prefix is forwarded there, and nowhere else.",
    ),
    Field(
        "secret_key",
        _parse_keys,
        None,
        "One or more keys of at least 32 bytes, comma separated, newest first. Cookies are "
        "signed with the first and accepted when signed with any, so keys can be rotated.",
    ),
    Field("host", _parse_text, "0.0.0.0", "The address the public listener binds to."),
    Field("port", _parse_int(1, 65535), "8080", "The port of the public listener."),
    Field(
        "admin_host",
        _parse_text,
        "127.0.0.1",
        "The address the admin listener (dashboard, stats API, health, metrics) binds to. "
        "Keep it on loopback or a private network: it is never reachable through the "
        "public port.",
    ),
    Field("admin_port", _parse_int(1, 65535), "8081", "The port of the admin listener."),
    Field(
        "workers",
        _parse_int(1, 64),
        "1",
        "Gateway processes sharing the public and admin ports (`serve --workers` overrides "
        "it). More than 1 needs a ClickHouse server in CG_CLICKHOUSE_DSN: the embedded engine's "
        "folder can be opened by one process only.",
    ),
    Field(
        "public_health",
        _parse_switch,
        "off",
        "on or off. When on, <prefix>healthz and <prefix>readyz also answer on the public "
        "listener, for a load balancer that only reaches the public port; they always answer "
        "on the admin listener.",
    ),
    Field(
        "log_format",
        _parse_one_of("text", "json"),
        "text",
        "text or json: one readable line, or one JSON object, per log record, each with the "
        "request id. Either way, IPs are truncated and cookie values redacted.",
    ),
    Field(
        "trusted_proxies",
        _parse_networks,
        "",
        "Comma-separated IPs or CIDR networks of proxies in front of the gateway (a load "
        "balancer, nginx). Only from these peers are X-Forwarded-For and X-Forwarded-Proto "
        "believed; empty trusts no one.",
    ),
    Field(
        "prefix",
        _parse_prefix,
        "/_consent/",
        "The path prefix the gateway keeps for its own routes (banner, consent API, beacon, "
        "privacy page); requests under it never reach the upstream.",
    ),
    Field(
        "connect_timeout",
        _parse_seconds,
        "5",
        "Seconds to wait for a connection to the upstream before answering 502.",
    ),
    Field(
        "read_timeout",
        _parse_seconds,
        "60",
        "Seconds to wait for each read from the upstream before answering 504.",
    ),
    Field(
        "max_body_bytes",
        _parse_int(0, 1 << 40),
        str(100 * 1024 * 1024),
        "The largest request body accepted, in bytes; a larger one is answered 413.",
    ),
    Field(
        "max_header_bytes",
        _parse_int(1024, 1024 * 1024),
        "32768",
        "The largest request line plus headers accepted, in bytes; more is answered 431. "
        "Leave room for the site's own cookies.",
    ),
    Field(
        "max_headers",
        _parse_int(10, 1000),
        "100",
        "The most header lines a request may carry; more is answered 431.",
    ),
    Field(
        "header_timeout",
        _parse_seconds,
        "15",
        "Seconds a client has to send a request's headers, counted from the connection or "
        "from the first byte of the request; past it, 408 and the connection closes. This is "
        "what stops slowloris clients that trickle bytes to hold connections open.",
    ),
    Field(
        "body_timeout",
        _parse_seconds,
        "60",
        "Seconds a client may pause in the middle of sending a request body before the "
        "gateway gives up on it (408, or a cut connection once the answer has started).",
    ),
    Field(
        "max_connections",
        _parse_int(1, 1_000_000),
        "2048",
        "The most client connections the public listener serves at once; past it, new "
        "requests are answered 503 (uvicorn's limit_concurrency). Keep it under the "
        "process's open-file limit.",
    ),
    Field(
        "session_idle_minutes",
        _parse_int(1, 24 * 60),
        "30",
        "Minutes of inactivity after which the essential session cookie expires.",
    ),
    Field(
        "data_dir",
        _parse_text,
        "./data",
        "The folder for local state: the embedded ClickHouse data and the event spool.",
    ),
    Field(
        "clickhouse_dsn",
        _parse_clickhouse_dsn,
        "",
        "Where analytics go: empty for the embedded engine in <data_dir>/clickhouse, "
        "chdb:///absolute/path?database=name for another embedded folder, or "
        "http(s)://user:password@host:8123/database for a ClickHouse server.",
    ),
    Field(
        "clickhouse_cluster",
        _parse_text,
        "",
        "The name of a ClickHouse cluster: when set, migrations run ON CLUSTER with "
        "Replicated engines and Distributed tables; empty means a single node.",
    ),
    Field(
        "flush_interval",
        _parse_seconds,
        "1",
        "Seconds between writes of queued analytics events to ClickHouse.",
    ),
    Field(
        "flush_batch_size",
        _parse_int(1, 1_000_000),
        "5000",
        "Queued analytics events that trigger a write before the flush interval is up.",
    ),
    Field(
        "queue_max_events",
        _parse_int(1, 10_000_000),
        "50000",
        "The most analytics events held in memory; past it, events go to the spool file, "
        "so memory stays bounded however long ClickHouse is away.",
    ),
    Field(
        "spool_dir",
        _parse_text,
        "",
        "The folder of the append-only spool that keeps events while ClickHouse is down; "
        "empty means <data_dir>/spool.",
    ),
    Field(
        "beacon_max_bytes",
        _parse_int(256, 1024 * 1024),
        "16384",
        "The largest body, in bytes, that the analytics beacon POST /_consent/collect accepts.",
    ),
    Field(
        "beacon_max_events",
        _parse_int(1, 1000),
        "50",
        "The most events one beacon request may carry.",
    ),
    Field(
        "rate_limit_consent",
        _parse_rate,
        "600/minute",
        "Requests per client network (its /24 or /48) to the consent API /_consent/state, "
        "as count/second, count/minute or count/hour, with bursts up to the count; more are "
        "answered 429 with Retry-After. `off` disables it. Generous by default because a "
        "school or office puts many visitors behind one address.",
    ),
    Field(
        "rate_limit_beacon",
        _parse_rate,
        "1200/minute",
        "Requests per client network to the analytics beacon POST /_consent/collect, in the "
        "same form as CG_RATE_LIMIT_CONSENT; `off` disables it.",
    ),
    Field(
        "site_id",
        _parse_text,
        "",
        "The name analytics rows carry in their site column; empty means the upstream's host name.",
    ),
    Field(
        "geolocation",
        _parse_switch,
        "on",
        "on or off. When on, page views carry the country, region and city of the truncated "
        "IP, and start-up stops if the database in CG_GEOIP_DB is missing; when off, no "
        "database is needed and the location columns stay empty.",
    ),
    Field(
        "geoip_db",
        _parse_text,
        "",
        "A MaxMind-format .mmdb file (GeoLite2/GeoIP2 City or Country, or one DB-IP file), or "
        "a folder holding the DB-IP IPv4 and IPv6 files or MaxMind files as geoipupdate names "
        "them. Empty means `<CG_DATA_DIR>/geo`, where `consent-gateway geo fetch` puts the free "
        "DB-IP database. A file replaced on disk is picked up within seconds.",
    ),
    Field(
        "policy_revision",
        _parse_revision,
        "1",
        "The revision of your privacy policy. Raise it when the policy changes: every choice "
        "made under an older revision counts as no choice, and the banner shows again.",
    ),
    Field(
        "consent_categories",
        _parse_categories,
        "preferences,analytics,marketing",
        "The consent categories besides `necessary` (always on), comma separated.",
    ),
    Field(
        "consent_lifetime_days",
        _parse_int(1, MAX_CONSENT_DAYS),
        "183",
        "Days a consent choice is kept before the banner asks again: six months by default "
        "(CNIL's recommendation); more than 13 months (395 days) is refused.",
    ),
    Field(
        "consent_log_days",
        _parse_int(0, 3650),
        "0",
        "Days each entry of the consent log (the proof of every consent choice) is kept. "
        "0, the default, means the consent lifetime plus 31 days: the proof outlives the "
        "cookie it proves by a month, for questions that come after. Less than "
        "CG_CONSENT_LIFETIME_DAYS is refused.",
    ),
    Field(
        "analytics_retention_days",
        _parse_int(0, 3650),
        "0",
        "Days analytics rows (events and sessions) are kept. 0, the default, means one month, "
        "the promise the schema makes; 1 to 28 shortens it (the gateway sets the tables' TTL "
        "at start-up). More than 28 lengthens it beyond a month and is refused unless "
        "CG_ANALYTICS_RETENTION_OVERRIDE gives the reason (see docs/privacy.md).",
    ),
    Field(
        "analytics_retention_override",
        _parse_text,
        "",
        "The explicit override that lets CG_ANALYTICS_RETENTION_DAYS exceed one month: the "
        "reason, in words (for example a legal hold), which the retention report and the "
        "generated privacy notice then show. Empty, the default, allows no lengthening.",
    ),
    Field(
        "cookie_rules",
        _parse_cookie_rules,
        "",
        "Your own cookie classification, comma-separated `name=category` pairs; a name may end "
        "in `*` to match a prefix (`_myapp_*=analytics`). Checked before the built-in list.",
    ),
    Field(
        "cookie_default_category",
        _parse_text,
        "marketing",
        "The category of a cookie no rule knows. `marketing` (the strictest) unless you say "
        "otherwise; `necessary` lets unknown cookies through without consent.",
    ),
    Field(
        "gpc_denies_analytics",
        _parse_switch,
        "false",
        "Whether a `Sec-GPC: 1` signal also denies `analytics` (it always denies `marketing`) "
        "until the visitor explicitly opts in.",
    ),
    Field(
        "consent_regimes",
        _parse_regimes,
        "",
        "Where the law asks for what, as comma-separated `COUNTRY=regime` pairs with regimes "
        "`opt-in`, `opt-out` or `none` (for example `US=opt-out`). Every country not listed, "
        "and any unknown one, is `opt-in`: the strictest.",
    ),
    Field(
        "honour_dnt",
        _parse_switch,
        "false",
        "Whether `DNT: 1` counts like a GPC signal. Off by default: Do Not Track has no legal "
        "standing and was sent by default by some browsers, so it says little about the "
        "visitor's own wish; GPC does, and is always honoured.",
    ),
    Field(
        "banner",
        _parse_switch,
        "on",
        "on or off. When on, the gateway adds the consent banner's stylesheet and script at the "
        "start of every HTML page's <head> (see static/consent-banner/README.md); off when the "
        "site embeds /_consent/banner.js itself.",
    ),
    Field(
        "banner_policy_url",
        _parse_text,
        "",
        "The address of your privacy policy, linked from the banner; empty links the "
        "visitor's privacy page under the reserved prefix.",
    ),
    Field(
        "banner_exclude",
        parse_path_patterns,
        "",
        "Comma-separated path patterns of pages that never get the banner, `*` matching "
        "anything (such as `/admin/*,/embed/*`).",
    ),
    Field(
        "banner_texts",
        parse_banner_texts,
        "",
        "The banner's texts, replacing or adding to the built-in English, French, German, "
        "Spanish and Welsh: a JSON object of languages, or the path of a JSON file, such as "
        '`{"en": {"title": "Your privacy"}}`. The keys are listed in the banner\'s README.',
    ),
    Field(
        "banner_consent_mode",
        parse_consent_mode,
        DEFAULT_CONSENT_MODE,
        "Which consent category grants each Google Consent Mode signal, as comma-separated "
        "`signal=category` pairs. Every listed signal starts `denied` before any tag runs.",
    ),
    Field(
        "banner_max_html_bytes",
        _parse_int(64 * 1024, 256 * 1024 * 1024),
        str(8 * 1024 * 1024),
        "The largest HTML page, in bytes (compressed as sent, and once decompressed), that gets "
        "the banner; a larger one passes unchanged, streamed.",
    ),
    Field(
        "stats_min_visitors",
        _parse_int(1, 1_000_000),
        "5",
        "The k of k-anonymity in the dashboard and the stats API: a breakdown row (a page, a "
        "city, a browser...) counting fewer visitors than this is folded into `other`, so no "
        "row describes one identifiable person.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration, parsed and checked once at start-up."""

    upstream: str
    secret_key: tuple[Secret, ...] = field(repr=False)
    host: str
    port: int
    admin_host: str
    admin_port: int
    workers: int
    public_health: bool
    log_format: str
    trusted_proxies: tuple[IPNetwork, ...]
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
    rate_limit_consent: Rate | None
    rate_limit_beacon: Rate | None
    site_id: str
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
    gpc_denies_analytics: bool
    consent_regimes: dict[str, str] = field(hash=False)
    honour_dnt: bool
    banner: bool
    banner_policy_url: str
    banner_exclude: tuple[str, ...]
    banner_texts: dict[str, dict[str, str]] = field(hash=False)
    banner_consent_mode: dict[str, str] = field(hash=False)
    banner_max_html_bytes: int
    stats_min_visitors: int

    @property
    def secret_keys(self) -> list[str]:
        """The keys as plain strings, newest first."""
        return [str(key) for key in self.secret_key]

    @property
    def consent_log_retention_days(self) -> int:
        """Days a consent log entry is kept: CG_CONSENT_LOG_DAYS, or the lifetime + 31."""
        return self.consent_log_days or self.consent_lifetime_days + 31


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
) -> Settings:
    """Build :class:`Settings` from overrides, environment, ``.env``, TOML and defaults.

    ``overrides`` maps attribute names (``"upstream"``) to values given on the
    command line; ``None`` values are ignored so that absent flags fall through.
    """
    read = _reader(environ, env_file)
    given = {k: str(v) for k, v in (overrides or {}).items() if v is not None}
    values = {
        item.attribute: _parse(item, given.get(item.attribute) or read(item)) for item in FIELDS
    }
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})


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
