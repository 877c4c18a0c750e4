"""Every error the gateway raises on purpose, in one tree.

    GatewayError
    ├── SettingsError          a setting is missing or wrong; stops start-up
    ├── StorageError           ClickHouse could not be used
    │   ├── StorageUnavailable     the DSN cannot be reached or opened; stops start-up
    │   └── MigrationError         a schema migration file is wrong or failed
    ├── GeoFetchError          downloading or unpacking a geolocation database failed
    ├── BadStatsQuery          a statistics question (period, filter, metric...) is not valid (400)
    ├── JsonTooDeep            a JSON body nests arrays and objects too deep (400)
    ├── CookieHeaderTooLarge   a request's Cookie header is longer than the gateway reads (431)
    ├── CommandError           an admin command (user, token, erase...) cannot do what was asked
    ├── ReportError            an email report could not be sent (mail server refused or away)
    └── UpstreamError          the upstream site failed to answer a proxied request
        ├── UpstreamUnreachable    connection refused, reset or DNS failure (502)
        └── UpstreamTimeout        no answer within the configured timeout (504)

Messages are whole sentences that say what to do, because they are shown to the
operator at start-up or logged next to a request id.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of every error raised on purpose by the gateway."""


class SettingsError(GatewayError):
    """A setting is missing or has a value the gateway cannot use.

    Raised while loading settings, so that ``serve`` stops before it listens,
    never on the first request.
    """


class GeoFetchError(GatewayError):
    """``consent-gateway geo fetch`` could not download, unpack or check a database.

    The files already in place are left untouched, so a failed refresh never
    takes a working database away.
    """


class CommandError(GatewayError):
    """An admin command cannot do what was asked: no such account, a bad role, a weak password.

    Raised by the functions behind ``consent-gateway user`` and the other local
    commands, in-process or inside the running gateway; the CLI prints the
    message as it is and exits with status 1.
    """


class ReportError(GatewayError):
    """An email report could not be sent: the mail server is unreachable, offers no
    STARTTLS, refuses the login or a recipient. The message names the server, never
    the password.
    """


class BadStatsQuery(GatewayError):
    """A statistics question cannot be answered as asked: an unknown period,
    metric, property or filter, or a malformed date. The message names the
    parameter and what it accepts; the stats API answers it with a 400.
    """

    status_code = 400
    code = "bad_query"


class JsonTooDeep(GatewayError):
    """A JSON body nests arrays and objects deeper than the gateway reads.

    Raised by :func:`gateway.json_body.parse_json` before ``json.loads`` runs, so
    a hostile body never exhausts the parser's recursion; every endpoint that
    reads JSON answers it with a 400 in the one error shape.
    """

    status_code = 400
    code = "json_too_deep"


class CookieHeaderTooLarge(GatewayError):
    """A request's ``Cookie`` header is longer than the gateway parses.

    Raised at the front door before any cookie is read, so a visitor cannot make
    one request cost the gateway thousands of classifications and deletions;
    answered with a 431 in the one error shape.
    """

    status_code = 431
    code = "cookie_too_large"


class StorageError(GatewayError):
    """ClickHouse could not be used for what the gateway asked of it."""


class StorageUnavailable(StorageError):
    """The ClickHouse named by ``CG_CLICKHOUSE_DSN`` cannot be reached or opened.

    Raised at start-up (so ``serve`` stops with the DSN in the message) and by
    the event writer, which then spools its batch instead of losing it.
    """


class MigrationError(StorageError):
    """A schema migration file is malformed, or applying it failed."""


class UpstreamError(GatewayError):
    """The upstream site did not give a usable answer."""

    status_code = 502
    code = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    """The upstream refused, reset or never accepted the connection."""

    status_code = 502
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    """The upstream accepted the connection but did not answer in time."""

    status_code = 504
    code = "upstream_timeout"
