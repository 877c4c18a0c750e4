"""``consent-gateway consent verify`` and ``consent-gateway cookies``.

``consent verify``: the consent log's hash chains, checked and put in words.

For an auditor's question ("show that this visitor consented, and that the record
is untouched") the operator verifies one consent id; ``--all`` checks every chain
with an entry in a period. The check is an action (:mod:`gateway.commands`), so it
also runs while a gateway owns the embedded engine. The exit status is 3 when a
chain is broken, as ``retention`` uses 3 for a table past its limit.

``cookies``: the cookie inventory, unknown names first. Inside the gateway the
listing first writes what it has counted in memory; each name is classified by
the rules in force now, and an unknown one gets a suggested category and the
``CG_COOKIE_RULES`` entry that would settle it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.commands import Action, Command, Context, Payload, command_settings, run_command
from gateway.consent.cookie_rules import CookieClassifier
from gateway.consent.host_inventory import describe_host, ordered_hosts, read_hosts
from gateway.consent.inventory import describe, ordered, read_inventory
from gateway.consent.proof import COLUMNS, ChainReport, entry_from_row, load_chain, verify_chain
from gateway.consent.state import NECESSARY, check_consent_id
from gateway.consent.third_parties import ThirdParties
from gateway.exceptions import CommandError
from gateway.sites import site_id, site_settings

BATCH = 1000  # consent ids read and verified at a time, so memory stays bounded
SHOWN_BROKEN = 100  # broken chains listed in full; the count is always exact
BROKEN = 3


def _report(report: ChainReport) -> Payload:
    return {**asdict(report), "state": report.state, "summary": report.summary()}


def _day(value: object, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CommandError(
            f"--{name} is a date written YYYY-MM-DD, not {str(value)[:40]!r}."
        ) from None


def verify(context: Context, payload: Payload) -> Payload:
    """The ``consent.verify`` action: one consent id's report, or every chain's in a period."""
    now = int(time.time())
    client = context.storage.connect()
    try:
        if not payload.get("all"):
            consent_id = check_consent_id(payload.get("consent_id"))
            return {"reports": [_report(verify_chain(load_chain(client, consent_id), now))]}
        since, until = _day(payload.get("since"), "since"), _day(payload.get("until"), "until")
        return _verify_all(client, now, since, until)
    finally:
        client.close()


def _verify_all(client: Any, now: int, since: date | None, until: date | None) -> Payload:
    start = datetime.combine(since or date(1970, 1, 2), datetime.min.time(), UTC)
    end = datetime.combine(until or date(2999, 1, 1), datetime.min.time(), UTC) + timedelta(1)
    ids = [
        str(row[0])
        for row in client.query(
            "SELECT DISTINCT consent_id FROM consent_log WHERE time >= {start:DateTime} "
            "AND time < {end:DateTime} ORDER BY consent_id",
            parameters={"start": start, "end": end},
        ).result_rows
    ]
    counts = {"intact": 0, "erased": 0, "broken": 0}
    broken: list[Payload] = []
    for first in range(0, len(ids), BATCH):
        chains: dict[str, list[Any]] = {}
        result = client.query(
            f"SELECT {', '.join(COLUMNS)} FROM consent_log "  # noqa: S608 - fixed column names
            "WHERE consent_id IN {ids:Array(String)} ORDER BY consent_id, seq, time",
            parameters={"ids": ids[first : first + BATCH]},
        )
        for row in result.named_results():
            chains.setdefault(str(row["consent_id"]), []).append(entry_from_row(row))
        for consent_id, entries in chains.items():
            report = verify_chain(entries, now, consent_id=consent_id)
            counts[report.state] += 1
            if not report.ok and len(broken) < SHOWN_BROKEN:
                broken.append(_report(report))
    period = {"since": since.isoformat() if since else None}
    period["until"] = until.isoformat() if until else None
    return {"checked": len(ids), **counts, "broken_chains": broken, **period}


def _print_all(result: Payload) -> None:
    since, until = result["since"], result["until"]
    period = (
        f" with an entry from {since or 'the start'} to {until or 'today'}"
        if since or until
        else ""
    )
    print(
        f"Checked {result['checked']} consent ids{period}: "
        f"{result['intact'] + result['erased']} intact ({result['erased']} of them erased), "
        f"{result['broken']} broken."
    )
    for report in result["broken_chains"]:
        print(f"{report['consent_id']}: {report['summary']}")
    if result["broken"] > len(result["broken_chains"]):
        print(f"... and {result['broken'] - len(result['broken_chains'])} more broken chains.")


def _verify(args: argparse.Namespace) -> int:
    if args.all == bool(args.consent_id):
        print("consent-gateway consent verify: give --consent-id=ID or --all.", file=sys.stderr)
        return 2
    if args.consent_id and (args.since or args.until):
        print("consent-gateway consent verify: --since and --until go with --all.", file=sys.stderr)
        return 2
    payload: Payload = {"consent_id": args.consent_id, "all": args.all}
    payload |= {"since": args.since, "until": args.until}
    try:
        result = run_command(command_settings(args.env_file), VERIFY, payload)
    except CommandError as error:
        print(f"consent-gateway consent verify: {error}", file=sys.stderr)
        return 1
    if args.all:
        _print_all(result)
        return BROKEN if result["broken"] else 0
    report = result["reports"][0]
    if report["state"] == "empty":
        print(
            f"consent-gateway consent verify: the consent log holds no entry for "
            f"{report['consent_id'] or args.consent_id}. Check the id against the visitor's "
            "privacy page; entries older than CG_CONSENT_LOG_DAYS are already gone.",
            file=sys.stderr,
        )
        return 1
    print(f"{report['consent_id']}: {report['summary']}")
    return BROKEN if report["state"] == "broken" else 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "verify",
        help="check the consent log's hash chains",
        description="Walk one visitor's consent log entries (--consent-id=ID), or every chain "
        "with an entry in a period (--all, --since, --until), and say in words whether each "
        "is intact, erased or broken. Exit status 3 if a chain is broken. Works while the "
        "gateway runs.",
    )
    check.add_argument(
        "--consent-id",
        help="the visitor's consent id; write --consent-id=ID (an id may start with '-')",
    )
    check.add_argument("--all", action="store_true", help="every consent id (see --since)")
    check.add_argument("--since", help="with --all: chains with an entry on or after YYYY-MM-DD")
    check.add_argument("--until", help="with --all: chains with an entry on or before YYYY-MM-DD")
    check.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")


def _handle(args: argparse.Namespace) -> int:
    return {"verify": _verify}[args.consent_command](args)


VERIFY = Action("consent.verify", verify)
CONSENT = Command(
    "consent",
    help="verify the proof of consent",
    description="Check the consent log: 'consent verify --consent-id=ID' or "
    "'consent verify --all [--since DATE] [--until DATE]'.",
    arguments=_arguments,
    handler=_handle,
    actions=(VERIFY,),
)


# -- consent-gateway cookies ----------------------------------------------------------


def cookies(context: Context, payload: Payload) -> Payload:
    """The ``consent.cookies`` action: every name in the inventory, described."""
    if context.flush_events is not None:
        context.flush_events()  # inside the gateway: what it counted in memory first
    settings = site_settings(context.settings, str(payload.get("site") or ""))
    classifier = CookieClassifier(settings.cookie_rules, settings.cookie_default_category)
    site = site_id(settings)
    client = context.storage.connect()
    try:
        observed = read_inventory(client, site)
        reported = read_hosts(client, site)
    finally:
        client.close()
    entries = ordered([describe(classifier, name, seen) for name, seen in observed.items()])
    parties = ThirdParties(settings.third_party_rules, {NECESSARY, *settings.consent_categories})
    hosts = ordered_hosts([describe_host(parties, h, seen) for h, seen in reported.items()])
    if payload.get("unknown"):
        entries = [entry for entry in entries if entry.unknown]
        hosts = [host for host in hosts if host.unknown]
    return {
        "site": site,
        "cookies": [{**asdict(entry), "unknown": entry.unknown} for entry in entries],
        "third_party_hosts": [{**asdict(host), "unknown": host.unknown} for host in hosts],
    }


def lifetime_text(seconds: int) -> str:
    """A lifetime as the table prints it: ``session``, ``30m``, ``12h``, ``395d`` or ``-``."""
    if seconds < 0:
        return "-"
    if seconds == 0:
        return "session"
    if seconds < 7200:
        return f"{max(1, round(seconds / 60))}m"
    if seconds < 172_800:
        return f"{round(seconds / 3600)}h"
    return f"{round(seconds / 86400)}d"


def format_table(result: Payload) -> str:
    """The inventory as tables for a terminal: cookies, with a hint for each unknown name,
    then the third-party hosts browsers reported."""
    return _cookie_table(result) + _host_table(result.get("third_party_hosts") or [])


def _columns(lines: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [min(40, max(len(line[i]) for line in lines)) for i in range(len(lines[0]))]
    return [
        "  ".join(cell[:40].ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]


def _host_table(rows: list[Payload]) -> str:
    if not rows:
        return ""
    lines = [("THIRD-PARTY HOST", "PROVIDER", "CATEGORY", "REPORTS", "LAST")]
    for row in rows:
        last = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["last_seen"]))
        known = (row["provider"], row["category"]) if not row["unknown"] else ("-", "unknown")
        lines.append((row["host"], *known, str(row["reports"]), last))
    out = ["", "Hosts pages contacted before consent, as browsers reported them:", ""]
    out += _columns(lines)
    unknown = [row["host"] for row in rows if row["unknown"]]
    if unknown:
        rules = ",".join(f"{host}=marketing" for host in unknown[:20])
        out += ["", f"{len(unknown)} unknown: to hold them back, CG_THIRD_PARTY_RULES={rules}"]
    return "\n".join(out) + "\n"


def _cookie_table(result: Payload) -> str:
    rows = result["cookies"]
    if not rows:
        return f"No cookie met yet on {result['site']}.\n"
    header = ("NAME", "CATEGORY", "SOURCE", "PROVIDER", "LIFETIME", "PASSED", "BLOCKED", "LAST")
    lines = [header]
    for row in rows:
        category = f"unknown ({row['category']})" if row["unknown"] else row["category"]
        last = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["last_seen"]))
        counts = (lifetime_text(row["lifetime"]), str(row["passed"]), str(row["blocked"]))
        lines.append((row["name"], category, row["source"], row["provider"] or "-", *counts, last))
    out = _columns(lines)
    unknown = [row for row in rows if row["unknown"]]
    if unknown:
        rules = ",".join(f"{row['name']}={row['suggested']}" for row in unknown[:20])
        out.append("")
        out.append(
            f"{len(unknown)} unknown: each counts as {unknown[0]['category']} until a rule "
            f"names it. Suggested: CG_COOKIE_RULES={rules}"
        )
    return "\n".join(out) + "\n"


def _cookies(args: argparse.Namespace) -> int:
    try:
        payload = {"unknown": args.unknown, "site": args.site}
        result = run_command(command_settings(args.env_file), LIST, payload)
    except CommandError as error:
        print(f"consent-gateway cookies: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(result, indent=2) + "\n" if args.json else format_table(result))
    return 0


def _cookies_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unknown", action="store_true", help="only names no rule knows")
    parser.add_argument(
        "--site", default="", help="the site, with a sites file (default: the first)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")


LIST = Action("consent.cookies", cookies)
COOKIES = Command(
    "cookies",
    help="list every cookie the gateway has met",
    description="Print the cookie inventory: each name met in the site's Set-Cookie or a "
    "browser's Cookie header, its category and where it comes from (operator rule, "
    "built-in, database, default), provider, lifetime, and how often it passed and was "
    "blocked; unknown names first, with a suggested category. Works while the gateway runs.",
    arguments=_cookies_arguments,
    handler=_cookies,
    actions=(LIST,),
)
