"""Erased means gone from disk: wait until ClickHouse has removed the parts an erasure replaced.

A mutation (``ALTER TABLE ... DELETE``), a ``TRUNCATE`` or a dropped partition
removes no file at once: the replaced parts stay readable in the table's folder
for ``old_parts_lifetime`` and until the next cleanup. Migration ``0013`` sets
those low on every table that can hold a visitor's rows, and
:func:`wait_until_gone` waits until no replaced part is left, so an erasure job
says ``done`` only then. It asks the engine (``system.parts``, every node of a
cluster) rather than reading folders, so it also works for a remote server.
"""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client

from gateway.exceptions import StorageError
from gateway.privacy.store import visitor_tables
from gateway.storage import Storage

ROLLUP_TABLES = ("stats_daily", "stats_window", "stats_recent", "funnel_days")
"""Rolled-up tables an erasure empties and rolls up again (``funnel_days`` on demand): their
values hold paths or sketches of visitor keys."""

WAIT_SECONDS = 900.0  # a server left at old_parts_lifetime 480 and an idle cleanup of 300 s
POLL_SECONDS = 0.2


def wait_until_gone(storage: Storage, tables: list[str], *, timeout: float = WAIT_SECONDS) -> None:
    """Return once every part of ``tables`` replaced by now has left the disk.

    ``tables`` are MergeTree tables of the storage's database (``_local`` ones
    on a cluster). "Replaced by now": inactive, with a ``remove_time`` up to the
    engine's clock at the call, which covers every part an erasure just
    rewrote, truncated or dropped, and merges' sources from before it. Raises
    :class:`StorageError` if some are still there after ``timeout`` seconds.
    """
    if not tables:
        return
    client = storage.connect()
    try:
        cutoff = client.command("SELECT toUInt32(now())")
        deadline = time.monotonic() + timeout
        while (left := _left(client, storage, tables, int(cutoff))) > 0:  # type: ignore[arg-type]
            if time.monotonic() > deadline:
                raise StorageError(
                    f"{left} replaced parts still hold erased rows after {timeout:.0f} s; "
                    "check old_parts_lifetime on the analytics tables (migration 0013 sets 0)."
                )
            time.sleep(POLL_SECONDS)
    finally:
        client.close()


def _left(client: Client, storage: Storage, tables: list[str], cutoff: int) -> int:
    """How many inactive parts of ``tables`` with a remove time up to ``cutoff`` remain."""
    source = (
        f"clusterAllReplicas('{storage.cluster}', system.parts)"
        if storage.cluster
        else "system.parts"
    )
    return int(
        client.command(
            f"SELECT count() FROM {source} WHERE database = {{database:String}} "  # noqa: S608
            "AND table IN {tables:Array(String)} AND NOT active "
            "AND toUInt32(remove_time) <= {cutoff:UInt32}",
            parameters={"database": storage.database, "tables": tables, "cutoff": cutoff},
        )  # type: ignore[arg-type]
    )


def erasure_tables(client: Client, cluster: str) -> list[str]:
    """Every table an erasure rewrites: the visitor tables and the rollups rolled up again."""
    suffix = "_local" if cluster else ""
    tables = {table for table, _ in visitor_tables(client)}
    return sorted(tables | {f"{name}{suffix}" for name in ROLLUP_TABLES})
