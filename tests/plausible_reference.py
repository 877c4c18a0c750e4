"""Scripted visits for the Plausible compatibility suite, and the answers Plausible gives on them.

The visits are written through the gateway's real ingest steps and writer; the
answers are worked out here in plain Python from the same script, following
Plausible's Stats API v1 reference (its periods, filter operators and metric
definitions), with no code of the gateway's statistics: a wrong number in the
gateway's SQL fails the suite as surely as a 400.

Each visit names what Plausible would show for it: the source ("Google" for
www.google.com and google.co.uk, "Twitter" for t.co), the referrer (host
without "www." and path), browser and OS families ("Chrome" for Chrome Mobile,
"Mac"), device ("Desktop"). Page views are 45 seconds apart; some visits
also send custom events (:func:`customs_of`), which make a visit interactive (not
a bounce) and count in its duration, which runs from its first to its last event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from gateway.analytics.events import Kind
from gateway.storage import Storage
from tests.stats_visits import Scripted, write_events


@dataclass(frozen=True)
class Agent:
    user_agent: str
    browser: str
    os: str
    device: str


AGENTS = (
    Agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
          "Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome", "Mac", "Desktop"),
    Agent("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.6099.144 Mobile Safari/537.36", "Chrome", "Android", "Mobile"),
    Agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
          "Gecko) Version/17.2 Safari/605.1.15", "Safari", "Mac", "Desktop"),
    Agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
          "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Safari", "iOS", "Mobile"),
    Agent("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36", "Chrome", "Android", "Tablet"),
    Agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
          "Firefox", "Windows", "Desktop"),
    Agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "Microsoft Edge", "Windows",
          "Desktop"),
)  # fmt: skip

# (Referer, Plausible's source, Plausible's visit:referrer)
REFERRERS = (
    ("", "Direct / None", ""),
    ("https://www.google.com/search", "Google", "google.com/search"),
    ("https://t.co/fzWTE9OTPt", "Twitter", "t.co/fzWTE9OTPt"),
    ("https://news.ycombinator.com/item", "Hacker News", "news.ycombinator.com/item"),
    ("https://www.google.co.uk/", "Google", "google.co.uk"),
    ("https://chatgpt.com/", "ChatGPT", "chatgpt.com"),
    ("https://indiehackers.com/post/x", "indiehackers.com", "indiehackers.com/post/x"),
    ("https://github.com/plausible", "GitHub", "github.com/plausible"),
)
# (country, region name, city name, region's ISO 3166-2 code, city's GeoNames id)
PLACES = (
    ("FR", "Ile-de-France", "Paris", "FR-IDF", 2988507),
    ("DE", "Bavaria", "Munich", "DE-BY", 2867714),
    ("US", "Maryland", "Baltimore", "US-MD", 4347778),
    ("GB", "England", "London", "GB-ENG", 2643743),
    ("DE", "Berlin", "Berlin", "DE-BE", 2950159),
)
# (the Host a visit's pages were asked with, Plausible's event:hostname)
HOSTS = (
    ("example.com", "example.com"),
    ("www.example.com", "example.com"),
    ("blog.example.com", "blog.example.com"),
    ("shop.example.com:8443", "shop.example.com"),
)
PATHS = (
    ("/",),
    ("/home", "/blog"),
    ("/blog/remove-google-analytics",),
    ("/order/confirmation",),
    ("/blog/2026/news", "/blog", "/pricing"),
    ("/pricing", "/register", "/order/confirmation"),
    ("/home",),
    ("/", "/self-hosted-web-analytics"),
    ("/blog/open-source-licenses", "/blog/remove-google-analytics"),
)
# (utm_medium, utm_campaign, utm_content, utm_term) of the landing page; no utm_source, which
# Plausible would take as the source (see docs/stats-api.md)
TAGS = (
    ("", "", "", ""),
    ("social", "profile", "banner", ""),
    ("", "", "", ""),
    ("email", "campaign|one", "", "keyword"),
    ("", "", "", "keyword"),
)


@dataclass(frozen=True)
class Custom:
    """A custom event: its name, seconds after the visit's start, on its page, props."""

    name: str
    offset: int
    page: int  # the index of the page view it follows
    props: tuple[tuple[str, str], ...] = ()


def customs_of(i: int, pages: int) -> tuple[Custom, ...]:
    """The custom events of the ``i``-th visit of ``pages`` page views."""
    found = []
    if i % 4 == 1:
        found.append(Custom("Signup", 20, 0, (("plan", "free" if i % 8 == 1 else "pro"),)))
    if i % 16 == 5:
        found.append(Custom("Signup", 25, 0, (("plan", "pro"),)))
    if i % 6 == 2:
        url = "https://github.com/plausible"
        found.append(
            Custom("Outbound Link: Click", 45 * (pages - 1) + 5, pages - 1, (("url", url),))
        )
    if i % 10 == 7:
        found.append(Custom("Register", 30, 0))
    return tuple(found)


@dataclass(frozen=True)
class Visit:
    visitor: int
    session: str
    start: datetime
    country: str
    region_name: str
    city_name: str
    referrer_url: str
    source: str
    referrer: str
    agent: Agent
    pages: tuple[str, ...]
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    customs: tuple[Custom, ...] = ()
    region: str = ""  # the ISO 3166-2 code, empty for a row stored before 0016
    city: str = ""  # the GeoNames id, empty for a row stored before 0016
    host: str = "gateway.test"
    hostname: str = "gateway.test"

    @property
    def duration(self) -> int:
        return max([45 * (len(self.pages) - 1), *(c.offset for c in self.customs)])

    @property
    def bounce(self) -> bool:
        """One page view and no custom event (Plausible counts custom events as interactive)."""
        return len(self.pages) == 1 and not self.customs

    def value(self, prop: str) -> str:
        if prop in ("browser", "os", "device"):
            return str(getattr(self.agent, prop))
        if prop == "entry_page":
            return self.pages[0]
        if prop == "exit_page":
            return self.pages[-1]
        return str(getattr(self, prop))


def scripted_visits(today: date) -> list[Visit]:
    """64 visits of 48 visitors over the 20 days before ``today``."""
    visits = []
    for i in range(64):
        day = today - timedelta(days=1 + i % 20)
        start = datetime(day.year, day.month, day.day, 8 + i % 9, i % 50, tzinfo=UTC)
        url, source, shown = REFERRERS[i % len(REFERRERS)]
        place = PLACES[i % len(PLACES)]
        medium, campaign, content, term = TAGS[i % len(TAGS)]
        visits.append(
            Visit(
                visitor=i if i < 48 else i - 40,
                session=f"v{i}",
                start=start,
                country=place[0],
                region_name=place[1],
                city_name=place[2],
                referrer_url=url,
                source=source,
                referrer=shown,
                agent=AGENTS[i % len(AGENTS)],
                pages=PATHS[i % len(PATHS)],
                utm_medium=medium,
                utm_campaign=campaign,
                utm_content=content,
                utm_term=term,
                customs=customs_of(i, len(PATHS[i % len(PATHS)])),
                # Every seventh visit as if stored before the codes were kept (0016).
                region=place[3] if i % 7 != 6 else "",
                city=str(place[4]) if i % 7 != 6 else "",
                host=HOSTS[i % len(HOSTS)][0],
                hostname=HOSTS[i % len(HOSTS)][1],
            )
        )
    return visits


def write_visits(storage: Storage, spool: Path, visits: Sequence[Visit], site: str) -> None:
    """Every page view of ``visits``, through the real ingest steps and writer."""
    script: list[Scripted] = []
    for visit in visits:
        country, region, city = visit.country, visit.region_name, visit.city_name
        place: dict[str, object] = {"country": country, "region": region, "city": city}
        place.update(host=visit.host, region_code=visit.region, city_id=int(visit.city or 0))
        tags = "&".join(
            f"utm_{name}={value.replace('|', '%7C')}"
            for name, value in (
                ("medium", visit.utm_medium),
                ("campaign", visit.utm_campaign),
                ("content", visit.utm_content),
                ("term", visit.utm_term),
            )
            if value
        )
        for n, path in enumerate(visit.pages):
            at = (visit.start + timedelta(seconds=45 * n)).timestamp()
            referrer = visit.referrer_url if n == 0 else f"http://{visit.host}{visit.pages[n - 1]}"
            fields: dict[str, object] = {"path": path, "at": at, **place, "site": site}
            if referrer:
                fields["referrer"] = referrer
            if n == 0 and tags:
                fields["query"] = tags
            letter = f"{visit.visitor:02d}"
            script.append((visit.session, letter, visit.agent.user_agent, fields))
        for custom in visit.customs:
            at = (visit.start + timedelta(seconds=custom.offset)).timestamp()
            fields = {"path": visit.pages[custom.page], "at": at, **place, "site": site}
            fields.update(kind=Kind.CUSTOM, name=custom.name, props=dict(custom.props))
            script.append((visit.session, f"{visit.visitor:02d}", visit.agent.user_agent, fields))
    write_events(storage, spool, script)


# --- Plausible's answers -------------------------------------------------------------------


def period_days(period: str, today: date, param: str | None = None) -> tuple[date, date]:
    """First and last day (both included) of a v1 ``period``, as Plausible's Query reads it."""
    if period == "custom":
        assert param
        opening, closing = param.split(",")
        return date.fromisoformat(opening), date.fromisoformat(closing)
    end = date.fromisoformat(param) if param else today
    if period == "day":
        return end, end
    if period == "7d":
        return end - timedelta(days=6), end
    if period == "30d":
        return end - timedelta(days=30), end  # Date.range(date - 30, date)
    months = {"month": 1, "6mo": 6, "12mo": 12}[period]
    first = end.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    following = (end.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def _pattern(value: str) -> Callable[[str], bool]:
    """One v1 value: ``|`` alternatives (``\\|`` a literal bar), ``*`` any characters."""
    alternatives = [part.replace("\0", "|") for part in value.replace("\\|", "\0").split("|")]

    def matches(text: str) -> bool:
        for alternative in alternatives:
            if "*" in alternative:
                regex = ".*".join(re.escape(part) for part in re.split(r"\*+", alternative))
                if re.fullmatch(regex, text):
                    return True
            elif text == alternative:
                return True
        return False

    return matches


def _filters(text: str) -> list[tuple[str, bool, Callable[[str], bool]]]:
    found = []
    for part in filter(None, text.split(";")):
        negated = "!=" in part and ("==" not in part or part.index("!=") < part.index("=="))
        prop, value = part.split("!=" if negated else "==", 1)
        found.append((prop.split(":", 1)[1], negated, _pattern(value)))
    return found


def kept(visits: Iterable[Visit], filters: str = "") -> list[tuple[Visit, list[str]]]:
    """The visits that pass ``filters``, each with its page views that count."""
    result = []
    for visit in visits:
        pages = list(visit.pages)
        keep = True
        for prop, negated, matches in _filters(filters):
            if prop == "page":
                pages = [p for p in pages if matches(p) != negated]
                keep = keep and bool(pages)
            else:
                keep = keep and matches(visit.value(prop)) != negated
        if keep:
            result.append((visit, pages))
    return result


def figures(rows: Sequence[tuple[Visit, list[str]]], metrics: Sequence[str]) -> dict[str, Any]:
    """Plausible's metrics over ``rows`` (a visit and its counted page views)."""
    visits = len(rows)
    pageviews = sum(len(pages) for _, pages in rows)
    every: dict[str, Any] = {
        "visitors": len({visit.visitor for visit, _ in rows}),
        "visits": visits,
        "pageviews": pageviews,
        "views_per_visit": round(pageviews / visits, 2) if visits else 0,
        "bounce_rate": round(100 * sum(v.bounce for v, _ in rows) / visits) if visits else 0,
        "visit_duration": round(sum(v.duration for v, _ in rows) / visits) if visits else 0,
        # Page views and custom events (with a page filter, those on the kept pages).
        "events": pageviews + sum(v.pages[c.page] in pages for v, pages in rows for c in v.customs),
    }
    return {name: every[name] for name in metrics}


def in_days(visits: Iterable[Visit], first: date, last: date) -> list[Visit]:
    return [v for v in visits if first <= v.start.date() <= last]


def breakdown_rows(
    rows: Sequence[tuple[Visit, list[str]]], prop: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """A v1 breakdown: one row per value, most visitors first, then by value."""
    key = prop.split(":", 1)[1]
    groups: dict[str, list[tuple[Visit, list[str]]]] = {}
    for visit, pages in rows:
        if key == "page":
            for page in dict.fromkeys(pages):
                groups.setdefault(page, []).append((visit, [p for p in pages if p == page]))
        else:
            value = visit.value(key)
            if value or key not in ("referrer", "utm_medium", "utm_campaign", "utm_content",
                                    "utm_term", "region", "city", "hostname"):  # fmt: skip
                groups.setdefault(value, []).append((visit, pages))
    ranked = ["visitors", *metrics] if "visitors" not in metrics else list(metrics)
    answer = [{key: value, **figures(group, ranked)} for value, group in groups.items()]
    if key == "page":  # v1 reads a page's visit figures from the visits that entered on it
        for row in answer:
            entered = [(v, pages) for v, pages in rows if v.pages[0] == row["page"]]
            for name in ("bounce_rate", "visit_duration"):
                if name in metrics:
                    row[name] = figures(entered, [name])[name] if entered else None
    answer.sort(key=lambda row: (-row["visitors"], row[key]))
    if key == "city":  # a GeoNames id is a number
        answer = [{**row, "city": int(row["city"])} for row in answer]
    return [{name: row[name] for name in (key, *metrics)} for row in answer]


def _timed(visits: Iterable[Visit], filters: str) -> dict[str, tuple[int, int]]:
    """Each page's timed seconds and onward looks, Plausible's way: in the visits the
    filters other than ``event:page`` keep, each event but the visit's last (page views
    and custom events, in time order) is timed to the next in whole seconds; the times
    are summed per (page, next page, visit), and each such sum that leads to another
    page is one look. Only the pages the ``event:page`` filters keep are timed."""
    parts = [part for part in filters.split(";") if part]
    pages = ";".join(part for part in parts if part.startswith("event:page"))
    others = ";".join(part for part in parts if not part.startswith("event:page"))
    timed: dict[str, tuple[int, int]] = {}
    for visit, _ in kept(visits, others):
        events = sorted([(45 * n, page) for n, page in enumerate(visit.pages)]
                        + [(c.offset, visit.pages[c.page]) for c in visit.customs])  # fmt: skip
        pairs: dict[tuple[str, str], int] = {}
        for (at, page), (then, following) in pairwise(events):
            if kept([replace(visit, pages=(page,))], pages):
                pairs[page, following] = pairs.get((page, following), 0) + then - at
        for (page, following), seconds in pairs.items():
            total, looks = timed.get(page, (0, 0))
            timed[page] = (total + seconds, looks + (following != page))
    return timed


def time_on_page(visits: Iterable[Visit], filters: str = "") -> int:
    """The aggregate's time on page: the timed pages' seconds over their looks (0 for none)."""
    timed = _timed(visits, filters).values()
    looks = sum(n for _, n in timed)
    return round(sum(s for s, _ in timed) / looks) if looks else 0


def times_on_pages(visits: Iterable[Visit], filters: str = "") -> dict[str, int | None]:
    """Each timed page's time on page, ``None`` for a page never left for another."""
    return {page: round(s / n) if n else None for page, (s, n) in _timed(visits, filters).items()}
