"""The ingest steps on the real engine: every drop reason, IP truncation, sessions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gateway.analytics.bots import CRAWLER_FRAGMENTS, HEADLESS_FRAGMENTS, is_bot
from gateway.analytics.events import Kind, encode, split_referrer, utm_only, visitor_key
from gateway.analytics.spool import Spool
from gateway.analytics.steps import DropReason, Pipeline, default_pipeline
from gateway.analytics.writer import EventWriter
from gateway.context import NO_CONSENT
from gateway.geo import Location
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX, IPHONE, Consented, make_event
from tests.chdb import migrated_storage


class OneCityGeo:
    """A lookup at the edge of the world: every network is in one city."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def lookup(self, truncated_ip: str) -> Location:
        self.asked.append(truncated_ip)
        return Location("GB", "England", "Reading", "GB-RDG", 2639577)


@pytest.fixture
def storage() -> Storage:
    return migrated_storage()


def run(storage: Storage, tmp_path: Path, events: list[object], geo: object = None) -> Pipeline:
    writer = EventWriter(storage, Spool(tmp_path / "spool"), flush_interval=3600)
    pipeline = default_pipeline(writer.put_many, geo)  # type: ignore[arg-type]
    for event in events:
        pipeline.process(event)  # type: ignore[arg-type]
    writer.close()
    return pipeline


def rows(storage: Storage, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in storage.connect().query(sql).result_rows]


def test_the_steps_are_the_documented_ones_in_order() -> None:
    assert default_pipeline(lambda line: None, None).names == [
        "truncate_ip",
        "validate",
        "consent",
        "drop_bots",
        "session",
        "geolocate",
        "parse_user_agent",
        "visitor_key",
        "write",
    ]


def test_every_drop_reason_is_counted_and_nothing_reaches_the_table(
    storage: Storage, tmp_path: Path
) -> None:
    dropped = {
        DropReason.INVALID: [
            make_event("no-slash"),
            make_event("/x", kind=Kind.CUSTOM),  # a custom event without a name
            make_event("/x", engagement_ms=-1),
        ],
        DropReason.NO_CONSENT: [
            make_event("/x", consent=NO_CONSENT),
            make_event("/x", consent=Consented(consent_id=None)),
        ],
        DropReason.BOT: [
            make_event("/x", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),
            make_event("/x", user_agent="Mozilla/5.0 HeadlessChrome/120.0.0.0 Safari/537.36"),
            make_event("/x", user_agent="curl/8.5.0"),
            make_event("/x", user_agent=""),
        ],
        DropReason.NO_SESSION: [make_event("/x", session=None)],
    }
    assert set(dropped) == set(DropReason)  # a new reason needs a case here
    events = [event for group in dropped.values() for event in group]
    pipeline = run(storage, tmp_path, [*events, make_event("/kept")])
    assert pipeline.dropped == {reason: len(group) for reason, group in dropped.items()}
    assert pipeline.accepted == 1
    assert rows(storage, "SELECT path FROM events") == [("/kept",)]


def test_every_crawler_and_headless_fragment_is_caught() -> None:
    for fragment in CRAWLER_FRAGMENTS + HEADLESS_FRAGMENTS:
        assert is_bot(f"Mozilla/5.0 (compatible; {fragment.title()}x 1.0)"), fragment
    assert not is_bot(FIREFOX)
    assert not is_bot(IPHONE)


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12:3456::1", "2001:db8:abcd::"),
        ("::ffff:198.51.100.23", "198.51.100.0"),
    ],
)
def test_only_the_truncated_ip_is_stored_and_looked_up(
    storage: Storage, tmp_path: Path, address: str, stored: str
) -> None:
    geo = OneCityGeo()
    run(storage, tmp_path, [make_event("/", ip=address)], geo)
    assert geo.asked == [stored]
    found = "SELECT ip, country, region, city, region_code, city_id, hostname FROM events"
    assert rows(storage, found) == [
        (stored, "GB", "England", "Reading", "GB-RDG", 2639577, "gateway.test")
    ]
    spooled = b"".join(path.read_bytes() for path in (tmp_path / "spool").iterdir())
    assert address.encode() not in spooled


def test_columns_from_user_agent_query_referrer_and_consent(
    storage: Storage, tmp_path: Path
) -> None:
    event = make_event(
        "/courses",
        user_agent=IPHONE,
        query="utm_source=news&utm_medium=email&utm_campaign=spring&email=a@b.c",
        referrer="https://search.example/results?q=secret",
    )
    run(storage, tmp_path, [event])
    (row,) = (
        storage.connect()
        .query(
            "SELECT query, utm_source, utm_medium, utm_campaign, referrer_host, referrer_path, "
            "prev_path, browser, browser_version, os, os_version, device, visitor_key, "
            "country FROM events"
        )
        .named_results()
    )
    assert row["query"] == "utm_source=news&utm_medium=email&utm_campaign=spring"
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == (
        "news",
        "email",
        "spring",
    )
    assert (row["referrer_host"], row["referrer_path"], row["prev_path"]) == (
        "search.example",
        "/results",
        "",
    )
    assert (row["browser"], row["browser_version"], row["os"], row["device"]) == (
        "Mobile Safari",
        "17",
        "iOS",
        "mobile",
    )
    assert row["os_version"] == "17.4"
    assert str(row["visitor_key"]) == visitor_key(Consented().consent_id or "")
    assert row["country"] == ""  # no geolocation database: location is simply empty


def test_same_origin_referrer_is_the_previous_path() -> None:
    assert split_referrer("http://gateway.test/courses?x=1", "gateway.test") == (
        "",
        "",
        "/courses",
    )
    assert split_referrer("javascript:alert(1)", "gateway.test") == ("", "", "")
    assert utm_only("a=1&b=2") == ("", "", "", "")


def test_visitor_key_is_stable_and_reveals_nothing() -> None:
    key = visitor_key("c0ffee00c0ffee00c0ffee00c0ffee00")
    assert key == visitor_key("c0ffee00c0ffee00c0ffee00c0ffee00")
    assert key != visitor_key("c0ffee00c0ffee00c0ffee00c0ffee01")
    assert "c0ffee" not in key


def test_visit_length_pages_and_bounce_are_computed_by_clickhouse(
    storage: Storage, tmp_path: Path
) -> None:
    start = time.time() - 600
    visit = [
        make_event("/", at=start, session="visit"),
        make_event("/courses", at=start + 30, session="visit", referrer="http://gateway.test/"),
        make_event(
            "/courses", kind=Kind.ENGAGEMENT, at=start + 70, session="visit", engagement_ms=40_000
        ),
        make_event(
            "/about", at=start + 75, session="visit", referrer="http://gateway.test/courses"
        ),
        make_event(
            "/about", kind=Kind.ENGAGEMENT, at=start + 95, session="visit", engagement_ms=20_000
        ),
        make_event("/news", at=start + 5, session="bounce"),
    ]
    run(storage, tmp_path, list(reversed(visit)))  # arrival order does not matter
    result = storage.connect().query(
        "SELECT entry_page, exit_page, duration, page_count, bounce, engagement_ms "
        "FROM sessions ORDER BY page_count DESC"
    )
    assert [tuple(row) for row in result.result_rows] == [
        ("/", "/about", 95, 3, False, 60_000),
        ("/news", "/news", 0, 1, True, 0),
    ]
    assert rows(storage, "SELECT prev_path FROM events WHERE path = '/about' AND kind = 1") == [
        ("/courses",)
    ]


def test_encoding_is_one_compact_line() -> None:
    line = encode(make_event("/x"))
    assert line.startswith(b"[") and b"\n" not in line


def test_a_line_written_before_the_hostname_and_codes_still_inserts(
    storage: Storage, tmp_path: Path
) -> None:
    """A line spooled by a gateway before 0016 lacks the last three columns: they default."""
    lines: list[bytes] = []
    default_pipeline(lines.extend, OneCityGeo()).process(make_event("/old"))
    old = json.dumps(json.loads(lines[0])[:-3]).encode()
    writer = EventWriter(storage, Spool(tmp_path / "spool"), flush_interval=3600)
    writer.put_many([old])
    writer.close()
    assert rows(storage, "SELECT path, region, region_code, city_id, hostname FROM events") == [
        ("/old", "England", "", 0, "")
    ]
