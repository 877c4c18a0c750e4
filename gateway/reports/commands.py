"""``consent-gateway report send|preview``: one report now, by hand.

``send --period month --to a@example.org`` sends the last whole month's report
(or the period holding ``--date``) to the addresses given, through the mail
server of ``CG_SMTP_URL``; ``preview`` prints it (text, or ``--html``) and sends
nothing. ``--site`` names the site, ``--trust`` asks for the trust's report (every
site side by side and in total). Both are actions (:mod:`gateway.commands`): inside
a running gateway that owns the embedded ClickHouse they run there, with its
settings.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime

from gateway.audit import cli_actor
from gateway.commands import Action, Command, Context, Payload, command_settings, run_command
from gateway.exceptions import BadStatsQuery, CommandError, ReportError
from gateway.reports.figures import Period, last_complete, period_of, read_report
from gateway.reports.lists import PERIODS, TRUST, parse_recipients
from gateway.reports.sending import send_report
from gateway.reports.trust import read_trust_report
from gateway.reports.trust_render import AnyReport, html_of, subject_of, text_of
from gateway.reports.unsubscribe import Unsubscribe
from gateway.sites import site_id

PREVIEW_LINK = "(the recipient's unsubscribe link)"


def _period(payload: Payload) -> Period:
    kind = str(payload.get("period", "month"))
    if kind not in PERIODS:
        raise CommandError(f"--period is week or month, not {kind[:20]!r}.")
    day = str(payload.get("date") or "")
    if not day:
        return last_complete(kind, datetime.now(UTC))
    try:
        return period_of(kind, date.fromisoformat(day))
    except ValueError:
        raise CommandError(f"--date is a day written YYYY-MM-DD, not {day[:40]!r}.") from None


def send_action(context: Context, payload: Payload) -> Payload:
    """The ``report.send`` action: the report to the given addresses, now."""
    settings, storage = context.settings, context.storage
    try:
        recipients = parse_recipients(" ".join(str(to) for to in payload.get("to", [])))
    except BadStatsQuery as error:
        raise CommandError(f"--to: {error}") from None
    period = _period(payload)
    site = str(payload.get("site") or site_id(settings))
    links = Unsubscribe(settings)
    actor = str(payload.get("actor", "cli"))
    try:
        report = send_report(storage, settings, links, site, period, recipients, actor=actor)
    except ReportError as error:
        raise CommandError(str(error)) from None
    return {"subject": subject_of(report), "recipients": list(recipients)}


def preview_action(context: Context, payload: Payload) -> Payload:
    """The ``report.preview`` action: the report's subject and bodies, sent to nobody."""
    site = str(payload.get("site") or site_id(context.settings))
    period = _period(payload)
    report: AnyReport = (
        read_trust_report(context.storage, context.settings, period)
        if site == TRUST
        else read_report(context.storage, context.settings, site, period)
    )
    return {
        "subject": subject_of(report),
        "text": text_of(report, PREVIEW_LINK),
        "html": html_of(report, PREVIEW_LINK),
    }


def _handle(args: argparse.Namespace) -> int:
    payload: Payload = {
        "actor": cli_actor(),
        "period": args.period,
        "date": args.date,
        "site": TRUST if args.trust else args.site,
    }
    if args.action == "send":
        payload["to"] = args.to
    try:
        settings = command_settings(args.env_file)
        result = run_command(settings, REPORT.action(f"report.{args.action}"), payload)
    except CommandError as error:
        print(f"consent-gateway report {args.action}: {error}", file=sys.stderr)
        return 1
    if args.action == "send":
        print(f"Sent {result['subject']!r} to {', '.join(result['recipients'])}.")
    else:
        print(result["html"] if args.html else f"Subject: {result['subject']}\n\n{result['text']}")
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = sub.add_parser(
        "send",
        help="send a report now",
        description="Send a report now through CG_SMTP_URL, from CG_REPORT_FROM.",
    )
    preview = sub.add_parser(
        "preview", help="print a report, send nothing", description="Print a report."
    )
    for each in (send, preview):
        each.add_argument("--period", choices=PERIODS, default="month", help="week or month")
        each.add_argument(
            "--date", help="a day in the period to report (default: the last whole one)"
        )
        which = each.add_mutually_exclusive_group()
        which.add_argument("--site", help="the site (default: CG_SITE_ID or the upstream's host)")
        which.add_argument(
            "--trust", action="store_true", help="the trust's report: every site, and the total"
        )
    send.add_argument(
        "--to", action="append", required=True, help="an address (repeat for several)"
    )
    preview.add_argument("--html", action="store_true", help="print the HTML body")


REPORT = Command(
    "report",
    help="send or preview an email report",
    description="Send a weekly or monthly report by email now, or print one. Scheduled "
    "reports go to the lists admins keep on the dashboard. Works while the gateway runs.",
    arguments=_arguments,
    handler=_handle,
    actions=(Action("report.send", send_action), Action("report.preview", preview_action)),
)
