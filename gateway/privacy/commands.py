"""The operator's side of visitors' rights: ``erase``, ``export``, ``retention``, ``notice``.

``erase`` and ``export`` serve requests that arrive by email, quoting the consent
id the visitor's privacy page shows. They are actions (:mod:`gateway.commands`),
so they also work while a gateway owns the embedded engine. They are written to
the audit log under the visitor key, never the consent id. The dashboard's
privacy pages (:mod:`gateway.admin.privacy_pages`) call these same commands.
``notice`` ends with the cookie declaration, read from the inventory by an action.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.analytics.events import visitor_key
from gateway.audit import cli_actor, record_audit
from gateway.commands import Action, Command, Context, Payload, run_command
from gateway.consent import declaration
from gateway.consent.commands import cookies
from gateway.consent.inventory import InventoryEntry
from gateway.exceptions import CommandError
from gateway.privacy import store
from gateway.privacy.erasure import operator_erase
from gateway.privacy.notice import OPERATOR_NOTE, outline, to_html, to_markdown
from gateway.privacy.retention import format_report, retention_report
from gateway.settings import Settings, load_settings
from gateway.sites import site_settings

FORMATS = ("json", "csv")
PARTS = ("visits", "consent")


def erase(context: Context, payload: Payload) -> Payload:
    store.known_consent_id(context.storage, payload.get("consent_id"))  # a typo logs nothing
    result = operator_erase(context, payload)
    record_audit(
        context.storage,
        str(payload.get("actor", "cli")),
        "privacy.erase",
        visitor_key(result["consent_id"]),
        ip=str(payload.get("ip", "")),
        detail=json.dumps(result["deleted"]),
    )
    return result


def export(context: Context, payload: Payload) -> Payload:
    storage = context.storage
    form, part = payload.get("format", "json"), payload.get("part", "visits")
    if form not in FORMATS or part not in PARTS:
        raise CommandError(f"format is one of {', '.join(FORMATS)}; part one of {PARTS}.")
    consent_id, _ = store.known_consent_id(storage, payload.get("consent_id"))
    client = storage.connect()
    try:
        if form == "json":
            content = store.dumps(store.export(client, consent_id, datetime.now(UTC)))
        elif part == "visits":
            content = store.visits_csv(client, consent_id)
        else:
            content = store.consent_csv(client, consent_id)
    finally:
        client.close()
    record_audit(
        storage,
        str(payload.get("actor", "cli")),
        "privacy.export",
        visitor_key(consent_id),
        ip=str(payload.get("ip", "")),
        detail=f"{form} {part}",
    )
    return {"content": content}


def retention(context: Context, payload: Payload) -> Payload:
    return retention_report(context.storage, context.settings)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(env_file=args.env_file)


def _run(args: argparse.Namespace, action: Action, payload: Payload) -> Payload | None:
    try:
        return run_command(_settings(args), action, {"actor": cli_actor(), **payload})
    except CommandError as error:
        print(f"consent-gateway {args.command}: {error}", file=sys.stderr)
        return None


def _erase(args: argparse.Namespace) -> int:
    result = _run(args, ERASE.action("privacy.erase"), {"consent_id": args.consent_id})
    if result is None:
        return 1
    rows = ", ".join(f"{table} {count}" for table, count in result["deleted"].items())
    print(f"Erased the visitor with consent id {result['consent_id']} (rows deleted: {rows}).")
    print(f"Logged as consent log entry seq {result['logged']['seq']}.")
    return 0


def _export(args: argparse.Namespace) -> int:
    payload = {"consent_id": args.consent_id, "format": args.format, "part": args.part}
    result = _run(args, EXPORT.action("privacy.export"), payload)
    if result is None:
        return 1
    if args.output:
        Path(args.output).write_text(result["content"], encoding="utf-8")
        print(f"Wrote {args.output}.")
    else:
        sys.stdout.write(result["content"])
    return 0


def _retention(args: argparse.Namespace) -> int:
    report = _run(args, RETENTION.action("privacy.retention"), {})
    if report is None:
        return 1
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["all_within_limits"] else 3


def notice_cookies(context: Context, payload: Payload) -> Payload:
    """The ``privacy.notice`` action: the inventory, for the notice's cookie declaration."""
    return cookies(context, {"site": payload.get("site", "")})


def _notice(args: argparse.Namespace) -> int:
    deployment = _settings(args)
    settings = site_settings(deployment, args.site)
    blocks = outline(settings, args.site_url)
    html = args.format == "html"
    sys.stdout.write(to_html(blocks) if html else to_markdown(blocks))
    try:
        action = NOTICE.action("privacy.notice")
        found = run_command(deployment, action, {"site": args.site})["cookies"]
    except CommandError as error:
        print(f"consent-gateway notice: no cookie declaration: {error}", file=sys.stderr)
    else:
        fields = set(InventoryEntry.__dataclass_fields__)
        entries = [InventoryEntry(**{k: v for k, v in e.items() if k in fields}) for e in found]
        sys.stdout.write(
            declaration.to_html(entries, "en", "h3")
            if html
            else "\n" + declaration.to_markdown(entries)
        )
    print(OPERATOR_NOTE, file=sys.stderr)
    return 0


# Consent ids are URL-safe base64 and one in 64 starts with "-", which argparse
# takes for an option after a space: "--consent-id=ID" always works.
CONSENT_ID_HELP = "the visitor's consent id; write --consent-id=ID (an id may start with '-')"
ENV_FILE_HELP = "a .env file to read (default .env)"


def _erase_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consent-id", required=True, help=CONSENT_ID_HELP)
    parser.add_argument("--env-file", default=".env", help=ENV_FILE_HELP)


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consent-id", required=True, help=CONSENT_ID_HELP)
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--part", choices=PARTS, default="visits", help="for CSV")
    parser.add_argument("--output", help="a file to write instead of standard output")
    parser.add_argument("--env-file", default=".env", help=ENV_FILE_HELP)


def _retention_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--env-file", default=".env", help=ENV_FILE_HELP)


def _notice_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("markdown", "html"), default="markdown")
    parser.add_argument("--site-url", default="", help="the site's public URL")
    parser.add_argument(
        "--site", default="", help="the site, with a sites file (default: the first)"
    )
    parser.add_argument("--env-file", default=".env", help=ENV_FILE_HELP)


ERASE = Command(
    "erase",
    help="erase one visitor's analytics data",
    description="Delete every analytics row of the visitor with this consent id (the "
    "privacy page shows it), append an erasure entry to the consent log and audit it. "
    "Works while the gateway runs.",
    arguments=_erase_arguments,
    handler=_erase,
    actions=(Action("privacy.erase", erase),),
)
EXPORT = Command(
    "export",
    help="export one visitor's data (JSON or CSV)",
    description="Print (or write to --output) the visitor's analytics rows and consent "
    "history. JSON holds both; CSV holds one part at a time (--part).",
    arguments=_export_arguments,
    handler=_export,
    actions=(Action("privacy.export", export),),
)
RETENTION = Command(
    "retention",
    help="show each table's TTL and the age of its oldest row",
    description="Report, for each ClickHouse table, its TTL as the database has it and "
    "the age of its oldest row, and whether it is within its limit (exit status 3 if "
    "not).",
    arguments=_retention_arguments,
    handler=_retention,
    actions=(Action("privacy.retention", retention),),
)
NOTICE = Command(
    "notice",
    help="print the cookie and analytics part of a privacy notice",
    description="Write the cookie and analytics section of a privacy policy from the "
    "running configuration: cookies, categories, what is collected, truncation, "
    "retention, rights and the privacy page URL, then the cookie declaration from the "
    "inventory. Works while the gateway runs.",
    arguments=_notice_arguments,
    handler=_notice,
    actions=(Action("privacy.notice", notice_cookies),),
)
