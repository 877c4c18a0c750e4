"""The trust's report as an email's two bodies, and the bodies of any report.

The key figures are one table, a column per site and the total last; a total
adds only the figures that pass k, and the sites it leaves out are named under
the table (as the trust's view names them). Then each site's top pages, then
the period's annotations of every site, each with its site. :func:`subject_of`,
:func:`html_of` and :func:`text_of` take a site's report or the trust's, so the
mailer, the command and the preview need not tell them apart.
"""

from __future__ import annotations

from gateway.reports.figures import Report
from gateway.reports.render import (
    Table,
    figure,
    html_body,
    html_document,
    row_label,
    subject,
    text_body,
    text_document,
)
from gateway.reports.trust import TrustReport

KEY = (
    ("Visitors", "traffic", "visitors"),
    ("Visits", "traffic", "visits"),
    ("Page views", "traffic", "pageviews"),
    ("Banner choices", "consent", "choices"),
    ("Accepted all", "consent", "acceptance_rate"),
    ("Rejected all", "consent", "rejection_rate"),
    ("Chose some", "consent", "custom_rate"),
)
# What the total of each rate is made from: the sites left out of those counts.
_LEFT_OUT_KEYS = {
    "visitors": "visitors",
    "visits": "visits",
    "pageviews": "pageviews",
    "choices": "consent.choices",
    "acceptance_rate": "consent.accepted",
    "rejection_rate": "consent.rejected",
    "custom_rate": "consent.custom",
}

AnyReport = Report | TrustReport


def trust_subject(report: TrustReport) -> str:
    """``Monthly report for the trust: April 2026``."""
    kind = "Weekly" if report.period.kind == "week" else "Monthly"
    return f"{kind} report for the trust: {report.period.label}"


def _tables(report: TrustReport) -> list[Table]:
    k, columns, summed = report.k, report.columns, report.summed
    heads = ["", *(c.site for c in columns), "Total"]
    key = [
        (
            label,
            [figure(name, getattr(c, part)[name], k) for c in columns]
            + [figure(name, summed[part][name], k)],
        )
        for label, part, name in KEY
    ]
    goals = [
        (
            f"Visit {goal}" if goal.startswith("/") else goal,
            [figure("visitors", c.goals[goal], k) if goal in c.goals else "-" for c in columns]
            + [figure("visitors", value, k)],
        )
        for goal, value in summed["goals"].items()
    ]
    tables: list[Table] = [("Key figures", key, heads), ("Goals (visitors)", goals, heads)]
    for site, rows in report.pages.items():
        pages = [
            (
                row_label(r["page"]),
                [figure("visitors", r["visitors"], k), figure("pageviews", r["pageviews"], k)],
            )
            for r in rows
        ]
        tables.append((f"Top pages of {site}", pages, ["Page", "Visitors", "Page views"]))
    return tables


def left_out(report: TrustReport) -> list[str]:
    """One line per figure whose total leaves sites out, naming them."""
    withheld: dict[str, list[str]] = report.summed["withheld_sites"]
    lines = []
    for label, _, name in KEY:
        sites = withheld.get(_LEFT_OUT_KEYS[name])
        if sites:
            lines.append(f"{label}: {', '.join(sites)}")
    for goal in report.summed["goals"]:
        sites = withheld.get(f"goal.{goal}")
        if sites:
            lines.append(f"Goal {goal}: {', '.join(sites)}")
    return lines


def _notes(report: TrustReport) -> list[str]:
    return [f"{note.day:%a %d %b} ({site}): {note.text}" for site, note in report.annotations]


def _all_tables(report: TrustReport) -> list[Table]:
    """The tables, with the sites each total leaves out after the key figures (when any)."""
    tables = _tables(report)
    rows = [(label, [sites]) for label, _, sites in (x.partition(": ") for x in left_out(report))]
    if rows:
        heading = f"Left out of the total (fewer than {report.k})"
        tables.insert(1, (heading, rows, ["Figure", "Sites"]))
    return tables


def trust_html(report: TrustReport, unsubscribe_url: str) -> str:
    """The trust's HTML body, built as a site's is."""
    return html_document(
        trust_subject(report),
        report.k,
        _all_tables(report),
        _notes(report),
        "the trust",
        unsubscribe_url,
    )


def trust_text(report: TrustReport, unsubscribe_url: str) -> str:
    """The trust's plain-text body."""
    tables = _all_tables(report)
    return text_document(
        trust_subject(report), report.k, tables, _notes(report), "the trust", unsubscribe_url
    )


def subject_of(report: AnyReport) -> str:
    """The subject of a site's report or the trust's."""
    return trust_subject(report) if isinstance(report, TrustReport) else subject(report)


def html_of(report: AnyReport, unsubscribe_url: str) -> str:
    """The HTML body of a site's report or the trust's."""
    if isinstance(report, TrustReport):
        return trust_html(report, unsubscribe_url)
    return html_body(report, unsubscribe_url)


def text_of(report: AnyReport, unsubscribe_url: str) -> str:
    """The plain-text body of a site's report or the trust's."""
    if isinstance(report, TrustReport):
        return trust_text(report, unsubscribe_url)
    return text_body(report, unsubscribe_url)
