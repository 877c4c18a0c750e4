"""The demo's past: a month of visits with a school's week, and a year of anonymous history.

So that a newcomer sees every panel and the 12-month view at once, the demo fills,
once per data folder and site: the days since this date last month (:func:`first_day`,
which the events' one-month TTL keeps whole) with visits planned like
the live ones (:func:`gateway.demo.traffic.plan_visits`), stamped on weekdays more
than weekends and before school, at lunch and in the evening more than at night,
sent through the real ingest steps and writer, then rolled up; and the year before
them in the anonymous history, shaped by the admissions year (open evenings, the
31 October and 15 January deadlines, offer days, quiet holidays), each row at or
above k as the history's own rollup would have written it.
"""

from __future__ import annotations

import random
import threading
import uuid
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.analytics.events import Event, Kind
from gateway.analytics.spool import Spool
from gateway.analytics.steps import default_pipeline
from gateway.analytics.writer import EventWriter
from gateway.demo.traffic import listening, plan_visits
from gateway.geo.lookup import open_geo
from gateway.settings import Settings
from gateway.sites import site_ids
from gateway.stats.annotations import add_annotation, list_annotations
from gateway.stats.history_rollup import roll_history
from gateway.stats.rollup import rebuild_from
from gateway.storage import Storage, storage_from_settings

WEEKDAY = (1.0, 1.05, 1.0, 0.95, 0.8, 0.35, 0.5)  # Monday first: parents plan on Sundays
HOURS = [1, 1, 1, 1, 1, 2, 4, 9, 10, 7, 6, 6, 9, 8, 6, 6, 7, 8, 9, 12, 13, 10, 6, 3]
MONTHS = (1.5, 1.0, 1.1, 1.1, 0.9, 0.9, 0.7, 0.45, 1.3, 1.8, 1.2, 0.8)  # January first
PEAKS = {(10, 31): 2.6, (1, 15): 2.4, (3, 1): 2.0, (4, 16): 2.0, (10, 8): 1.8, (10, 15): 1.8}
"""Deadlines (31 October secondary, 15 January primary), offer days, open evenings."""


@dataclass(frozen=True)
class _Consented:
    """A visitor who accepted analytics, for the ingest steps' consent step."""

    consent_id: str

    def allows(self, category: str) -> bool:
        return True


def season(day: date) -> float:
    """How busy ``day`` is in a school's year: month, week day, deadline and holidays."""
    factor = MONTHS[day.month - 1] * WEEKDAY[day.weekday()]
    factor *= PEAKS.get((day.month, day.day), 1.0)
    if (day.month == 12 and day.day >= 20) or (day.month == 1 and day.day <= 3):
        factor *= 0.4  # Christmas
    return factor


def fill_past(storage: Storage, settings: Settings, visits: dict[str, int], seed: int = 11) -> str:
    """Fill each site's past month (about ``visits[site]`` visits) and year, once.

    Every site's events go in before the one roll-up, so that the history's rollup,
    which appends the days after its newest, takes the month of each of them.
    """
    today = datetime.now(UTC).date()
    first = first_day(today)
    days = (today - first).days
    done = []
    for site, count in visits.items():
        if _has(storage, "events", site, "time < now() - INTERVAL 1 DAY"):
            done.append(f"{site}: the past month is already there")
            continue
        events = _month(storage, settings, site, count, first, days, random.Random(seed))
        done.append(f"{site}: {events} events over {days} days")
    # The month's days into the rollups, all of them again: a scheduled refresh may have
    # rolled some up while the events went in (as the gateway does for late events).
    rebuild_from(storage, first)
    k = settings.stats_min_visitors
    for site in visits:
        if not _has(storage, "stats_history", site, "1"):
            done.append(f"{site}: {_write_year(storage, site, first, k)} days of history")
    roll_history(storage, k)
    for site in visits:
        if not list_annotations(storage, site):
            for day, text in notes(today):
                add_annotation(storage, site, day, text, "demo")
    return "; ".join(done) + "."


def notes(today: date) -> list[tuple[date, str]]:
    """The demo's annotations: an open evening in the month of events, and the admissions
    dates of the year of history."""
    year = today.year if today >= date(today.year, 11, 1) else today.year - 1
    return [
        (today - timedelta(days=12), "Open evening"),
        (date(year, 10, 31), "Secondary applications deadline"),
        (
            date(year, 1, 15)
            if date(year, 1, 15) < today - timedelta(days=31)
            else date(year - 1, 1, 15),
            "Primary applications deadline",
        ),
    ]


def first_day(today: date) -> date:
    """The first day of the demo's past month: the day after this date last month, so
    that no event of it is already past the events' one-month TTL (which a merge may
    apply at any moment)."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return date(year, month, min(today.day, monthrange(year, month)[1])) + timedelta(days=1)


def _month(
    storage: Storage,
    settings: Settings,
    site: str,
    visits: int,
    first: date,
    count: int,
    rng: random.Random,
) -> int:
    """Write ``site``'s visits of the ``count`` days from ``first``; the events written."""
    days = [first + timedelta(days=n) for n in range(count)]
    weights = [season(day) for day in days]
    per_day = visits / sum(weights)
    lines: list[bytes] = []
    pipeline = default_pipeline(lines.extend, open_geo(settings))
    returning = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(max(visits // 4, 1))]
    for day, weight in zip(days, weights, strict=True):
        for visit in plan_visits(round(per_day * weight), rng):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            start += rng.choices(range(24), HOURS)[0] * 3600 + rng.randrange(3600)
            who = rng.choice(returning) if rng.random() < 0.3 else uuid.uuid4().hex
            _send(pipeline, site, visit, start, who)
    writer = EventWriter(
        storage,
        Spool(Path(settings.data_dir) / "demo-past-spool"),
        flush_interval=3600,
        batch_size=20_000,
    )
    writer.start()
    writer.put_many(lines)
    writer.close()
    return len(lines)


def start_past_in_background(
    settings: Settings, host: str, port: int, visits: int, *, wait: float = 60.0
) -> threading.Thread:
    """Fill every site's past from a daemon thread once the gateway at ``host:port`` is up
    (its start-up has migrated the schema): the first site ``visits``, the others half."""

    def work() -> None:
        if not listening(host, port, wait):
            return
        storage = storage_from_settings(settings)
        sites = {site: visits // (1 + (n > 0)) for n, site in enumerate(site_ids(settings))}
        try:
            print(f"Demo past: {fill_past(storage, settings, sites)}")
        except Exception as error:  # the demo goes on without its past
            print(f"Demo past: could not be filled ({error}).")

    thread = threading.Thread(target=work, name="demo-past", daemon=True)
    thread.start()
    return thread


def _send(pipeline: Any, site: str, visit: Any, start: float, who: str) -> None:
    host = "demo.localhost"
    at, previous = start, visit.referrer
    for index, path in enumerate(visit.pages):
        page = Event(
            kind=Kind.PAGEVIEW,
            time=at,
            site=site,
            session=f"past-{who}-{int(start)}",
            consent=_Consented(who),
            ip=visit.ip,
            user_agent=visit.user_agent,
            host=host,
            path=path,
            query=visit.query if index == 0 else "",
            referrer=previous,
        )
        pipeline.process(page)
        at += min(visit.engaged_ms[index] / 1000, 600)
        engaged = Event(
            kind=Kind.ENGAGEMENT,
            time=at,
            site=site,
            session=page.session,
            consent=page.consent,
            ip=visit.ip,
            user_agent=visit.user_agent,
            host=host,
            path=path,
            engagement_ms=visit.engaged_ms[index],
        )
        pipeline.process(engaged)
        previous = f"http://{host}{path}"


def _has(storage: Storage, table: str, site: str, condition: str) -> bool:
    client = storage.connect()
    try:
        sql = f"SELECT count() FROM (SELECT 1 FROM {table} WHERE site = {{s:String}} AND {condition} LIMIT 1)"  # noqa: E501, S608
        return bool(client.query(sql, parameters={"s": site}).result_rows[0][0])
    finally:
        client.close()


# The year's mix per dimension (stored values, as the rollups keep them) and shares.
_MIX: dict[str, dict[str, float]] = {
    "page": {"/": 0.55, "/courses": 0.3, "/courses/safeguarding": 0.18,
             "/courses/first-aid": 0.16, "/news": 0.15, "/about": 0.12, "/contact": 0.14},
    "entry_page": {"/": 0.45, "/courses": 0.15, "/courses/safeguarding": 0.12,
                   "/courses/first-aid": 0.1, "/news": 0.1, "/about": 0.05, "/contact": 0.03},
    "exit_page": {"/contact": 0.3, "/": 0.25, "/courses": 0.15, "/courses/first-aid": 0.12,
                  "/courses/safeguarding": 0.1, "/news": 0.05, "/about": 0.03},
    "source": {"": 0.48, "www.google.com": 0.27, "m.facebook.com": 0.1, "www.bing.com": 0.05,
               "duckduckgo.com": 0.04, "www.oxfordshire.gov.uk": 0.05},
    "utm_source": {"newsletter": 0.1, "facebook": 0.06},
    "utm_medium": {"email": 0.1, "social": 0.06},
    "utm_campaign": {"spring-term": 0.1, "open-day": 0.06},
    "country": {"GB": 0.82, "IE": 0.05, "FR": 0.04, "DE": 0.04, "US": 0.05},
    "region": {"England": 0.7, "Wales": 0.06, "Scotland": 0.05, "Leinster": 0.04},
    "browser": {"Chrome": 0.42, "Mobile Safari": 0.24, "Chrome Mobile": 0.14, "Safari": 0.1,
                "Firefox": 0.05, "Edge": 0.05},
    "os": {"Windows": 0.48, "iOS": 0.26, "Android": 0.14, "Mac OS X": 0.12},
    "device": {"desktop": 0.6, "mobile": 0.34, "tablet": 0.06},
}  # fmt: skip
_VISIT_DIMS = ("entry_page", "exit_page", "source", "utm_source", "country", "browser", "os",
               "device")  # fmt: skip


def _write_year(storage: Storage, site: str, before: date, k: int) -> int:
    """365 days of history rows before ``before``: totals and each dimension's mix."""
    rng = random.Random(30)
    rows: list[tuple[Any, ...]] = []
    for n in range(365, 0, -1):
        day = before - timedelta(days=n)
        visitors = round(70 * season(day) * rng.uniform(0.85, 1.15))
        if visitors < k:
            continue
        visits = round(visitors * 1.15)
        pageviews, bounces, duration = round(visits * 2.4), round(visits * 0.42), visits * 95
        rows.append((site, day, "", "", visitors, visits, pageviews, 0, 0, 0))
        rows.append(
            (site, day, "visit", "", visitors, visits, pageviews, visits, bounces, duration)
        )
        for dim, mix in _MIX.items():
            other = 0
            for value, share in mix.items():
                counted = round(visitors * share * rng.uniform(0.8, 1.2))
                if counted < k:
                    other += counted
                    continue
                rows.append(_row(site, day, dim, value, counted))
            if other >= k:
                rows.append(_row(site, day, dim, "(other)", other))
    client = storage.connect()
    try:
        columns = ["site", "day", "dim", "value", "visitors", "visits", "pageviews", "sessions",
                   "bounces", "duration"]  # fmt: skip
        client.insert("stats_history", rows, column_names=columns)
    finally:
        client.close()
    return len({row[1] for row in rows})


def _row(site: str, day: date, dim: str, value: str, visitors: int) -> tuple[Any, ...]:
    visits = round(visitors * 1.1)
    pageviews = round(visits * 2.2)
    if dim not in _VISIT_DIMS:
        return (site, day, dim, value, visitors, visits, pageviews, 0, 0, 0)
    return (site, day, dim, value, visitors, visits, pageviews, visits, round(visits * 0.4),
            visits * 90)  # fmt: skip
