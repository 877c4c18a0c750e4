"""Cluster mode's DDL, for every migration file there is (today's and any added later).

With ``CG_CLICKHOUSE_CLUSTER`` set, each MergeTree table becomes a
``Replicated*`` table ``<name>_local`` on every node, with the same TTL as on
a single node, and a ``Distributed`` table ``<name>`` in front of it, all
``ON CLUSTER``; materialized views work node-locally; plain views, the writers
and every query use the distributed names. No cluster runs in the tests, so
the rendered text is what is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.analytics.writer import EventWriter
from gateway.storage.migrator import _TABLE_DDL, load_migrations, render

CLUSTER = "cg_cluster"
DATABASE = "cg"
GATEWAY = Path(__file__).resolve().parents[1] / "gateway"

_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_ENGINE = re.compile(r"ENGINE = (\w+)")
_TTL = re.compile(r"^TTL (.+)$", re.MULTILINE)
_DISTRIBUTED = re.compile(r"Distributed\((\w+), (\w+), (\w+)(?:, .+)?\)")


def rendered(cluster: str) -> list[tuple[str, str]]:
    """(migration file, statement) for every statement that runs on this kind of deployment."""
    out = []
    for migration in load_migrations():
        label = f"{migration.version:04d}_{migration.name}"
        for statement in migration.statements:
            sql = render(statement, DATABASE, cluster)
            if sql is not None:
                out.append((label, sql))
    return out


def tables(statements: list[tuple[str, str]]) -> dict[str, tuple[str, str, str]]:
    """name -> (file, engine, statement) of every CREATE TABLE."""
    found = {}
    for label, sql in statements:
        name = _CREATE_TABLE.search(sql)
        engine = _ENGINE.search(sql)
        if name and engine:
            found[name.group(1)] = (label, engine.group(1), sql)
    return found


def ttl(sql: str) -> str | None:
    match = _TTL.search(sql)
    return match.group(1).strip() if match else None


SINGLE = rendered("")
ON_CLUSTER = rendered(CLUSTER)


def test_there_are_migrations_to_check() -> None:
    assert len({label for label, _ in SINGLE}) == len(load_migrations()) >= 2


@pytest.mark.parametrize(("label", "sql"), ON_CLUSTER)
def test_every_cluster_statement_runs_on_cluster(label: str, sql: str) -> None:
    assert f"ON CLUSTER {CLUSTER}" in sql, f"{label}: a statement without ON CLUSTER:\n{sql}"


@pytest.mark.parametrize(("label", "sql"), SINGLE)
def test_single_node_statements_have_nothing_of_a_cluster(label: str, sql: str) -> None:
    for word in ("ON CLUSTER", "Replicated", "Distributed", "_local"):
        assert word not in sql, f"{label}: {word} on a single node:\n{sql}"


def test_merge_tree_tables_are_replicated_local_tables_with_the_same_ttl() -> None:
    single = tables(SINGLE)
    cluster = tables(ON_CLUSTER)
    merge_trees = {name: row for name, row in single.items() if row[1].endswith("MergeTree")}
    assert {"events", "sessions_agg"} <= set(merge_trees)
    for name, (label, engine, sql) in merge_trees.items():
        local = f"{name}_local"
        assert local in cluster, f"{label}: {name} has no {local} on a cluster"
        _, cluster_engine, cluster_sql = cluster[local]
        assert cluster_engine == f"Replicated{engine}", f"{label}: {local} is not replicated"
        assert ttl(cluster_sql) == ttl(sql), f"{label}: {local}'s TTL differs from {name}'s"


def test_each_local_table_has_a_distributed_table_of_the_plain_name() -> None:
    single = tables(SINGLE)
    cluster = tables(ON_CLUSTER)
    for name, (label, engine, _) in single.items():
        if not engine.endswith("MergeTree"):
            continue
        assert name in cluster, f"{label}: no Distributed table {name} on a cluster"
        _, cluster_engine, sql = cluster[name]
        assert cluster_engine == "Distributed", f"{label}: {name} must be Distributed"
        assert f"AS {name}_local" in sql  # same columns as the local table
        target = _DISTRIBUTED.search(sql)
        assert target is not None
        assert target.groups() == (CLUSTER, DATABASE, f"{name}_local")


def test_materialized_views_stay_on_their_node_and_plain_views_read_every_shard() -> None:
    views = 0
    for label, sql in ON_CLUSTER:
        if "CREATE MATERIALIZED VIEW" in sql:
            views += 1
            source = re.search(r"\bFROM (\w+)", sql)
            target = re.search(r"\bTO (\w+)", sql)
            assert source and source.group(1).endswith("_local"), label
            assert target and target.group(1).endswith("_local"), label
        elif match := re.search(r"CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?(\w+)", sql):
            views += 1
            if match.group(1).endswith("_local"):
                continue  # a node's own rows, named so, for its materialized views only
            assert "_local" not in sql, f"{label}: a plain view reads one node only:\n{sql}"
    assert views >= 2


def test_the_migrations_table_is_replicated_on_a_cluster() -> None:
    sql = render(_TABLE_DDL, DATABASE, CLUSTER)
    assert sql is not None
    assert f"ON CLUSTER {CLUSTER}" in sql
    assert "ENGINE = ReplicatedReplacingMergeTree" in sql


def test_writers_and_queries_use_the_distributed_names() -> None:
    local_tables = {name for name in tables(ON_CLUSTER) if name.endswith("_local")}
    defaults = EventWriter.__init__.__kwdefaults__ or {}
    assert defaults["table"] == "events"
    assert "events" in tables(ON_CLUSTER) and tables(ON_CLUSTER)["events"][1] == "Distributed"
    # No module of the gateway names a node-local table: inserts and queries go through
    # the Distributed tables, which reach every shard.
    pattern = re.compile(r"\b(" + "|".join(sorted(local_tables)) + r")\b")
    for path in GATEWAY.rglob("*.py"):
        found = pattern.search(path.read_text())
        assert found is None, f"{path.relative_to(GATEWAY.parent)} names {found.group(1)}"
