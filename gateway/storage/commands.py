"""``consent-gateway migrate``: apply the schema migrations and say which ran.

The gateway also migrates at every start-up, so this command is for operators
who want the schema in place before the first start, or on a new cluster node.
"""

from __future__ import annotations

import argparse

from gateway.commands import Command
from gateway.exceptions import StorageError
from gateway.settings import load_settings
from gateway.storage import Storage, storage_from_settings
from gateway.storage.migrator import migrate


def _migrate(args: argparse.Namespace) -> int:
    if args.dsn:
        storage = Storage(args.dsn, args.cluster or "")
    else:
        settings = load_settings(
            env_file=args.env_file,
            overrides={"clickhouse_cluster": args.cluster},
        )
        storage = storage_from_settings(settings)
    try:
        applied = migrate(storage)
    except StorageError as error:
        print(f"consent-gateway migrate: {error}")
        return 1
    if applied:
        print(f"Applied migrations {', '.join(f'{v:04d}' for v in applied)} to {storage!r}.")
    else:
        print(f"The schema of {storage!r} is up to date.")
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="a ClickHouse DSN, instead of the settings")
    parser.add_argument("--cluster", help="a cluster name: run the DDL ON CLUSTER")
    parser.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")


MIGRATE = Command(
    "migrate",
    help="create or update the ClickHouse tables",
    description="Apply the schema migrations not yet recorded in schema_migrations. "
    "Safe to run twice. Uses CG_CLICKHOUSE_DSN and CG_CLICKHOUSE_CLUSTER (with the "
    "rest of the settings) unless --dsn is given.",
    arguments=_arguments,
    handler=_migrate,
)
