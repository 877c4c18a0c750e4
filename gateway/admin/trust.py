"""The trust's view: every site the account may see side by side, and their total.

For one range (the dashboard's ``period``, ``from`` and ``to``) each site's figures
and their total, under the k rule, as :mod:`gateway.reports.trust` reads them (the
trust's email report reads the same). Admins of every site also keep the trust's
report lists here (:mod:`gateway.admin.reports_page`).

``/trust`` is the page, ``/trust.json`` the same figures for scripts; both list
only the sites the signed-in account reaches (:mod:`gateway.admin.auth`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import requires
from gateway.admin.dashboard import RANGES
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.admin.sites import known_sites
from gateway.errors import error_response
from gateway.exceptions import BadStatsQuery
from gateway.reports.lists import TRUST, ReportList, list_report_lists
from gateway.reports.trust import SiteFigures, site_figures, totals
from gateway.settings import Settings
from gateway.sites import site_ids
from gateway.stats import period_range
from gateway.stats.query import utc_now
from gateway.storage import Storage

MAX_SITES = 100  # one page of sites; more would take a query per site each


async def trust_figures(
    storage: Storage, settings: Settings, sites: Sequence[str], start: datetime, end: datetime
) -> tuple[list[SiteFigures], dict[str, Any]]:
    """Every site's figures, one site after another, and their total."""
    columns = [
        await storage.run(functools.partial(site_figures, storage, site, start, end, settings))
        for site in sites
    ]
    return columns, totals(columns)


def trust_routes(settings: Settings) -> list[BaseRoute]:
    """``/trust`` and ``/trust.json``, for viewers and admins, each of their own sites."""

    async def read(request: Request) -> tuple[str, list[SiteFigures], dict[str, Any]]:
        storage = admin_of(request).storage
        current = admin_of(request).services.settings
        params = request.query_params
        period = params.get("period", "7d")
        if period not in RANGES:
            raise BadStatsQuery(
                f"Unknown range {period[:40]!r}; choose one of {', '.join(RANGES)}."
            )
        date = None
        if period == "custom":
            date = f"{params.get('from', '')[:10]},{params.get('to', '')[:10]}"
        start, end = period_range(period, utc_now(admin_of(request).auth.clock), date)
        scope = request.state.user.sites
        served = site_ids(current)
        sites = (await storage.run(lambda: known_sites(storage, served, scope)))[:MAX_SITES]
        columns, summed = await trust_figures(storage, current, sites, start, end)
        return period, columns, summed

    async def page(request: Request) -> Response:
        try:
            period, columns, summed = await read(request)
        except BadStatsQuery as error:
            return render(
                request,
                "trust.html",
                status_code=400,
                error=str(error),
                ranges=RANGES,
                period="7d",
                columns=[],
                summed=None,
                goals=[],
                k=settings.stats_min_visitors,
                trust_lists=None,
            )
        goals = list(summed["goals"])
        user = request.state.user
        storage = admin_of(request).storage
        trust_lists: list[ReportList] | None = None
        if user.is_admin and user.all_sites:  # the only accounts that may keep them
            trust_lists = await storage.run(lambda: list_report_lists(storage, TRUST))
        return render(
            request,
            "trust.html",
            ranges=RANGES,
            period=period,
            columns=columns,
            summed=summed,
            goals=goals,
            k=settings.stats_min_visitors,
            trust_lists=trust_lists,
            settings=settings,
        )

    async def as_json(request: Request) -> Response:
        try:
            period, columns, summed = await read(request)
        except BadStatsQuery as error:
            return error_response(400, error.code, str(error))
        return JSONResponse(
            {
                "period": period,
                "k": settings.stats_min_visitors,
                "sites": [
                    {"site": c.site, "traffic": c.traffic, "consent": c.consent, "goals": c.goals}
                    for c in columns
                ],
                "total": summed,
            },
            headers={"cache-control": "no-store"},
        )

    viewer = requires("viewer", answers_per_site=True)
    return [
        Route("/trust", viewer(page), methods=["GET"]),
        Route("/trust.json", viewer(as_json), methods=["GET"]),
    ]
