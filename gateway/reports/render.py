"""A report as an email's two bodies: HTML for mail clients, plain text beside it.

The HTML is what mail clients render reliably: tables for layout, inline
styles, no stylesheet, image, script or web font, nothing fetched. Both bodies
show the same figures; a figure the k rule withholds reads "fewer than k", a
comparison the data cannot make reads "no data".
"""

from __future__ import annotations

import html
from typing import Any

from gateway.reports.figures import KEY_METRICS, Comparison, Report
from gateway.stats import OTHER

NAMES = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Page views",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
}
NO_DATA = "no data"
_CELL = "padding:6px 10px;border-bottom:1px solid #e3e6ea;font-size:14px;"
_NUM = _CELL + "text-align:right;white-space:nowrap;"
_HEAD = (
    "padding:6px 10px;text-align:left;font-size:12px;color:#5b6470;border-bottom:2px solid #c9ced6;"
)
_H2 = "font-size:16px;margin:24px 0 8px;color:#1f2933;"


def figure(metric: str, value: Any, k: int) -> str:
    """One figure as people read it: ``40%``, ``1m 18s``, ``1,234``; withheld under k."""
    if value is None:
        return f"fewer than {k}"
    if metric == "bounce_rate" or metric.endswith("_rate") or metric == "opt_in":
        return f"{value:g}%"
    if metric == "visit_duration":
        minutes, seconds = divmod(int(value), 60)
        return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
    return f"{int(value):,}"


def movement(metric: str, compared: Comparison) -> str:
    """The change against another period: ``+50%``, ``-4 pts`` (bounce rate), ``no data``."""
    if compared.no_data:
        return NO_DATA
    if compared.change is None:
        return "withheld"
    unit = " pts" if metric == "bounce_rate" else "%"
    return f"{compared.change:+g}{unit}"


def subject(report: Report) -> str:
    kind = "Weekly" if report.period.kind == "week" else "Monthly"
    return f"{kind} report for {report.site}: {report.period.label}"


Table = tuple[str, list[tuple[str, list[str]]], list[str]]  # title, rows, column heads


def row_label(value: Any) -> str:
    return "(other, each under k)" if value == OTHER else str(value)


def _rows(report: Report) -> list[Table]:
    """Each table of the report: title, rows (label, cells), column heads."""
    k = report.k
    key = [
        (
            NAMES[m],
            [
                figure(m, report.totals[m], k),
                movement(m, report.against_previous[m]),
                movement(m, report.against_last_year[m]),
            ],
        )
        for m in KEY_METRICS
    ]
    pages = [
        (
            row_label(r["page"]),
            [figure("visitors", r["visitors"], k), figure("pageviews", r["pageviews"], k)],
        )
        for r in report.pages
    ]
    sources = [
        (
            row_label(r["source"]),
            [figure("visitors", r["visitors"], k), figure("visits", r["visits"], k)],
        )
        for r in report.sources
    ]
    goals = [
        (
            str(r["goal"]),
            [
                figure("visitors", r["visitors"], k),
                figure("conversion_rate", r["conversion_rate"], k),
            ],
        )
        for r in report.goals
    ]
    c = report.consent
    consent = [
        ("Banner shown", [figure("shown", c["shown"], k)]),
        ("Choices made", [figure("choices", c["choices"], k)]),
        ("Accepted all", [figure("acceptance_rate", c["acceptance_rate"], k)]),
        ("Rejected all", [figure("rejection_rate", c["rejection_rate"], k)]),
        ("Chose some", [figure("custom_rate", c["custom_rate"], k)]),
        *((f"Allowed {name}", [figure("opt_in", rate, k)]) for name, rate in c["opt_in"].items()),
    ]
    return [
        ("Key figures", key, ["", "This period", "Previous period", "Same period last year"]),
        ("Top pages", pages, ["Page", "Visitors", "Page views"]),
        ("Top sources", sources, ["Source", "Visitors", "Visits"]),
        ("Goals", goals, ["Goal", "Visitors", "Conversion"]),
        ("Consent", consent, ["", "This period"]),
    ]


def html_body(report: Report, unsubscribe_url: str) -> str:
    """The HTML body: one centred table, inline styles only."""
    notes = [f"{note.day:%a %d %b}: {note.text}" for note in report.annotations]
    return html_document(
        subject(report), report.k, _rows(report), notes, report.site, unsubscribe_url
    )


def text_body(report: Report, unsubscribe_url: str) -> str:
    """The plain-text body: the same tables, in aligned columns."""
    notes = [f"{note.day:%a %d %b}: {note.text}" for note in report.annotations]
    return text_document(
        subject(report), report.k, _rows(report), notes, report.site, unsubscribe_url
    )


def html_document(
    title: str, k: int, tables: list[Table], notes: list[str], covers: str, url: str
) -> str:
    """An HTML report: ``tables``, then the annotations (``notes``), then the unsubscribe
    link, saying the recipient was added by an administrator of ``covers``."""
    e = html.escape
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title></head>"
        '<body style="margin:0;padding:0;background:#f4f5f7;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="background:#f4f5f7;"><tr><td align="center" style="padding:16px;">'
        '<table role="main" width="640" cellpadding="0" cellspacing="0" '
        'style="max-width:640px;width:100%;background:#ffffff;border-radius:6px;'
        'font-family:Arial,Helvetica,sans-serif;color:#1f2933;"><tr><td style="padding:20px;">'
        f'<h1 style="font-size:20px;margin:0 0 4px;">{e(title)}</h1>'
        f'<p style="font-size:13px;color:#5b6470;margin:0;">Figures for fewer than {k} '
        "visitors are withheld, so that no figure describes one person.</p>",
    ]
    for heading, rows, heads in tables:
        parts.append(f'<h2 style="{_H2}">{e(heading)}</h2>')
        if not rows:
            parts.append('<p style="font-size:14px;color:#5b6470;">None in this period.</p>')
            continue
        parts.append(
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'style="border-collapse:collapse;">'
        )
        parts.append("<tr>" + "".join(f'<th style="{_HEAD}">{e(h)}</th>' for h in heads) + "</tr>")
        for label, cells in rows:
            parts.append(
                f'<tr><td style="{_CELL}">{e(label)}</td>'
                + "".join(f'<td style="{_NUM}">{e(cell)}</td>' for cell in cells)
                + "</tr>"
            )
        parts.append("</table>")
    parts.append(f'<h2 style="{_H2}">Annotations</h2>')
    if notes:
        parts.append('<ul style="font-size:14px;padding-left:20px;">')
        parts.extend(f"<li>{e(note)}</li>" for note in notes)
        parts.append("</ul>")
    else:
        parts.append('<p style="font-size:14px;color:#5b6470;">None in this period.</p>')
    parts.append(
        '<p style="font-size:12px;color:#5b6470;margin-top:24px;">You receive this report '
        f"because an administrator of {e(covers)} added you to a list. "
        f'<a href="{e(url)}" style="color:#2563eb;">Unsubscribe</a></p>'
        "</td></tr></table></td></tr></table></body></html>"
    )
    return "".join(parts)


def text_document(
    title: str, k: int, tables: list[Table], notes: list[str], covers: str, url: str
) -> str:
    """The plain-text twin of :func:`html_document`: the same tables, in aligned columns."""
    lines = [
        title,
        "",
        f"Figures for fewer than {k} visitors are withheld, so that no figure "
        "describes one person.",
    ]
    for heading, rows, heads in tables:
        lines += ["", heading, "-" * len(heading)]
        if not rows:
            lines.append("None in this period.")
            continue
        width = max(len(h) for h in [heads[0], *(label for label, _ in rows)])
        widths = [
            max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(heads[1:])
        ]
        lines.append(_line(heads[0], heads[1:], width, widths))
        lines.extend(_line(label, cells, width, widths) for label, cells in rows)
    lines += ["", "Annotations", "-----------"]
    lines += notes or ["None in this period."]
    lines += [
        "",
        f"You receive this report because an administrator of {covers} added you to a list.",
        f"Unsubscribe: {url}",
        "",
    ]
    return "\n".join(lines)


def _line(label: str, cells: list[str], width: int, widths: list[int]) -> str:
    return label.ljust(width) + "".join(
        "  " + cell.rjust(w) for cell, w in zip(cells, widths, strict=True)
    )
