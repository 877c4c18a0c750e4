"""Sending one report: read its figures once, then one message per recipient.

Both the scheduler and ``consent-gateway report send`` come through here, so a
report sent by hand is the one the schedule sends. Every send is audited
(``report.send``), failures too, with the recipients' count but not their
addresses, which the lists already hold. The site :data:`~gateway.reports.lists.TRUST`
sends the trust's report (:mod:`gateway.reports.trust`).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.audit import record_audit
from gateway.exceptions import ReportError
from gateway.reports.figures import Period, read_report
from gateway.reports.lists import TRUST
from gateway.reports.mailer import compose, send
from gateway.reports.trust import read_trust_report
from gateway.reports.trust_render import AnyReport
from gateway.reports.unsubscribe import Unsubscribe
from gateway.settings import Settings
from gateway.storage import Storage


def send_report(
    storage: Storage,
    settings: Settings,
    links: Unsubscribe,
    site: str,
    period: Period,
    recipients: Sequence[str],
    *,
    list_id: str = "",
    actor: str = "scheduler",
) -> AnyReport:
    """Send the report of ``site`` (the trust's for :data:`TRUST`) for ``period`` to each
    of ``recipients`` (blocking).

    ``list_id`` is the list they are on (its unsubscribe link takes them off it),
    empty for a report sent by hand, whose link takes them off every list of the
    site. Raises :class:`ReportError` when the mail server fails.
    """
    report: AnyReport = (
        read_trust_report(storage, settings, period)
        if site == TRUST
        else read_report(storage, settings, site, period)
    )
    target = f"{site}/{list_id or 'by hand'}/{period.kind} {period.first}"
    try:
        messages = [
            compose(settings, report, to, links.link(site, list_id, to)) for to in recipients
        ]
        send(settings, messages)
    except ReportError as error:
        record_audit(storage, actor, "report.send", target, outcome="failed", detail=str(error))
        raise
    detail = f"{len(recipients)} recipient{'s' if len(recipients) != 1 else ''}"
    record_audit(storage, actor, "report.send", target, detail=detail)
    return report
