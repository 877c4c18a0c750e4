"""``consent-gateway user add|list|remove|set-role|set-sites|reset-password``.

Each subcommand's work is an action (:mod:`gateway.commands`): it runs in this
process, or inside the running gateway when that owns the embedded ClickHouse.
The password is read here (a prompt, or ``--password-stdin``) and hashed here,
so only its argon2 hash ever travels to the gateway. Every change is written to
the audit log with the actor ``cli:<os user>``. ``--site`` (repeated) makes an
account of those sites only; without it an account reaches every site.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from gateway.admin import accounts
from gateway.admin.passwords import check_strength, hash_password
from gateway.audit import cli_actor, record_audit
from gateway.commands import Action, Command, Context, Payload, command_settings, run_command
from gateway.exceptions import CommandError
from gateway.site_scope import named_sites
from gateway.sites import site_ids


def _hash_of(payload: Payload) -> str:
    value = str(payload.get("password_hash", ""))
    if not value.startswith("$argon2"):
        raise CommandError("The password hash must be an argon2 hash.")
    return value


def _sites_of(context: Context, payload: Payload) -> tuple[str, ...]:
    given = payload.get("sites") or []
    if not isinstance(given, list):
        raise CommandError("sites must be a list of site ids.")
    return named_sites((str(site) for site in given), site_ids(context.settings))


def add(context: Context, payload: Payload) -> Payload:
    storage = context.storage
    email = accounts.normalize_email(str(payload.get("email", "")))
    role = accounts.check_role(str(payload.get("role", "")))
    sites = _sites_of(context, payload)
    accounts.add_user(storage, email, role, _hash_of(payload), sites)
    detail = f"{role} of {','.join(sites)}" if sites else role
    record_audit(storage, str(payload.get("actor", "cli")), "user.add", email, detail=detail)
    return {"email": email, "role": role, "sites": list(sites)}


def list_(context: Context, payload: Payload) -> Payload:
    users = accounts.list_users(context.storage)
    return {
        "users": [
            {
                "email": user.email,
                "role": user.role,
                "sites": list(user.sites),
                "created": user.created.isoformat(),
            }
            for user in users
        ]
    }


def set_sites(context: Context, payload: Payload) -> Payload:
    storage = context.storage
    email = accounts.normalize_email(str(payload.get("email", "")))
    sites = _sites_of(context, payload)
    accounts.set_sites(storage, email, sites)
    detail = ",".join(sites) or "all sites"
    record_audit(storage, str(payload.get("actor", "cli")), "user.set_sites", email, detail=detail)
    return {"email": email, "sites": list(sites)}


def remove(context: Context, payload: Payload) -> Payload:
    storage = context.storage
    email = accounts.normalize_email(str(payload.get("email", "")))
    accounts.remove_user(storage, email)
    record_audit(storage, str(payload.get("actor", "cli")), "user.remove", email)
    return {"email": email}


def set_role(context: Context, payload: Payload) -> Payload:
    storage = context.storage
    email = accounts.normalize_email(str(payload.get("email", "")))
    role = accounts.check_role(str(payload.get("role", "")))
    accounts.set_role(storage, email, role)
    record_audit(storage, str(payload.get("actor", "cli")), "user.set_role", email, detail=role)
    return {"email": email, "role": role}


def reset_password(context: Context, payload: Payload) -> Payload:
    storage = context.storage
    email = accounts.normalize_email(str(payload.get("email", "")))
    accounts.set_password_hash(storage, email, _hash_of(payload))
    record_audit(storage, str(payload.get("actor", "cli")), "user.reset_password", email)
    return {"email": email}


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a prompt."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise CommandError("The two passwords differ; nothing was changed.")
    problem = check_strength(password)
    if problem:
        raise CommandError(problem + " Nothing was changed.")
    return password


def _handle(args: argparse.Namespace) -> int:
    payload: Payload = {"actor": cli_actor()}
    if getattr(args, "email", None):
        payload["email"] = args.email
    if getattr(args, "role", None):
        payload["role"] = args.role
    if getattr(args, "site", None):
        payload["sites"] = args.site
    try:
        if args.user_command in ("add", "reset-password"):
            accounts.normalize_email(args.email)  # before asking for a password
            payload["password_hash"] = hash_password(read_password(args.password_stdin))
        action = USER.action("user." + args.user_command.replace("-", "_"))
        result = run_command(command_settings(args.env_file, args.data_dir), action, payload)
    except CommandError as error:
        print(f"consent-gateway user {args.user_command}: {error}", file=sys.stderr)
        return 1
    _report(args.user_command, result)
    return 0


def _report(command: str, result: Payload) -> None:
    if command == "list":
        users = result["users"]
        for user in users:
            sites = ",".join(user.get("sites") or []) or "every site"
            print(
                f"{user['email']:<40} {user['role']:<7} {sites:<20} created {user['created'][:19]}"
            )
        if not users:
            print("No accounts yet; add one with: consent-gateway user add EMAIL --role admin")
        return
    reach = ", ".join(result.get("sites") or []) or "every site"
    of = f" of {reach}" if result.get("sites") else ""
    said = {
        "add": f"Added {result['email']} as {result.get('role')}{of}.",
        "set-sites": f"{result['email']} now reaches {reach}.",
        "remove": f"Removed {result['email']}; their open sessions end at their next request.",
        "set-role": f"{result['email']} is now {result.get('role')}.",
        "reset-password": f"Changed the password of {result['email']}; their sessions end.",
    }
    print(said[command])


def _arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")
    common.add_argument(
        "--data-dir", help="the gateway's data folder (default CG_DATA_DIR), e.g. ./demo-data"
    )
    sub = parser.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add_parser = sub.add_parser(
        "add", help="add an account", description="Add an account.", parents=[common]
    )
    add_parser.add_argument("email")
    add_parser.add_argument("--role", required=True, choices=accounts.ROLES)
    add_parser.add_argument(
        "--site",
        action="append",
        metavar="SITE",
        help="a site id the account reaches (repeat for more; default: every site)",
    )
    sub.add_parser(
        "list", help="list the accounts", description="List the accounts.", parents=[common]
    )
    remove_parser = sub.add_parser(
        "remove", help="remove an account", description="Remove one.", parents=[common]
    )
    remove_parser.add_argument("email")
    role_parser = sub.add_parser(
        "set-role", help="change a role", description="Change a role.", parents=[common]
    )
    role_parser.add_argument("email")
    role_parser.add_argument("role", choices=accounts.ROLES)
    sites_parser = sub.add_parser(
        "set-sites",
        help="change the sites an account reaches",
        description="Make an account reach the sites named with --site, or every site.",
        parents=[common],
    )
    sites_parser.add_argument("email")
    reach = sites_parser.add_mutually_exclusive_group(required=True)
    reach.add_argument("--site", action="append", metavar="SITE", help="a site id (repeat)")
    reach.add_argument("--all-sites", action="store_true", help="every site the gateway serves")
    reset = sub.add_parser(
        "reset-password",
        help="set a new password",
        description="Set a new password.",
        parents=[common],
    )
    reset.add_argument("email")
    for needs_password in (add_parser, reset):
        needs_password.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input instead of a prompt",
        )


USER = Command(
    "user",
    help="manage dashboard accounts",
    description="Add, list, remove dashboard accounts and change their role, sites or password. "
    "Works while the gateway runs: the command then goes through its admin listener.",
    arguments=_arguments,
    handler=_handle,
    actions=(
        Action("user.add", add),
        Action("user.list", list_),
        Action("user.remove", remove),
        Action("user.set_role", set_role),
        Action("user.set_sites", set_sites),
        Action("user.reset_password", reset_password),
    ),
)
