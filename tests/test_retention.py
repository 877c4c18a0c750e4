"""Retention, proven on the real engine, and the operator's commands from the real CLI.

The report reads each table's TTL from ClickHouse itself; a row past its limit
is made by pausing TTL merges (``SYSTEM STOP TTL MERGES``), as a busy or
stopped server would, and the verdict turns back once the TTL runs.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.analytics.events import visitor_key
from gateway.app import create_app
from gateway.cli import main
from gateway.consent.proof import load_chain, verify_chain
from gateway.exceptions import SettingsError
from gateway.privacy.retention import apply_analytics_retention, check_retention, retention_report
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.chdb import migrated_storage
from tests.conftest import TEST_KEY, make_settings
from tests.servers import run_server

UTC = dt.UTC
COLUMNS = ["time", "site", "kind", "session_id", "path"]


def tables(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {table["table"]: table for table in report["tables"]}


def test_report_shows_every_tables_ttl_and_oldest_row() -> None:
    storage = migrated_storage()
    settings = make_settings("http://127.0.0.1:1", clickhouse_dsn=storage.dsn)
    client = storage.connect()
    now = dt.datetime.now(UTC)
    client.insert("events", [[now - dt.timedelta(days=3), "s", "pageview", 1, "/"]], COLUMNS)
    report = retention_report(storage, settings)
    found = tables(report)
    assert found["events"]["ttl"] == "toDateTime(time) + 1 month"
    assert 2.9 < found["events"]["oldest_age_days"] < 3.1
    assert found["events"]["limit_days"] == 32  # a month and one daily partition
    assert found["sessions_agg"]["ttl"] == "start_date + 1 month"
    assert found["consent_log"]["ttl"] == "per row, at expires"
    assert found["consent_counts"]["ttl"] == "hour + 13 months"
    assert found["consent_counts"]["limit_days"] == 13 * 31 + 31  # monthly partitions
    assert report["all_within_limits"] is True
    assert report["analytics_retention"] == "one month" and report["override"] is None


def test_a_row_past_its_ttl_is_reported_until_the_ttl_runs() -> None:
    storage = migrated_storage()
    settings = make_settings("http://127.0.0.1:1", clickhouse_dsn=storage.dsn)
    client = storage.connect()
    client.command("SYSTEM STOP TTL MERGES events")
    old = dt.datetime.now(UTC) - dt.timedelta(days=40)
    client.insert("events", [[old, "s", "pageview", 1, "/old"]], COLUMNS)
    report = retention_report(storage, settings)
    assert tables(report)["events"]["within_limit"] is False
    assert report["all_within_limits"] is False
    client.command("SYSTEM START TTL MERGES events")
    client.command("ALTER TABLE events MATERIALIZE TTL SETTINGS mutations_sync = 2")
    report = retention_report(storage, settings)
    assert tables(report)["events"]["oldest_row"] is None
    assert report["all_within_limits"] is True


def test_a_shorter_analytics_retention_is_applied_to_the_tables() -> None:
    storage = migrated_storage()
    settings = make_settings("http://127.0.0.1:1", clickhouse_dsn=storage.dsn)
    client = storage.connect()
    now = dt.datetime.now(UTC)
    rows = [[now - dt.timedelta(days=10), "s", "pageview", 1, "/ten-days"]]
    rows.append([now, "s", "pageview", 2, "/today"])
    client.insert("events", rows, COLUMNS)
    shorter = make_settings(
        "http://127.0.0.1:1", clickhouse_dsn=storage.dsn, analytics_retention_days="7"
    )
    changed = ["events", "sessions_agg", "stats_daily", "funnel_days"]
    assert apply_analytics_retention(storage, shorter) == changed
    assert apply_analytics_retention(storage, shorter) == []  # already so
    client.command("ALTER TABLE events MATERIALIZE TTL SETTINGS mutations_sync = 2")
    assert client.query("SELECT path FROM events").result_rows == [("/today",)]
    found = tables(retention_report(storage, shorter))
    assert found["events"]["ttl"] == "toDateTime(time) + 7 days"
    assert found["sessions_agg"]["ttl"] == "start_date + 7 days"
    # The recent rollup's refreshes go after minutes whatever the retention (0009).
    assert found["stats_recent"]["ttl"] == "toDateTime(upto) + 10 minutes"
    assert found["stats_recent"]["limit_days"] == 1.01  # and a day's grace, as every table
    # The merged windows go 54 hours after their last day (0010), whatever the retention.
    assert found["stats_window"]["ttl"] == "toDateTime(last_day, 'UTC') + 54 hours"
    assert found["stats_window"]["limit_days"] == 3.25
    assert apply_analytics_retention(storage, settings) == changed  # back
    assert tables(retention_report(storage, settings))["events"]["limit_days"] == 32


def test_longer_than_a_month_needs_the_documented_override(tmp_path: Path) -> None:
    longer = make_settings("http://127.0.0.1:1", analytics_retention_days="60")
    with pytest.raises(SettingsError, match="CG_ANALYTICS_RETENTION_OVERRIDE"):
        check_retention(longer)
    with pytest.raises(SettingsError, match="longer than one month"):
        create_app(longer)  # refused before anything listens
    make_settings("http://127.0.0.1:1", analytics_retention_days="28")  # the shortest month: ok
    check_retention(make_settings("http://127.0.0.1:1", analytics_retention_days="28"))
    held = make_settings(
        "http://127.0.0.1:1",
        analytics_retention_days="60",
        analytics_retention_override="legal hold, case 2026-17",
    )
    check_retention(held)
    storage = Storage(held.clickhouse_dsn)
    from gateway.storage.migrator import migrate

    migrate(storage)
    apply_analytics_retention(storage, held)
    report = retention_report(storage, held)
    assert report["override"] == "legal hold, case 2026-17"
    assert tables(report)["events"]["ttl"] == "toDateTime(time) + 60 days"


def env_file(tmp_path: Path, upstream: str, dsn: str) -> Path:
    path = tmp_path / "cli.env"
    path.write_text(
        f"CG_UPSTREAM={upstream}\nCG_SECRET_KEY={TEST_KEY}\nCG_CLICKHOUSE_DSN={dsn}\n"
        f"CG_DATA_DIR={tmp_path}\nCG_GEOLOCATION=off\nCG_FLUSH_INTERVAL=0.1\n"
        "CG_TRUSTED_PROXIES=127.0.0.1\n"
    )
    return path


def test_operator_export_and_erase_while_the_gateway_runs(
    demo_site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1")
    env = str(env_file(tmp_path, demo_site, settings.clickhouse_dsn))
    app = create_app(settings)
    headers = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin"}
    with run_server(app) as url, httpx.Client(base_url=url, headers=headers) as browser:
        token = browser.get("/_consent/state").json()["csrf"]
        browser.post(
            "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
        )
        for path in ("/", "/courses"):
            browser.get(path, headers={"sec-fetch-dest": "document", "accept": "text/html"})
        app.services.analytics.flush()
        app.services.consent.log.flush()
        page = browser.get("/_consent/privacy").text
        consent_id = page.split("<code id=consent-id>")[1].split("<")[0]

        capsys.readouterr()
        assert main(["export", f"--consent-id={consent_id}", "--env-file", env]) == 0
        exported = json.loads(capsys.readouterr().out)
        assert sorted(v["path"] for v in exported["visits"]) == ["/", "/courses"]
        assert [e["action"] for e in exported["consent_history"]] == ["accept_all"]
        out = tmp_path / "visits.csv"
        args = ["export", f"--consent-id={consent_id}", "--format", "csv", "--output", str(out)]
        assert main([*args, "--env-file", env]) == 0
        assert out.read_text().splitlines()[0].startswith("time,kind,path")

        assert main(["erase", f"--consent-id={consent_id}", "--env-file", env]) == 0
        said = capsys.readouterr().out
        assert "events 2" in said and "seq 1" in said
        assert "/courses" not in browser.get("/_consent/privacy").text

    db = Storage(settings.clickhouse_dsn).connect()
    key = visitor_key(consent_id)
    assert db.command("SELECT count() FROM events") == 0
    assert db.command("SELECT count() FROM sessions") == 0
    chain = load_chain(db, consent_id)
    assert [entry.action for entry in chain] == ["accept_all", "erase"]
    assert verify_chain(chain, int(dt.datetime.now(UTC).timestamp())).ok
    audit = db.query("SELECT action, target FROM audit_log ORDER BY time").result_rows
    assert [(a, t) for a, t in audit] == [
        ("privacy.export", key),
        ("privacy.export", key),
        ("privacy.erase", key),
    ]
    assert consent_id not in " ".join(str(row) for row in audit)


def test_cli_errors_are_sentences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = str(env_file(tmp_path, "http://127.0.0.1:1", migrated_storage().dsn))
    assert main(["erase", "--consent-id", "x;drop", "--env-file", env]) == 1
    assert "A consent id is 8 to 64 letters" in capsys.readouterr().err


def test_retention_and_notice_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = str(env_file(tmp_path, "http://127.0.0.1:1", migrated_storage().dsn))
    capsys.readouterr()
    assert main(["retention", "--env-file", env]) == 0
    text = capsys.readouterr().out
    assert "events" in text and "toDateTime(time) + 1 month" in text
    assert "Every table is within its limit." in text
    assert main(["retention", "--json", "--env-file", env]) == 0
    assert json.loads(capsys.readouterr().out)["all_within_limits"] is True

    assert main(["notice", "--site-url", "https://school.example", "--env-file", env]) == 0
    notice = capsys.readouterr().out
    assert notice.startswith("## Cookies and analytics")
    assert "https://school.example/_consent/privacy" in notice
    assert "first 24 bits (IPv4) or 48 bits (IPv6)" in notice
    assert "Analytics: one month" in notice and "214 days" in notice
    assert "after 30 minutes of inactivity" in notice
    assert main(["notice", "--format", "html", "--env-file", env]) == 0
    html_notice = capsys.readouterr().out
    assert (
        "<h2>Cookies and analytics</h2>" in html_notice and "<code>cg_consent</code>" in html_notice
    )


def test_an_erasure_waits_while_the_visitors_events_are_spooled(tmp_path: Path) -> None:
    from gateway.analytics.spool import Spool
    from gateway.analytics.writer import EventWriter
    from gateway.exceptions import StorageError
    from gateway.privacy.erasure import settle_writer
    from tests.servers import free_port

    away = Storage(f"http://default:x@127.0.0.1:{free_port()}/db", connect_timeout=0.5)
    writer = EventWriter(away, Spool(tmp_path / "spool"), flush_interval=3600)
    writer.put(b'["2026-11-22 10:00:00","s","pageview"]')
    with pytest.raises(StorageError, match="still spooled"):
        settle_writer(writer)  # the erasure job retries instead of deleting too early
    assert writer.spool.pending
    settle_writer(None)  # no writer (analytics not open): nothing to wait for
