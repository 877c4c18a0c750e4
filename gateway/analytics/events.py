"""One analytics event, from the moment it is seen to the bytes the writer queues.

An :class:`Event` lives for one request only: the ingest steps fill it in, and
:func:`encode` turns it into one ``JSONCompactEachRow`` line, which is all the
writer keeps. Queued events are bytes, never dicts or objects, so a long queue
gives the garbage collector nothing to walk.

The helpers here derive the stored columns from what the browser sent: only
``utm_*`` query parameters are kept, an external ``Referer`` becomes a host and
a path, and a same-origin one becomes the previous path in the session (so
navigation needs no server-side state).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from gateway.analytics.useragent import UNKNOWN_AGENT, UserAgentInfo
from gateway.context import ConsentView, RequestContext
from gateway.hosts import host_name

COLUMNS: tuple[str, ...] = (
    "time",
    "site",
    "kind",
    "session_id",
    "visitor_key",
    "path",
    "query",
    "title",
    "referrer_host",
    "referrer_path",
    "prev_path",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "ip",
    "country",
    "region",
    "city",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device",
    "status",
    "engagement_ms",
    "name",
    "props",
    "region_code",
    "city_id",
    "hostname",
)
"""The ``events`` columns the writer fills, in the order :func:`encode` writes them.

New columns go at the end: a line written before them (in the spool or the journal
during an upgrade) still inserts, its missing columns left at their defaults."""

MAX_PATH = 2048
MAX_TITLE = 512
UTM_PREFIX = "utm_"


class Kind(StrEnum):
    """What happened: the ``kind`` column's Enum8 values."""

    PAGEVIEW = "pageview"
    ENGAGEMENT = "engagement"
    CUSTOM = "custom"


@dataclass(slots=True)
class Event:
    """An event on its way through the ingest steps; discarded once encoded.

    ``ip`` holds the client address only until the first step truncates it.
    """

    kind: Kind
    time: float  # Unix seconds, from the gateway's clock, never the browser's
    site: str
    session: str | None  # the essential session cookie's id; hashed before storage
    consent: ConsentView
    ip: str
    user_agent: str
    host: str  # the public host the visitor used, to tell same-origin referrers
    path: str
    query: str = ""
    title: str = ""
    referrer: str = ""
    status: int = 200
    engagement_ms: int = 0
    name: str = ""
    props: dict[str, str] = field(default_factory=dict)
    # Filled in by the steps:
    session_id: int = 0
    visitor_key: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    region_code: str = ""  # ISO 3166-2, where the geolocation database has it
    city_id: int = 0  # GeoNames id, where the geolocation database has it
    agent: UserAgentInfo = UNKNOWN_AGENT  # browser, OS and device: five columns
    line: bytes = b""  # the encoded row, once the write step has run


def event_for(
    context: RequestContext, site: str, user_agent: str, when: float, **fields: Any
) -> Event:
    """An event of the visitor this request context describes; the beacon and the
    page-view recorder both build theirs here, so both carry the same facts."""
    return Event(
        time=when,
        site=site,
        session=context.session_id,
        consent=context.consent,
        ip=context.client_ip,
        user_agent=user_agent,
        host=context.host,
        **fields,
    )


def page_view_for(
    context: RequestContext,
    site: str,
    user_agent: str,
    when: float,
    path: str,
    query: str,
    referrer: str,
    status: int,
) -> Event:
    """:func:`event_for` a server-side page view, with the same facts of the request
    context: the fields passed in place rather than by keyword, which is cheaper
    (the proxy builds one per page a visitor opens)."""
    return Event(
        Kind.PAGEVIEW,
        when,
        site,
        context.session_id,
        context.consent,
        context.client_ip,
        user_agent,
        context.host,
        path,
        query,
        "",  # title: only the banner script knows it
        referrer,
        status,
    )


@lru_cache(maxsize=8192)  # a returning visitor's pages hash the same id again
def visitor_key(consent_id: str) -> str:
    """The visitor key stored with every row of a consented visitor, as a UUID string.

    A hash of the consent id, not keyed with the secret: the consent id is 128
    random bits, so its hash can neither be reversed nor guessed, and an
    unkeyed hash survives secret-key rotation, so exporting or erasing a
    visitor's rows by consent id keeps working for the rows' whole month. The
    raw consent id itself never reaches the analytics tables.
    """
    hexed = hashlib.blake2b(consent_id.encode(), digest_size=16, person=b"cg-visitor").hexdigest()
    # str(uuid.UUID(bytes=digest)), written out because it is cheaper; a cache miss
    # is every new visitor's first page.
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


@lru_cache(maxsize=8192)
def session_number(session: str) -> int:
    """The ``session_id`` column: a 64-bit hash of the session cookie's random id."""
    digest = hashlib.blake2b(session.encode(), digest_size=8, person=b"cg-session").digest()
    return int.from_bytes(digest, "big")


def utm_only(query: str) -> tuple[str, str, str, str]:
    """The query string reduced to its ``utm_*`` parameters, and source, medium, campaign."""
    if UTM_PREFIX not in query:
        return "", "", "", ""
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.startswith("utm_")]
    values = dict(kept)
    return (
        urlencode(kept)[:MAX_PATH],
        values.get("utm_source", "")[:256],
        values.get("utm_medium", "")[:256],
        values.get("utm_campaign", "")[:256],
    )


def split_referrer(referrer: str, host: str) -> tuple[str, str, str]:
    """``(referrer_host, referrer_path, prev_path)`` from a ``Referer`` URL.

    Same origin as the visitor's page: the previous path in this session. Any
    other site: its host and path (never its query, which may carry anything).
    """
    if not referrer:
        return "", "", ""
    try:
        parts = urlsplit(referrer)
        netloc = parts.netloc.lower()
    except ValueError:
        return "", "", ""
    path = (parts.path or "/")[:MAX_PATH]
    if parts.scheme not in ("http", "https") or not netloc:
        return "", "", ""
    if netloc == host.lower():
        return "", "", path
    return (parts.hostname or "")[:255], path, ""


_string = json.encoder.encode_basestring  # the C encoder json.dumps uses, ensure_ascii=False
_props = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_KINDS = {kind: _string(kind.value) for kind in Kind}
_NO_SOURCE = ",".join(['""'] * 8)  # query, title, referrer host and path, prev path, UTM


@lru_cache(maxsize=1024)  # a site's visitors come from a few places, under a few names
def _last_columns(region_code: str, city_id: int, host: str) -> str:
    """The last three columns, encoded: the region's code, the city's id and the
    ``hostname``, the visitor's ``Host`` (already checked against ``CG_ALLOWED_HOSTS``)
    without port, final dot, brackets or a leading ``www.``, as Plausible keeps it
    (empty when it is not a host name)."""
    name = host_name(host) or ""
    if name.startswith("["):
        name = name[1:-1]
    hostname = name[4:] if name.startswith("www.") else name
    return f"{_string(region_code)},{city_id:d},{_string(hostname)}"


def _encode_sources(query: str, title: str, referrer: str, host: str) -> str:
    """The eight columns an event's query, title and ``Referer`` give, encoded."""
    s = _string
    utm_query, source, medium, campaign = utm_only(query)
    referrer_host, referrer_path, prev_path = split_referrer(referrer, host)
    return (
        f"{s(utm_query)},{s(title[:MAX_TITLE])},{s(referrer_host)},{s(referrer_path)},"
        f"{s(prev_path)},{s(source)},{s(medium)},{s(campaign)}"
    )


# A site's visitors arrive from a few searches and campaigns and move between its
# popular pages, so most page views repeat a query and ``Referer`` seen a moment
# before, and the cache is cheaper than encoding. Only short ones are kept (a
# request head may be 32 KB), so the cache stays near a megabyte.
_cached_sources = lru_cache(maxsize=1024)(_encode_sources)
_CACHED_UP_TO = 512  # characters of query, title, referrer and host together


def earliest_time(lines: list[bytes] | bytes) -> float | None:
    """The earliest ``time`` (Unix seconds) of lines :func:`encode` wrote, given as a
    list or joined by newlines; ``None`` when there is none. Only the first column
    is read: each line starts ``[<time>,``."""
    rows = lines.split(b"\n") if isinstance(lines, bytes) else lines
    earliest: float | None = None
    for row in rows:
        try:
            moment = float(row[1 : row.index(b",")])
        except ValueError:  # an empty or foreign line
            continue
        if earliest is None or moment < earliest:
            earliest = moment
    return earliest


def encode(event: Event) -> bytes:
    """The event as one ``JSONCompactEachRow`` line in :data:`COLUMNS` order.

    Written out field by field rather than through ``json.dumps`` of a tuple: the
    same JSON, cheaper (it runs for every event on the event loop).
    What is the same for many events comes encoded already: the user agent's five
    columns (cached with the parsed agent), the kind, and the eight columns of a page
    view with no query, title or referrer (or, from a cache, of a short query and
    referrer seen recently), and, from a cache, the region code, city id and host
    name. The visitor key is a UUID's hex digits and dashes, which need no escaping.
    A lone surrogate (a beacon may send ``"\\ud800"``) cannot be UTF-8: it becomes ``?``.
    """
    s = _string
    if event.query or event.title or event.referrer:
        query, title, referrer, host = event.query, event.title, event.referrer, event.host
        if len(query) + len(title) + len(referrer) + len(host) <= _CACHED_UP_TO:
            sources = _cached_sources(query, title, referrer, host)
        else:
            sources = _encode_sources(query, title, referrer, host)
    else:
        sources = _NO_SOURCE
    line = (
        f"[{event.time:.3f},{s(event.site)},{_KINDS[event.kind]},{event.session_id:d},"
        f'"{event.visitor_key}",{s(event.path[:MAX_PATH])},{sources},{s(event.ip)},'
        f"{s(event.country)},{s(event.region)},{s(event.city)},{event.agent.columns},"
        f"{event.status:d},{event.engagement_ms:d},{s(event.name)},"
        f"{_props(event.props) if event.props else '{}'},"
        f"{_last_columns(event.region_code, event.city_id, event.host)}]"
    )
    return line.encode("utf-8", "replace")
