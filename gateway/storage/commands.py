"""``consent-gateway migrate``: apply the schema migrations and say which ran.

The gateway also migrates at every start-up, so this command is for operators
who want the schema in place before the first start, or on a new cluster node.
Its work is an action (:mod:`gateway.commands`): while a gateway owns the
embedded engine's folder, the gateway runs it. It needs neither ``CG_UPSTREAM``
nor ``CG_SECRET_KEY``.
"""

from __future__ import annotations

import argparse
import sys

from gateway.commands import Action, Command, Context, Payload, command_settings, run_command
from gateway.exceptions import CommandError
from gateway.storage.migrator import migrate


def migrate_action(context: Context, payload: Payload) -> Payload:
    """The ``storage.migrate`` action: the versions applied now, and where."""
    return {"applied": migrate(context.storage), "storage": repr(context.storage)}


def _migrate(args: argparse.Namespace) -> int:
    settings = command_settings(
        args.env_file, clickhouse_dsn=args.dsn, clickhouse_cluster=args.cluster
    )
    try:
        result = run_command(settings, MIGRATE.action("storage.migrate"), {})
    except CommandError as error:
        print(f"consent-gateway migrate: {error}", file=sys.stderr)
        return 1
    applied = result["applied"]
    if applied:
        versions = ", ".join(f"{version:04d}" for version in applied)
        print(f"Applied migrations {versions} to {result['storage']}.")
    else:
        print(f"The schema of {result['storage']} is up to date.")
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", help="a ClickHouse DSN, instead of CG_CLICKHOUSE_DSN")
    parser.add_argument("--cluster", help="a cluster name: run the DDL ON CLUSTER")
    parser.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")


MIGRATE = Command(
    "migrate",
    help="create or update the ClickHouse tables",
    description="Apply the schema migrations not yet recorded in schema_migrations. "
    "Safe to run twice. Uses CG_CLICKHOUSE_DSN and CG_CLICKHOUSE_CLUSTER (with the "
    "rest of the settings) unless --dsn is given. Works while the gateway runs.",
    arguments=_arguments,
    handler=_migrate,
    actions=(Action("storage.migrate", migrate_action, migrate_first=False),),
)
