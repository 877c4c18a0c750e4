"""Versioned schema migrations: ``.sql`` files applied in order, each once.

Adding a table is adding ``NNNN_what.sql`` to ``gateway/storage/migrations/``
with the next free number; ``consent-gateway migrate`` and every start-up apply
it once and record it in ``schema_migrations``. Write each statement with
``IF NOT EXISTS`` (so an interrupted migration can run again) and end it with
``;`` at the end of a line. One file serves a single node and a cluster through
these ``string.Template`` placeholders (``$$`` for a literal dollar):

    ${on_cluster}   ``ON CLUSTER <name>`` on a cluster, empty on a single node
    ${replicated}   ``Replicated`` on a cluster (``${replicated}MergeTree``)
    ${local}        ``_local`` on a cluster: the per-node table behind a
                    Distributed table of the plain name; empty on a single node
    ${cluster}      the cluster name, for ``Distributed(${cluster}, ...)``
    ${database}     the database the DSN names

A statement whose first line is ``-- cluster only`` runs only on a cluster;
``-- single node only`` the reverse. Every analytics table must carry
``TTL <time> + INTERVAL 1 MONTH DELETE`` and ``ttl_only_drop_parts = 1``, which
``tests/test_storage_schema.py`` checks of every table; the consent tables are
not analytics and carry their own TTL, which that test names.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

from clickhouse_connect.driver.client import Client

from gateway.exceptions import MigrationError
from gateway.storage.client import Storage

logger = logging.getLogger("gateway.storage")

MIGRATIONS_TABLE = "schema_migrations"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)

_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations ${on_cluster}
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime DEFAULT now()
)
ENGINE = ${replicated}ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: its number, name, checksum and statements (still templated)."""

    version: int
    name: str
    checksum: str
    statements: tuple[str, ...]


def load_migrations(package: str = "gateway.storage.migrations") -> list[Migration]:
    """Every migration file shipped in ``package``, in version order."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _FILE.match(entry.name)
        if not match:
            if entry.name.endswith(".sql"):
                raise MigrationError(
                    f"The migration file {entry.name!r} is not named NNNN_name.sql; rename it."
                )
            continue
        text = entry.read_text(encoding="utf-8")
        found.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                checksum=hashlib.sha256(text.encode()).hexdigest()[:16],
                statements=split_statements(text),
            )
        )
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"Two migration files share a version number: {versions}.")
    return found


def split_statements(text: str) -> tuple[str, ...]:
    """The statements of a file: split at ``;`` ending a line, blank ones dropped."""
    parts = (part.strip() for part in _STATEMENT_END.split(text))
    return tuple(part for part in parts if _without_comments(part))


def _without_comments(statement: str) -> str:
    return "\n".join(
        line for line in statement.splitlines() if not line.strip().startswith("--")
    ).strip()


def render(statement: str, database: str, cluster: str) -> str | None:
    """The statement for this deployment, or ``None`` when it is for the other kind."""
    first = statement.lstrip().splitlines()[0].strip().lower() if statement.strip() else ""
    if first == "-- cluster only" and not cluster:
        return None
    if first == "-- single node only" and cluster:
        return None
    values = {
        "on_cluster": f"ON CLUSTER {cluster}" if cluster else "",
        "replicated": "Replicated" if cluster else "",
        "local": "_local" if cluster else "",
        "cluster": cluster,
        "database": database,
    }
    try:
        return Template(statement).substitute(values)
    except (KeyError, ValueError) as error:
        raise MigrationError(
            f"A migration statement uses an unknown placeholder ({error}); the known ones "
            f"are {', '.join('${' + key + '}' for key in values)}."
        ) from None


def applied_versions(client: Client) -> dict[int, str]:
    """The versions recorded in ``schema_migrations`` and their checksums."""
    result = client.query(f"SELECT version, checksum FROM {MIGRATIONS_TABLE} FINAL")  # noqa: S608
    return {int(version): str(checksum) for version, checksum in result.result_rows}


def migrate(storage: Storage, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now.

    Safe to run twice, and from two processes at once: statements are
    idempotent and the table of record keeps one row per version.
    """
    migrations = load_migrations() if migrations is None else migrations
    client = storage.connect()
    try:
        ddl = render(_TABLE_DDL, storage.database, storage.cluster)
        assert ddl is not None
        client.command(ddl)
        done = applied_versions(client)
        applied: list[int] = []
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    logger.warning(
                        "migration %04d_%s changed after it was applied; it is not re-run",
                        migration.version,
                        migration.name,
                    )
                continue
            _apply(client, storage, migration)
            applied.append(migration.version)
        return applied
    finally:
        client.close()


def _apply(client: Client, storage: Storage, migration: Migration) -> None:
    for statement in migration.statements:
        sql = render(statement, storage.database, storage.cluster)
        if sql is None:
            continue
        try:
            client.command(sql)
        except Exception as error:
            raise MigrationError(
                f"Migration {migration.version:04d}_{migration.name} failed: {error}"
            ) from error
    client.insert(
        MIGRATIONS_TABLE,
        [[migration.version, migration.name, migration.checksum]],
        column_names=["version", "name", "checksum"],
    )
    logger.info("applied migration %04d_%s", migration.version, migration.name)
