"""The dashboard's pages: the site list, one dashboard per site, CSV downloads, live numbers.

Viewers and admins both reach these (the CSV downloads are for admins, who hold
the "exports" right): they show aggregated statistics only,
each breakdown under the k rule, and no page lists sessions, addresses or
visitor keys.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin import charts
from gateway.admin.auth import requires
from gateway.admin.dashboard import (
    EXPORTABLE,
    FORM_FILTERS,
    RANGES,
    SERIES_METRICS,
    View,
    load,
    panel_table,
)
from gateway.admin.exports import csv_response
from gateway.admin.marketing import load_marketing
from gateway.admin.rendering import render
from gateway.admin.reports_page import chart_marks, load_notes
from gateway.admin.services import admin_of
from gateway.admin.sites import known_sites
from gateway.audit import record_audit
from gateway.exceptions import BadStatsQuery
from gateway.settings import Settings
from gateway.sites import site_ids
from gateway.stats import OTHER, realtime
from gateway.stats.query import utc_now


def page_routes(settings: Settings) -> list[BaseRoute]:
    """The statistics pages, for viewers and admins."""

    async def sites(request: Request) -> Response:
        storage = admin_of(request).storage
        user = request.state.user
        served = site_ids(admin_of(request).services.settings)
        names = await storage.run(lambda: known_sites(storage, served, user.sites))
        if len(names) == 1 and request.url.path == "/":
            return RedirectResponse(f"/sites/{names[0]}", status_code=303)
        return render(request, "sites.html", sites=names)

    async def site_dashboard(request: Request) -> Response:
        storage = admin_of(request).storage
        site = request.path_params["site"]
        try:
            view = View.from_params(site, request.query_params)
            board = await load(storage, settings, view, utc_now(admin_of(request).auth.clock))
        except BadStatsQuery as error:
            view = View(site)
            return render(
                request, "dashboard.html", status_code=400, error=str(error), **_context(view)
            )
        marketing = await load_marketing(
            storage, board.query, settings.stats_min_visitors, view.event, view.prop
        )
        notes = await load_notes(storage, settings, board.query)
        previous = board.series_previous
        labels = [row["date"] for row in board.series]
        chart = charts.line_chart(  # a bucket the k rule withholds is drawn at zero
            labels,
            [row["visitors"] or 0 for row in board.series],
            [row["visitors"] or 0 for row in previous] if previous else None,
            title="Visitors over time",
            marks=chart_marks(labels, notes.annotations),
        )
        return render(
            request,
            "dashboard.html",
            board=board,
            marketing=marketing,
            notes=notes,
            k=settings.stats_min_visitors,
            chart=chart,
            other=OTHER,
            **_context(view),
        )

    async def export(request: Request) -> Response:
        storage = admin_of(request).storage
        site, panel = request.path_params["site"], request.path_params["panel"]
        user = request.state.user
        ip = admin_of(request).auth.client_ip(request)
        try:
            view = View.from_params(site, request.query_params)
            header, rows = await panel_table(
                storage, settings, view, panel, utc_now(admin_of(request).auth.clock)
            )
        except BadStatsQuery as error:
            return render(
                request, "dashboard.html", status_code=400, error=str(error), **_context(View(site))
            )
        detail = request.url.query
        await storage.run(
            lambda: record_audit(
                storage, user.email, "export", f"{site}/{panel}", ip=ip, detail=detail
            )
        )
        day = utc_now(admin_of(request).auth.clock).date().isoformat()
        return csv_response(f"{site}-{panel}-{view.period}-{day}.csv", header, rows)

    async def live(request: Request) -> Response:
        storage = admin_of(request).storage
        site, now = request.path_params["site"], utc_now(admin_of(request).auth.clock)
        k = settings.stats_min_visitors
        numbers = await storage.run(lambda: realtime(storage, site, now, k=k))
        return JSONResponse(numbers)

    return [
        Route("/", requires("viewer", answers_per_site=True)(sites), methods=["GET"]),
        Route("/sites", requires("viewer", answers_per_site=True)(sites), methods=["GET"]),
        Route("/sites/{site}", requires("viewer")(site_dashboard), methods=["GET"]),
        Route("/sites/{site}/export/{panel}.csv", requires("admin")(export), methods=["GET"]),
        Route("/sites/{site}/realtime", requires("viewer")(live), methods=["GET"]),
    ]


def _context(view: View) -> dict[str, Any]:
    return {
        "view": view,
        "ranges": RANGES,
        "form_filters": FORM_FILTERS,
        "exportable": EXPORTABLE,
        "series_metrics": SERIES_METRICS,
    }
