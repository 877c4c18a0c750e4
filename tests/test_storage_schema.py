"""The schema on the real engine: migrations, the tables' shape, and the one-month TTL."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.exceptions import StorageUnavailable
from gateway.storage import Storage, embedded_dsn, storage_from_settings
from gateway.storage.client import dsn_database
from gateway.storage.migrator import load_migrations, migrate, render, split_statements
from gateway.storage.threads import thread_client
from tests.chdb import fresh_dsn, migrated_storage
from tests.conftest import make_settings

UTC = dt.UTC
ANALYTICS_TABLES = ("events", "sessions_agg")
# Tables that must not expire: dashboard accounts, stats API tokens, goals, funnels,
# annotations and report recipient lists live until removed.
KEPT_TABLES = ("users", "api_tokens", "goals", "funnels", "annotations", "report_lists")
# Tables that are not analytics and carry their own documented TTL (0003_consent.sql):
# the consent log keeps each entry until the date it records, CG_CONSENT_LOG_DAYS after
# the choice; the consent counts hold no identifier and are kept 13 months.
OWN_TTL = {
    "consent_log": "TTL expires",
    "consent_counts": "+ toIntervalMonth(13)",
    # The cookie inventory (0014_cookie_inventory.sql) holds names and counts, no visitor
    # data: a name not met for 13 months goes.
    "cookie_inventory": "TTL last_seen + toIntervalMonth(13)",
    # Third-party hosts browsers reported (0023_third_party_hosts.sql): hosts and
    # counts, kept like the cookie inventory.
    "third_party_hosts": "TTL last_seen + toIntervalMonth(13)",
    # Which report was claimed by whom (0019_annotations_and_reports.sql): no visitor data.
    "report_claims": "+ toIntervalMonth(13)",
    # The merged windows of the daily rollup (0007_stats_daily.sql) go 54 hours after
    # their last day (0010_stats_window_expiry.sql): a newer window has replaced them by
    # then, and none starts before the oldest day stats_daily still holds.
    "stats_window": "TTL toDateTime(last_day, 'UTC') + toIntervalHour(54)",
    # Each refresh of the recent rollup (0009_stats_recent.sql) goes 10 minutes after it
    # was made: a newer one, every five minutes, has replaced it.
    "stats_recent": "TTL toDateTime(upto) + toIntervalMinute(10)",
    # The anonymous history (0018_stats_history.sql): counts only, every row at or
    # above k, kept 25 months for year-on-year questions.
    "stats_history": "TTL day + toIntervalMonth(25)",
}


@pytest.fixture
def storage() -> Storage:
    return migrated_storage()


def test_migrations_apply_once_and_are_recorded() -> None:
    storage = Storage(fresh_dsn())
    versions = [migration.version for migration in load_migrations()]
    assert migrate(storage) == versions
    assert migrate(storage) == []  # safe to run twice
    client = storage.connect()
    rows = client.query("SELECT version, name FROM schema_migrations FINAL ORDER BY version")
    assert [row[0] for row in rows.result_rows] == versions
    assert [name for _, name in rows.result_rows] == [m.name for m in load_migrations()]


def test_every_analytics_table_expires_after_one_month_by_dropping_parts(storage: Storage) -> None:
    client = storage.connect()
    tables = client.query(
        "SELECT name, engine, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND engine LIKE '%MergeTree%' "
        "AND name != 'schema_migrations' AND name NOT IN {kept:Array(String)}",
        parameters={"kept": list(KEPT_TABLES)},
    ).result_rows
    assert {name for name, _, _ in tables} >= set(ANALYTICS_TABLES)
    assert {name for name, _, _ in tables} >= set(OWN_TTL)
    for name, _, ddl in tables:
        ttl = OWN_TTL.get(name, "+ toIntervalMonth(1) ")
        assert ttl in ddl, f"{name} has no {ttl!r} TTL"
        assert "ttl_only_drop_parts = 1" in ddl, f"{name} does not drop whole parts"
        assert "PARTITION BY" in ddl, f"{name} is not partitioned by day"


def test_events_layout_site_and_date_first_only_site_low_cardinality(storage: Storage) -> None:
    """``site`` leads the key as a LowCardinality column; the descriptive columns are
    plain strings, which cost the engine a quarter less per event written
    (0011_events_plain_strings.sql)."""
    client = storage.connect()
    (key,) = client.query(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'events'"
    ).result_rows[0]
    assert key.startswith("site, toDate(time)")
    types: dict[str, str] = dict(
        client.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'events'"
        ).result_rows  # type: ignore[arg-type]
    )
    assert types["site"] == "LowCardinality(String)"
    for column in ("country", "browser", "os", "device", "utm_source", "referrer_host", "name"):
        assert types[column] == "String", column
    for column in ("visitor_key", "ip", "prev_path", "referrer_host", "engagement_ms"):
        assert column in types


def test_the_tables_written_every_second_merge_ten_parts_at_a_time(storage: Storage) -> None:
    """A part a second in each (0012_merge_fewer_times.sql): merging parts once some
    ten of a size wait, not five, rewrites each row fewer times (the merge threads'
    CPU per page view fell by about a third in a gateway)."""
    client = storage.connect()
    for table in ANALYTICS_TABLES:
        (ddl,) = client.query(f"SHOW CREATE TABLE {table}").result_rows[0]
        assert "merge_selector_base = 10" in ddl, table


def test_rows_older_than_a_month_are_gone_after_ttl_recent_rows_stay(storage: Storage) -> None:
    client = storage.connect()
    now = dt.datetime.now(UTC)
    old = now - dt.timedelta(days=40)
    columns = ["time", "site", "kind", "session_id", "path"]
    client.insert("events", [[old, "s", "pageview", 1, "/old"]], column_names=columns)
    client.insert("events", [[old, "s", "pageview", 1, "/old-2"]], column_names=columns)
    client.insert("events", [[now, "s", "pageview", 2, "/new"]], column_names=columns)
    for table in ANALYTICS_TABLES:
        client.command(f"ALTER TABLE {table} MATERIALIZE TTL SETTINGS mutations_sync = 2")
    assert client.query("SELECT path FROM events").result_rows == [("/new",)]
    assert client.query("SELECT session_id, entry_page FROM sessions").result_rows == [(2, "/new")]
    partitions = client.query(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
        "AND table IN ('events', 'sessions_agg') AND active AND rows > 0"
    ).result_rows
    assert partitions == [(now.date().isoformat(),)]  # the old day's parts were dropped whole


def test_cluster_rendering_uses_on_cluster_replicated_and_distributed() -> None:
    single: list[str] = []
    cluster: list[str] = []
    for migration in load_migrations():
        for statement in migration.statements:
            for kind, out in (("", single), ("main", cluster)):
                sql = render(statement, "analytics", kind)
                if sql is not None:
                    out.append(sql)
    assert not any("ON CLUSTER" in sql or "Distributed" in sql for sql in single)
    joined = "\n".join(cluster)
    assert "CREATE TABLE IF NOT EXISTS events_local ON CLUSTER main" in joined
    assert "ENGINE = ReplicatedMergeTree" in joined
    assert "ENGINE = ReplicatedAggregatingMergeTree" in joined
    assert "Distributed(main, analytics, events_local, sipHash64(session_id))" in joined
    assert "FROM events_local" in joined  # the sessions view reads each node's own rows
    assert all("ON CLUSTER main" in sql for sql in cluster)


def test_statements_split_at_line_ending_semicolons() -> None:
    text = "-- a comment\nCREATE TABLE a (x String DEFAULT ';');\n\n-- only words;\nSELECT 1;\n"
    assert split_statements(text) == (
        "-- a comment\nCREATE TABLE a (x String DEFAULT ';')",
        "SELECT 1",
    )


def test_dsn_forms_and_the_default() -> None:
    assert dsn_database("chdb:///x/y?database=abc") == "abc"
    assert dsn_database("http://u:p@host:8123/stats") == "stats"
    assert dsn_database("chdb:///x/y") == "default"
    settings = make_settings("http://127.0.0.1:1", clickhouse_dsn="")
    assert storage_from_settings(settings).dsn == embedded_dsn(settings.data_dir)
    assert embedded_dsn("/srv/cg") == "chdb:///srv/cg/clickhouse"
    with pytest.raises(StorageUnavailable, match="plain"):
        dsn_database("chdb:///x?database=a;drop")


def test_unreachable_server_is_a_clear_error() -> None:
    from tests.servers import free_port

    storage = Storage(f"http://default:secret@127.0.0.1:{free_port()}/db", connect_timeout=1)
    with pytest.raises(StorageUnavailable, match="CG_CLICKHOUSE_DSN") as caught:
        storage.connect()
    assert "secret" not in str(caught.value)


def test_migrate_command(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    dsn = fresh_dsn()
    assert main(["migrate", "--dsn", dsn]) == 0
    assert "Applied migrations 0001" in capsys.readouterr().out
    assert main(["migrate", "--dsn", dsn]) == 0
    assert "up to date" in capsys.readouterr().out


def test_admin_queries_on_the_embedded_engine_skip_column_statistics(storage: Storage) -> None:
    # The dashboard's and the API's clients (one per worker thread) ask the embedded
    # engine not to load every part's column statistics (gateway/storage/threads.py).
    client = thread_client(storage)
    assert client.query("SELECT getSetting('use_statistics')").result_rows == [(False,)]
    assert thread_client(storage) is client
