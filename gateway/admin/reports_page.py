"""Annotations and email report lists on the dashboard, and a report's preview.

Admins add and remove dated notes ("Open evening") and the lists of people who
get a weekly or monthly report; both are form posts with the session's CSRF
token, written to the audit log either way (``annotation.add``,
``report_list.remove``...), as goals and funnels are. The chart marks the notes
of its range (:func:`chart_marks`). The preview shows the report a list would
get for its last whole period, as plain text. The trust's lists (every site side
by side, :mod:`gateway.reports.trust`) are kept on the trust's view, under
``/trust/reports``: a route without a site, so only admins of every site reach it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import requires
from gateway.admin.marketing import Change, audited_change
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.exceptions import BadStatsQuery
from gateway.reports.figures import last_complete, read_report
from gateway.reports.lists import (
    PERIODS,
    TRUST,
    ReportList,
    add_report_list,
    list_report_lists,
    remove_report_list,
)
from gateway.reports.trust import read_trust_report
from gateway.reports.trust_render import AnyReport, subject_of, text_of
from gateway.settings import Settings
from gateway.stats.annotations import (
    Annotation,
    add_annotation,
    list_annotations,
    parse_day,
    remove_annotation,
)
from gateway.stats.query import StatsQuery, utc_now
from gateway.storage import Storage


@dataclass
class Notes:
    """The annotations of a dashboard's range, and the site's report lists."""

    annotations: list[Annotation]
    lists: list[ReportList]
    reports_on: bool


def read_notes(storage: Storage, settings: Settings, q: StatsQuery) -> Notes:
    """What the panels show for ``q`` (blocking: run it through ``storage.run``)."""
    last = (q.end - timedelta(milliseconds=1)).date()
    return Notes(
        annotations=list_annotations(storage, q.site, q.start.date(), last),
        lists=list_report_lists(storage, q.site),
        reports_on=settings.smtp_url is not None and bool(settings.report_from),
    )


async def load_notes(storage: Storage, settings: Settings, q: StatsQuery) -> Notes:
    """:func:`read_notes` off the event loop."""
    return await storage.run(functools.partial(read_notes, storage, settings, q))


def chart_marks(labels: Sequence[str], notes: Sequence[Annotation]) -> list[tuple[int, str]]:
    """Each annotation as (index of the first chart label on its day, its text)."""
    marks = []
    for note in notes:
        day = note.day.isoformat()
        at = next((i for i, label in enumerate(labels) if label[:10] == day), None)
        if at is not None:
            marks.append((at, f"{day}: {note.text}"))
    return marks


def reports_routes(settings: Settings) -> list[BaseRoute]:
    """``POST /sites/{site}/annotations`` and ``/reports`` (add, or ``remove``: an id), and
    ``GET /sites/{site}/reports/preview?period=week``."""

    async def annotations(request: Request) -> Response:
        actor = request.state.user.email
        form = await request.form()
        text = str(form.get("day", ""))[:20] + "\n" + str(form.get("text", ""))[:1000]

        def add(storage: Storage, site: str, text: str) -> Annotation:
            day, _, note = text.partition("\n")
            return add_annotation(storage, site, parse_day(day), note, actor)

        return await audited_change(request, "annotation", add, remove_annotation, text)

    async def lists(request: Request) -> Response:
        actor = request.state.user.email
        form = await request.form()
        return await audited_change(
            request, "report_list", _add_list(actor), remove_report_list, _list_text(form)
        )

    async def preview(request: Request) -> Response:
        storage = admin_of(request).storage
        site = request.path_params.get("site", TRUST)
        kind = request.query_params.get("period", "month")
        if kind not in PERIODS:
            return Response("period is week or month.", status_code=400)
        period = last_complete(kind, utc_now(admin_of(request).auth.clock))

        def read() -> AnyReport:
            if site == TRUST:
                return read_trust_report(storage, admin_of(request).services.settings, period)
            return read_report(storage, settings, site, period)

        try:
            report = await storage.run(read)
        except BadStatsQuery as error:
            return Response(str(error), status_code=400)
        link = "(the recipient's unsubscribe link)"
        return render(
            request,
            "report_preview.html",
            site="" if site == TRUST else site,
            subject=subject_of(report),
            text=text_of(report, link),
        )

    admin = requires("admin")  # without a {site}: only admins of every site
    return [
        Route("/sites/{site}/annotations", admin(annotations), methods=["POST"]),
        Route("/sites/{site}/reports", admin(lists), methods=["POST"]),
        Route("/sites/{site}/reports/preview", admin(preview), methods=["GET"]),
        Route("/trust/reports", admin(trust_lists), methods=["POST"]),
        Route("/trust/reports/preview", admin(preview), methods=["GET"]),
    ]


async def trust_lists(request: Request) -> Response:
    """Add (``name``, ``period``, ``recipients``) or remove (``remove``: an id) a list of
    the trust's report; audited as ``report_list.add`` or ``.remove`` on ``*/NAME``."""
    form = await request.form()
    return await audited_change(
        request,
        "report_list",
        _add_list(request.state.user.email),
        remove_report_list,
        _list_text(form),
        site=TRUST,
        back="/trust#panel-report_lists",
    )


def _list_text(form: FormData) -> str:
    """A report list's form fields, one per line, as :func:`_add_list` reads them (the
    name on one line, as the list keeps it)."""
    name = " ".join(str(form.get("name", ""))[:200].split())
    return "\n".join(
        (name, str(form.get("period", ""))[:10], str(form.get("recipients", ""))[:20_000])
    )


def _add_list(actor: str) -> Change:
    """A report list's ``add`` for :func:`audited_change`, made by ``actor``."""

    def add(storage: Storage, site: str, text: str) -> ReportList:
        name, period, recipients = text.split("\n", 2)
        return add_report_list(storage, site, name, period, recipients, actor)

    return add
