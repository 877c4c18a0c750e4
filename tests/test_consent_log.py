"""Proof of consent: every choice made through the real consent API is in the consent log,
its hash chain verifies, and a changed, removed or missing entry is detected.

Real parts: the demo site as upstream, the gateway under uvicorn, the embedded
ClickHouse, the DB-IP database for the country. The consent cookie's chain head
is read back with the gateway's own policy, as the gateway reads it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.clock import system_clock
from gateway.consent import build_consent
from gateway.consent.log import config_fingerprint
from gateway.consent.proof import LogEntry, load_chain, sealed, verify_chain
from gateway.consent.state import CONSENT_COOKIE, Choice
from gateway.exceptions import SettingsError
from gateway.settings import Settings
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.chdb import migrated_storage
from tests.conftest import make_settings
from tests.geo_databases import dbip_folder
from tests.servers import run_server

PUBLIC_UK_ADDRESS = "81.2.69.160"
DAY = 86_400


def choose(client: httpx.Client, body: dict[str, Any] | None, **headers: str) -> httpx.Response:
    token = client.get("/_consent/state", headers=headers).json()["csrf"]
    headers["x-csrf-token"] = token
    if body is None:
        response = client.delete("/_consent/state", headers=headers)
    else:
        response = client.post("/_consent/state", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def cookie_choice(settings: Settings, client: httpx.Client) -> Choice:
    choice = build_consent(settings, system_clock).policy.decode(client.cookies[CONSENT_COOKIE])
    assert choice is not None
    return choice


def test_every_choice_is_in_the_consent_log_with_an_intact_chain(
    demo_site: str, tmp_path: Path
) -> None:
    settings = make_settings(
        demo_site,
        tmp_path,
        trusted_proxies="127.0.0.1",
        geolocation="on",
        geoip_db=str(dbip_folder()),
    )
    browser = {
        "user-agent": FIREFOX,
        "sec-fetch-site": "same-origin",
        "x-forwarded-for": PUBLIC_UK_ADDRESS,
    }
    app = create_app(settings)
    with run_server(app) as url:
        with httpx.Client(base_url=url, headers=browser) as visitor:
            assert visitor.get("/_consent/state").json()["must_show"] is True  # shown
            choose(visitor, {"action": "accept_all"})
            choose(visitor, {"categories": {"analytics": True, "marketing": False}})
            choose(visitor, None)  # withdraw
            choose(visitor, {"action": "reject_all"})
            assert visitor.get("/_consent/state").json()["must_show"] is False  # not shown
            head = cookie_choice(settings, visitor)
        with httpx.Client(base_url=url, headers={**browser, "sec-gpc": "1"}) as other:
            assert other.get("/_consent/state").json()["must_show"] is True
            choose(other, {"action": "accept_all"})
            other_head = cookie_choice(settings, other)
    # The server has stopped: the writers flushed everything they had queued.
    db = Storage(settings.clickhouse_dsn).connect()
    entries = load_chain(db, head.consent_id)
    assert [entry.action for entry in entries] == ["accept_all", "custom", "withdraw", "reject_all"]
    assert [entry.seq for entry in entries] == [0, 1, 2, 3]
    assert [entry.categories for entry in entries] == [
        ("analytics", "marketing", "preferences"),
        ("analytics",),
        (),
        (),
    ]
    expected_hash = app.services.consent.log.config_hash
    for entry in entries:
        assert entry.ip == "81.2.69.0"  # truncated; the full address is nowhere
        assert (entry.browser, entry.country, entry.gpc) == ("Firefox", "GB", False)
        assert entry.revision == settings.policy_revision
        assert entry.config_hash == expected_hash
        assert entry.expires - entry.time == (settings.consent_lifetime_days + 31) * DAY
    report = verify_chain(entries, int(time.time()), head=head.head)
    assert report.ok, report.problems
    assert head.seq == 3 and head.head == entries[-1].hash

    (gpc_entry,) = load_chain(db, other_head.consent_id)
    assert gpc_entry.gpc is True and gpc_entry.action == "accept_all"
    assert verify_chain([gpc_entry], int(time.time()), head=other_head.head).ok

    counts = db.query(
        "SELECT outcome, categories, gpc, sum(count) FROM consent_counts "
        "GROUP BY outcome, categories, gpc ORDER BY outcome, gpc"
    ).result_rows
    assert [(str(o), list(c), bool(g), n) for o, c, g, n in counts] == [
        ("shown", [], False, 2),  # each GET while the banner must show: ours and choose()'s
        ("shown", [], True, 2),
        ("accept_all", ["analytics", "marketing", "preferences"], False, 1),
        ("accept_all", ["analytics", "marketing", "preferences"], True, 1),
        ("reject_all", [], False, 1),
        ("custom", ["analytics"], False, 1),
        ("withdraw", [], False, 1),
    ]
    everything = " ".join(str(row) for row in db.query("SELECT * FROM consent_log").result_rows)
    assert PUBLIC_UK_ADDRESS not in everything
    columns = {row[0] for row in db.query("DESCRIBE consent_counts").result_rows}
    assert columns == {"hour", "site", "outcome", "categories", "gpc", "count", "regime"}  # no id


def _chain(settings: Settings, actions: list[str], start: int) -> list[LogEntry]:
    """Entries as the consent API makes them: each choice follows the cookie's head."""
    log = build_consent(settings, system_clock).log
    previous: Choice | None = None
    entries = []
    for step, action in enumerate(actions):
        when = start + step * 60
        entry = log.entry("visitor-1", action, when, frozenset({"analytics"}), previous)
        entries.append(entry)
        previous = Choice("visitor-1", "1", frozenset(), when, entry.seq, entry.hash)
    return entries


@pytest.fixture
def stored_chain() -> tuple[Storage, list[LogEntry]]:
    storage = migrated_storage()
    settings = make_settings("http://127.0.0.1:1")
    start = int(time.time()) - 3600  # recent: the TTL would drop older rows at once
    entries = _chain(settings, ["accept_all", "custom", "withdraw", "accept_all"], start)
    client = storage.connect()
    body = b"\n".join(entry.line() for entry in entries)
    client.raw_insert("consent_log", None, body, fmt="JSONCompactEachRow")
    return storage, entries


def test_the_stored_chain_verifies(stored_chain: tuple[Storage, list[LogEntry]]) -> None:
    storage, entries = stored_chain
    loaded = load_chain(storage.connect(), "visitor-1")
    assert loaded == entries
    assert verify_chain(loaded, int(time.time()), head=entries[-1].hash).ok


def test_a_changed_entry_is_detected(stored_chain: tuple[Storage, list[LogEntry]]) -> None:
    storage, entries = stored_chain
    client = storage.connect()
    client.command(
        "ALTER TABLE consent_log UPDATE categories = ['analytics', 'marketing'] "
        "WHERE consent_id = 'visitor-1' AND seq = 1 SETTINGS mutations_sync = 2"
    )
    report = verify_chain(load_chain(client, "visitor-1"), int(time.time()), entries[-1].hash)
    assert report.problems == ["entry seq 1 was changed: its hash does not match it"]


def test_a_rewritten_entry_with_a_fresh_hash_breaks_the_next_link(
    stored_chain: tuple[Storage, list[LogEntry]],
) -> None:
    storage, entries = stored_chain
    client = storage.connect()
    forged = sealed(
        LogEntry(**{**_fields(entries[1]), "categories": ("analytics", "marketing"), "hash": ""})
    )
    client.command(
        "ALTER TABLE consent_log UPDATE categories = ['analytics', 'marketing'], "
        f"hash = '{forged.hash}' WHERE seq = 1 SETTINGS mutations_sync = 2"
    )
    report = verify_chain(load_chain(client, "visitor-1"), int(time.time()), entries[-1].hash)
    assert report.problems == ["entry seq 2 does not follow entry seq 1"]


def test_a_removed_entry_is_detected(stored_chain: tuple[Storage, list[LogEntry]]) -> None:
    storage, entries = stored_chain
    client = storage.connect()
    client.command("DELETE FROM consent_log WHERE seq = 2")
    report = verify_chain(load_chain(client, "visitor-1"), int(time.time()), entries[-1].hash)
    assert report.problems == ["entries seq 2 are missing"]


def test_removing_the_newest_entries_is_caught_by_the_cookie_head(
    stored_chain: tuple[Storage, list[LogEntry]],
) -> None:
    storage, entries = stored_chain
    client = storage.connect()
    client.command("DELETE FROM consent_log WHERE seq = 3")
    remaining = load_chain(client, "visitor-1")
    assert verify_chain(remaining, int(time.time())).ok  # the table alone cannot tell
    report = verify_chain(remaining, int(time.time()), head=entries[-1].hash)
    assert len(report.problems) == 1 and "newer entries are missing" in report.problems[0]


def test_a_chain_may_start_late_only_where_the_earlier_entries_have_expired() -> None:
    settings = make_settings("http://127.0.0.1:1")
    retention = settings.consent_log_retention_days * DAY
    now = 1_800_000_000
    # The first entry is older than the retention, so it is gone by TTL: fine.
    old = _chain(settings, ["accept_all", "custom"], now - retention - 120)
    assert verify_chain(old[1:], now).first_seq == 1
    assert verify_chain(old[1:], now).ok
    # A recent first entry cannot have expired: its absence is a removal.
    recent = _chain(settings, ["accept_all", "custom"], now - 3600)
    report = verify_chain(recent[1:], now)
    assert report.problems == ["entries before seq 1 are missing but cannot have expired yet"]


def test_two_entries_with_one_seq_are_reported_as_a_fork() -> None:
    settings = make_settings("http://127.0.0.1:1")
    first, second = _chain(settings, ["accept_all", "custom"], 1_700_000_000)
    log = build_consent(settings, system_clock).log
    replayed = Choice("visitor-1", "1", frozenset(), first.time, first.seq, first.hash)
    other = log.entry("visitor-1", "reject_all", first.time + 90, frozenset(), replayed)
    report = verify_chain([first, second, other], 1_700_001_000)
    assert report.problems == ["two entries have seq 1: the chain forks there"]


def test_consent_log_shorter_than_the_consent_lifetime_is_refused() -> None:
    settings = make_settings("http://127.0.0.1:1", consent_log_days="30")
    with pytest.raises(SettingsError, match="CG_CONSENT_LOG_DAYS"):
        build_consent(settings, system_clock)
    longer = make_settings("http://127.0.0.1:1", consent_log_days="400")
    assert longer.consent_log_retention_days == 400


def test_the_config_fingerprint_follows_the_banner_text_and_the_settings(tmp_path: Path) -> None:
    banner = tmp_path / "banner"
    banner.mkdir()
    (banner / "banner.js").write_text("Accept all / Reject all")
    settings = make_settings("http://127.0.0.1:1")
    first = config_fingerprint(settings, banner)
    assert config_fingerprint(settings, banner) == first
    (banner / "banner.js").write_text("Accept everything / Reject all")
    assert config_fingerprint(settings, banner) != first
    (banner / "banner.js").write_text("Accept all / Reject all")
    assert config_fingerprint(settings, banner) == first
    revised = make_settings("http://127.0.0.1:1", policy_revision="2")
    assert config_fingerprint(revised, banner) != first


def _fields(entry: LogEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in LogEntry.__dataclass_fields__}
