"""``consent-gateway token create|list|revoke``: the stats API's bearer tokens.

Each one's work is an action (:mod:`gateway.commands`): it runs here, or inside
the running gateway when that owns the embedded ClickHouse. ``create`` prints the
token once; only its hash is stored. ``create`` names the sites the token reads
(``--site``, repeated) or gives ``--all-sites``; a deployment of several sites
refuses a token with neither. Creating and revoking are audited, with the actor
``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import sys

from gateway.audit import cli_actor, record_audit
from gateway.commands import Action, Command, Context, Payload, run_command
from gateway.exceptions import CommandError
from gateway.settings import load_settings
from gateway.sites import site_ids
from gateway.stats.tokens import (
    ApiToken,
    checked_scope,
    create_token,
    list_tokens,
    revoke_token,
)


def _listed(token: ApiToken) -> Payload:
    return {
        "id": token.id,
        "name": token.name,
        "created": token.created.isoformat(),
        "created_by": token.created_by,
        "revoked": token.revoked.isoformat() if token.revoked else None,
        "sites": list(token.sites),
        "all_sites": token.all_sites,
        "scope": token.scope,
    }


def create_command(context: Context, payload: Payload) -> Payload:
    storage, actor = context.storage, str(payload.get("actor", "cli"))
    given = payload.get("sites") or []
    if not isinstance(given, list):
        raise CommandError("sites must be a list of site ids.")
    all_sites = payload.get("all_sites") is True
    sites = checked_scope([str(site) for site in given], all_sites, site_ids(context.settings))
    row, token = create_token(
        storage, str(payload.get("name", "")), actor, sites=sites, all_sites=all_sites
    )
    record_audit(storage, actor, "token.create", row.id, detail=f"{row.name} ({row.scope})")
    return {**_listed(row), "token": token}


def list_command(context: Context, payload: Payload) -> Payload:
    return {"tokens": [_listed(token) for token in list_tokens(context.storage)]}


def revoke_command(context: Context, payload: Payload) -> Payload:
    storage, actor = context.storage, str(payload.get("actor", "cli"))
    row = revoke_token(storage, str(payload.get("id", "")))
    record_audit(storage, actor, "token.revoke", row.id, detail=row.name)
    return _listed(row)


def _handle(args: argparse.Namespace) -> int:
    payload: Payload = {"actor": cli_actor()}
    if args.action == "create":
        payload |= {"name": args.name, "sites": args.site or [], "all_sites": args.all_sites}
    elif args.action == "revoke":
        payload["id"] = args.id
    try:
        settings = load_settings(env_file=args.env_file)
        result = run_command(settings, TOKEN.action(f"token.{args.action}"), payload)
    except CommandError as error:
        print(f"consent-gateway token {args.action}: {error}", file=sys.stderr)
        return 1
    if args.action == "create":
        print(
            f"Created token {result['id']} ({result['name']}, reads {result['scope']}). "
            "Keep it now: it is not shown again."
        )
        print(result["token"])
    elif args.action == "revoke":
        print(f"Revoked token {result['id']} ({result['name']}); it is refused from now on.")
    else:
        for token in result["tokens"]:
            state = f"revoked {token['revoked'][:19]}" if token["revoked"] else "active"
            print(
                f"{token['id']}  {token['name']:<30} created {token['created'][:19]} "
                f"by {token['created_by']:<20} {state:<27} {token['scope']}"
            )
        if not result["tokens"]:
            print("No tokens yet; create one with: consent-gateway token create NAME")
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser(
        "create", help="create a token and print it once", description="Create a token."
    )
    create.add_argument("name", help="what the token is for, e.g. 'grafana'")
    reach = create.add_mutually_exclusive_group()
    reach.add_argument(
        "--site", action="append", metavar="SITE", help="a site id the token reads (repeat)"
    )
    reach.add_argument(
        "--all-sites", action="store_true", help="the token reads every site the gateway serves"
    )
    sub.add_parser("list", help="list tokens (never the tokens themselves)", description="List.")
    revoke = sub.add_parser("revoke", help="revoke a token by its id", description="Revoke one.")
    revoke.add_argument("id", help="the token's id, as `token list` shows it")


TOKEN = Command(
    "token",
    help="manage stats API tokens",
    description="Create, list and revoke bearer tokens for the stats API "
    "(/api/v1/stats/ on the admin listener). Works while the gateway runs.",
    arguments=_arguments,
    handler=_handle,
    actions=(
        Action("token.create", create_command),
        Action("token.list", list_command),
        Action("token.revoke", revoke_command),
    ),
)
