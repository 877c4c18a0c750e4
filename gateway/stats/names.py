"""How stored values read in the statistics: Plausible's names, applied when a query reads them.

The events keep what the ingest steps found: the referring host, the user agent
parser's browser and OS families (``Chrome Mobile``, ``Mac OS X``) and a device
in lower case. The statistics show them as Plausible does: a source by its name
from Matomo's list of search engines, social networks and AI assistants
(``Google``, ``Facebook``, ``ChatGPT``; any other host without ``www.``),
browser and OS families as Plausible names them (``Chrome``, ``Safari``,
``Mac``), devices ``Desktop``, ``Mobile``, ``Tablet``. Mapping at read time,
inside the SQL, means rows stored before, and the rollups, read the same way,
and a refreshed list applies to them at once; filters compare the shown name.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LIST = Path(__file__).parent / "referrer_list" / "sources.json"
"""Host names to source names, made by ``scripts/refresh_sources.py`` (see its SOURCE.md)."""

DIRECT = "Direct / None"
"""The source of a visit without a referrer from another site (Plausible's wording)."""

BROWSERS = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Mobile App",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge": "Microsoft Edge",
    "Edge Mobile": "Microsoft Edge",
    "Opera Mobile": "Opera",
    "Opera Mini": "Opera",
    "Samsung Internet": "Samsung Browser",
    "IE": "Internet Explorer",
    "IE Mobile": "Internet Explorer",
    "DuckDuckGo Mobile": "DuckDuckGo Privacy Browser",
    "Yandex Browser Lite": "Yandex Browser",
    "Facebook": "Mobile App",
    "Instagram": "Mobile App",
}
"""ua-parser's browser families that Plausible (Matomo's device detector) names otherwise."""

SYSTEMS = {"Mac OS X": "Mac", "Linux": "GNU/Linux", "Windows Phone": "Windows Phone"}
"""ua-parser's OS families that Plausible names otherwise."""

DEVICES = {"desktop": "Desktop", "mobile": "Mobile", "tablet": "Tablet", "other": "Other"}
"""The stored device classes as Plausible shows them."""


def literal(text: str) -> str:
    """``text`` as a ClickHouse string literal (our own constants only, never a request's)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _array(texts: list[str]) -> str:
    return "[" + ",".join(literal(text) for text in texts) + "]"


def renamed(column: str, names: dict[str, str]) -> str:
    """``column`` with each value of ``names`` replaced by its new name."""
    return f"transform({column}, {_array(list(names))}, {_array(list(names.values()))}, {column})"


@cache
def known_referrers() -> tuple[dict[str, str], dict[str, str]]:
    """The list's hosts (``www.`` removed) and its names valid under any public suffix."""
    data = json.loads(LIST.read_text(encoding="utf-8"))
    return dict(data["hosts"]), dict(data["tld"])


def source(host: str) -> str:
    """The source name of the referring host in SQL expression ``host`` ('' when direct).

    The host (``www.`` removed) is looked up, then its registrable domain
    (``facebook.com`` of ``l.facebook.com``), then its name without the public
    suffix (``google`` of ``google.co.uk``); an unknown host is shown as it is.
    The list appears once in the expression: it is long.
    """
    return _source_sql().replace("HOST", host)


@cache
def _source_sql() -> str:
    hosts, tld = known_referrers()
    bare = "replaceRegexpOne(HOST, '^www\\\\.', '')"
    domain = f"cutToFirstSignificantSubdomain({bare})"
    base = (
        f"substring({bare}, 1, length({bare}) - length({domain}) "
        f"+ length(firstSignificantSubdomain({bare})))"
    )
    listed = f"transform(c, {_array(list(hosts))}, {_array(list(hosts.values()))}, '')"
    named = f"transform(c, {_array(list(tld))}, {_array(list(tld.values()))}, '')"
    return (
        f"if(HOST = '', {literal(DIRECT)}, arrayFirst(n -> n != '', ["
        f"arrayFirst(n -> n != '', arrayMap(c -> {listed}, [{bare}, {domain}])), "
        f"arrayFirst(n -> n != '', arrayMap(c -> {named}, [{base}])), {bare}]))"
    )
