"""A scripted set of visits for the statistics tests, written through the real pipeline.

Every event goes through the gateway's ingest steps (IP truncation, consent,
session hashing, user-agent parsing, visitor key) and the real batched writer
into a fresh database, where the ``sessions_agg`` materialized view builds the
sessions on insert. Only the location is given up front (no GeoIP database in
these tests). The expected figures in tests/test_stats_queries.py are worked
out by hand from the script below.

Day D is yesterday (UTC), so the rows are well inside the one-month TTL:

    session  visitor  start   events (path, at)                          from
    s1       A        10:00   / 10:00, /blog 10:01, /pricing 10:03,      www.google.com
                              engagement on /pricing 10:04               GB England London, Firefox
    s2       A        14:00   /blog 14:00                                direct, GB, Firefox
    s3       B        11:00   /?utm_* 11:00, /blog 11:02                 direct, utm newsletter/
                                                                         email/launch, DE Bavaria
                                                                         Munich, iPhone
    s4       C        12:00   /blog 12:00, custom "signup" 12:00:31      news.ycombinator.com, GB
                                                                         England London, Firefox
    s5       D        13:00   /pricing 13:00                             direct, FR Paris, Firefox
    s0       E        D-1 12:00  / 12:00                                 direct, GB, Firefox
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.analytics.events import Kind
from gateway.analytics.spool import Spool
from gateway.analytics.steps import default_pipeline
from gateway.analytics.writer import EventWriter
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX, IPHONE, Consented, make_event

SITE = "test"
ORIGIN = "http://gateway.test"

# With the codes a MaxMind database gives (the statistics show the names).
Place = dict[str, object]
LONDON: Place = {"country": "GB", "region": "England", "city": "London"}
LONDON.update(region_code="GB-ENG", city_id=2643743)
MUNICH: Place = {"country": "DE", "region": "Bavaria", "city": "Munich"}
MUNICH.update(region_code="DE-BY", city_id=2867714)
PARIS: Place = {"country": "FR", "region": "Ile-de-France", "city": "Paris"}
PARIS.update(region_code="FR-IDF", city_id=2988507)


def day_d() -> datetime:
    """Midnight (UTC) of day D, yesterday."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def _visitor(letter: str) -> Consented:
    return Consented(consent_id=f"{letter * 8}{'0' * 24}")


def _at(day: datetime, clock: str) -> float:
    hours, minutes, *seconds = (int(part) for part in clock.split(":"))
    return (day + timedelta(hours=hours, minutes=minutes, seconds=sum(seconds))).timestamp()


def write_scripted_visits(
    storage: Storage, spool_dir: Path, site: str = SITE, day: datetime | None = None
) -> None:
    """Write the visits in this module's docstring to ``storage``, through the real writer."""
    d = day or day_d()
    google, hn = "https://www.google.com/search", "https://news.ycombinator.com/item"
    utm = "utm_source=newsletter&utm_medium=email&utm_campaign=launch"
    before = d - timedelta(days=1)
    engaged = {"kind": Kind.ENGAGEMENT, "engagement_ms": 60_000}
    signup = {"kind": Kind.CUSTOM, "name": "signup"}
    script = [
        # (session, visitor, user agent, event fields)
        _e("s1", "A", FIREFOX, "/", d, "10:00", LONDON, referrer=google),
        _e("s1", "A", FIREFOX, "/blog", d, "10:01", LONDON, referrer=f"{ORIGIN}/"),
        _e("s1", "A", FIREFOX, "/pricing", d, "10:03", LONDON, referrer=f"{ORIGIN}/blog"),
        _e("s1", "A", FIREFOX, "/pricing", d, "10:04", LONDON, **engaged),
        _e("s2", "A", FIREFOX, "/blog", d, "14:00", LONDON),
        _e("s3", "B", IPHONE, "/", d, "11:00", MUNICH, query=utm),
        _e("s3", "B", IPHONE, "/blog", d, "11:02", MUNICH, referrer=f"{ORIGIN}/?{utm}"),
        _e("s4", "C", FIREFOX, "/blog", d, "12:00", LONDON, referrer=hn),
        _e("s4", "C", FIREFOX, "/blog", d, "12:00:31", LONDON, **signup),
        _e("s5", "D", FIREFOX, "/pricing", d, "13:00", PARIS),
        _e("s0", "E", FIREFOX, "/", before, "12:00", LONDON),
    ]
    write_events(storage, spool_dir, [(s, v, ua, {**f, "site": site}) for s, v, ua, f in script])


Scripted = tuple[str, str, str, dict[str, object]]


def _e(
    session: str,
    visitor: str,
    user_agent: str,
    path: str,
    day: datetime,
    clock: str,
    place: Place,
    **fields: object,
) -> Scripted:
    return session, visitor, user_agent, {"path": path, "at": _at(day, clock), **place, **fields}


def write_events(storage: Storage, spool_dir: Path, script: list[Scripted]) -> None:
    """Run each ``(session, visitor, user agent, fields)`` through the steps and the writer."""
    writer = EventWriter(storage, Spool(spool_dir), flush_interval=3600, batch_size=10_000)
    writer.start()
    writer.put_many(encode_events(script))
    writer.close()
    assert writer.written == len(script)


def encode_events(script: list[Scripted]) -> list[bytes]:
    """The lines the steps give the writer for each ``(session, visitor, user agent, fields)``."""
    lines: list[bytes] = []
    pipeline = default_pipeline(lines.extend, None)
    for session, visitor, user_agent, fields in script:
        event = make_event(
            session=f"{session}-{visitor}",
            consent=_visitor(visitor),
            user_agent=user_agent,
            **fields,  # type: ignore[arg-type]
        )
        assert pipeline.process(event) is None, event
    return lines
