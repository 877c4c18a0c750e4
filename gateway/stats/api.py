"""The read-only stats API on the admin listener, answering as Plausible's Stats API v1 does.

    GET /api/v1/stats/aggregate?site_id=S&period=6mo&metrics=visitors&compare=previous_period
        {"results": {"visitors": {"value": 12, "change": 50, "comparison_value": 8}, ...}}
    GET /api/v1/stats/timeseries?site_id=S&period=7d&metrics=visitors&interval=day
        {"results": [{"date": "2026-11-16", "visitors": 4}, ...]}
    GET /api/v1/stats/breakdown?site_id=S&property=event:page&limit=10&page=2
        {"results": [{"page": "/x", "visitors": 9}, ..., {"page": "(other)", "visitors": 7}]}
    GET /api/v1/stats/realtime/visitors?site_id=S
        3                                   (visitors in the last 5 minutes)
    GET /api/v1/stats/consent?site_id=S&period=7d   (ours: the banner's outcomes)
    POST /api/v2/query                      (gateway.stats.v2)
    GET /api/v1/openapi.json                (the OpenAPI document, no token needed)

Every stats route wants ``Authorization: Bearer TOKEN`` (``consent-gateway
token create NAME``) and a ``site_id`` this gateway has statistics of. Filters
use Plausible's v1 syntax (:func:`gateway.stats.query.parse_filters`).
Breakdowns obey the k rule (``CG_STATS_MIN_VISITORS``). Errors have Plausible's
body, ``{"error": "<sentence>"}`` (:func:`gateway.errors.api_error_response`):
400 for a bad parameter, 401 for a missing, unknown or revoked token or an
unknown site, 405 (with ``Allow``) for a method a route does not take.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import api_error_response
from gateway.exceptions import BadStatsQuery
from gateway.settings import Settings
from gateway.sites import site_id
from gateway.stats import v2
from gateway.stats.consent import consent_figures
from gateway.stats.openapi import openapi_document
from gateway.stats.queries import MAX_LIMIT, aggregate, breakdown, realtime, timeseries
from gateway.stats.query import (
    StatsQuery,
    parse_filters,
    period_range,
    property_name,
    utc_now,
)
from gateway.stats.tokens import verify_token
from gateway.stats.topn import OTHER
from gateway.stats.v1 import (
    IGNORED,
    change,
    interval_unit,
    metric_names,
    page_breakdown,
    page_window,
    whole_number,
)
from gateway.stats.v1_events import (
    event_breakdown,
    event_metrics,
    is_event_breakdown,
    split_event_filter,
)
from gateway.storage import Storage
from gateway.storage.threads import thread_client

PREFIX = "/api/v1/stats"
KNOWN = {
    "site_id",
    "period",
    "date",
    "metrics",
    "filters",
    "compare",
    "property",
    "limit",
    "page",
    "interval",
    *IGNORED,
}
_NO_STORE = {"cache-control": "no-store"}
_INVALID_SITE = "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested."  # noqa: E501 (Plausible's sentence)

Endpoint = Callable[[Request, Storage, str], Awaitable[Response]]
SiteOf = Callable[[Request], Awaitable[str | None]]
"""How an endpoint finds its ``site_id`` (v2's is in the JSON body)."""


class StatsApi:
    """The API's endpoints over one settings object (the site, k, consent categories)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.default_site = site_id(settings)

    def routes(self) -> list[BaseRoute]:
        guarded: dict[str, Endpoint] = {
            "aggregate": self.aggregate,
            "timeseries": self.timeseries,
            "breakdown": self.breakdown,
            "realtime/visitors": self.realtime,
            "consent": self.consent,
        }
        routes: list[BaseRoute] = [
            Route(f"{PREFIX}/{path}", self.guard(endpoint), methods=["GET"])
            for path, endpoint in guarded.items()
        ]
        routes.append(
            Route(
                "/api/v2/query", self.guard(self.query, site_from=_site_in_body), methods=["POST"]
            )
        )
        routes.append(Route("/api/v1/openapi.json", self.openapi, methods=["GET"]))
        return routes

    def guard(
        self, endpoint: Endpoint, *, site_from: SiteOf | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        """The token and site checks and the error answers around each stats endpoint."""

        async def guarded(request: Request) -> Response:
            storage = self.storage
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _unauthorized("Missing API key. Please use a valid Plausible API key "
                                     "as 'Authorization: Bearer TOKEN'; create one with: "
                                     "consent-gateway token create NAME")  # fmt: skip
            found = await storage.run(lambda: verify_token(storage, token.strip()))
            if found is None:
                return _unauthorized(_INVALID_SITE)
            try:
                if site_from is None:
                    _check_parameters(request)
                    site = request.query_params.get("site_id")
                else:
                    site = await site_from(request)
                if not site:
                    raise BadStatsQuery(
                        "Missing site ID. Please provide the required site_id parameter with "
                        f"your request (this gateway's: {self.default_site})."
                    )
                if not await storage.run(lambda: self._known(site)):
                    return _unauthorized(_INVALID_SITE)
                return await endpoint(request, storage, site)
            except BadStatsQuery as error:
                return api_error_response(400, error.code, str(error))
            except DatabaseError as error:
                if "CANNOT_COMPILE_REGEXP" in str(error) or "Code: 427" in str(error):
                    return api_error_response(
                        400, "bad_query", "A filter's regular expression is not valid RE2."
                    )
                raise

        return guarded

    def _known(self, site: str) -> bool:
        """Whether ``site`` is this gateway's, or has statistics here."""
        if site == self.default_site:
            return True
        found = thread_client(self.storage).query(
            "SELECT (SELECT count() FROM (SELECT 1 FROM events WHERE site = {site:String} "
            "LIMIT 1)) + (SELECT count() FROM (SELECT 1 FROM stats_daily "
            "WHERE site = {site:String} LIMIT 1))",
            parameters={"site": site},
        )
        return bool(found.result_rows[0][0])

    def _query(self, request: Request, site: str) -> StatsQuery:
        params = request.query_params
        start, end = period_range(
            params.get("period", "30d"), utc_now(), params.get("date"), plausible=True
        )
        return StatsQuery(site, start, end, parse_filters(params.get("filters")))

    async def aggregate(self, request: Request, storage: Storage, site: str) -> Response:
        q, metrics = self._query(request, site), metric_names(request.query_params)
        compare = request.query_params.get("compare", "")
        if compare not in ("", "previous_period"):
            raise BadStatsQuery("compare takes one value: previous_period.")
        k = self.settings.stats_min_visitors
        now = await storage.run(lambda: aggregate(storage, q, metrics, k=k))
        results: dict[str, dict[str, Any]] = {m: _value(v) for m, v in now.items()}
        if compare:
            before = await storage.run(lambda: aggregate(storage, q.previous(), metrics, k=k))
            for metric, value in before.items():
                both = now[metric] is not None and value is not None
                results[metric]["change"] = change(metric, now[metric], value) if both else None
                results[metric]["comparison_value"] = value
                if value is None:
                    results[metric]["comparison_withheld"] = True
        return JSONResponse({"results": results}, headers=_NO_STORE)

    async def timeseries(self, request: Request, storage: Storage, site: str) -> Response:
        q, metrics = self._query(request, site), metric_names(request.query_params)
        interval = request.query_params.get("interval", "")
        if not interval and request.query_params.get("period") in ("6mo", "12mo"):
            interval = "month"  # Plausible's default for these periods
        unit = interval_unit(interval)
        k = self.settings.stats_min_visitors
        rows = await storage.run(lambda: timeseries(storage, q, metrics, unit=unit, k=k))
        return JSONResponse({"results": rows}, headers=_NO_STORE)

    async def breakdown(self, request: Request, storage: Storage, site: str) -> Response:
        params = request.query_params
        if is_event_breakdown(params.get("property", "")):
            return await self.event_breakdown(request, storage, site)
        q, metrics = self._query(request, site), metric_names(request.query_params)
        if "property" not in params:
            raise BadStatsQuery("The property parameter is required to break down the stats.")
        prop = property_name(params["property"])
        limit = whole_number(params.get("limit", "100"), "limit")
        first, last = page_window(limit, whole_number(params.get("page", "1"), "page"))
        k = self.settings.stats_min_visitors
        if prop == "page":
            rows = await storage.run(lambda: page_breakdown(storage, q, metrics, last, k=k))
        else:
            rows = await storage.run(lambda: breakdown(storage, q, prop, metrics, last, k=k))
        key = params["property"].partition(":")[2]  # region_name for the short name region
        if key != prop:
            rows = [{key if name == prop else name: v for name, v in r.items()} for r in rows]
        return JSONResponse({"results": rows[first:last]}, headers=_NO_STORE)

    async def event_breakdown(self, request: Request, storage: Storage, site: str) -> Response:
        """A breakdown by goal, event name or event prop (:mod:`gateway.stats.v1_events`)."""
        params = request.query_params
        prop = params["property"]
        event_filter, rest = split_event_filter(params.get("filters", ""))
        start, end = period_range(
            params.get("period", "30d"), utc_now(), params.get("date"), plausible=True
        )
        q = StatsQuery(site, start, end, parse_filters(rest))
        metrics = event_metrics(params.get("metrics", ""), prop)
        limit = whole_number(params.get("limit", "100"), "limit")
        first, last = page_window(limit, whole_number(params.get("page", "1"), "page"))
        k = self.settings.stats_min_visitors
        rows = await storage.run(
            lambda: event_breakdown(storage, q, prop, event_filter, metrics, last, k=k)
        )
        return JSONResponse({"results": rows[first:last]}, headers=_NO_STORE)

    async def realtime(self, request: Request, storage: Storage, site: str) -> Response:
        k = self.settings.stats_min_visitors
        numbers = await storage.run(lambda: realtime(storage, site, utc_now(), k=k))
        return JSONResponse(numbers["last_5_minutes"], headers=_NO_STORE)

    async def consent(self, request: Request, storage: Storage, site: str) -> Response:
        q = self._query(request, site)
        categories = self.settings.consent_categories
        figures = await storage.run(lambda: consent_figures(storage, q, categories))
        return JSONResponse({"results": figures}, headers=_NO_STORE)

    async def query(self, request: Request, storage: Storage, site: str) -> Response:
        """Plausible's v2 query (:mod:`gateway.stats.v2`)."""
        body = v2.read_body(await request.body())
        start, end = v2.date_range(body.get("date_range"), utc_now())
        metrics = v2.metrics_of(body.get("metrics"))
        dimensions = v2.dimensions_of(body.get("dimensions"))
        q = StatsQuery(site, start, end, v2.filters_of(body.get("filters")))
        order = v2.order_of(body.get("order_by"), metrics, dimensions)
        limit, offset = v2.pagination_of(body.get("pagination"))
        include = v2.include_of(body.get("include"))
        meta: dict[str, Any] = {}
        results: list[dict[str, Any]]
        if not dimensions:
            k = self.settings.stats_min_visitors
            totals = await storage.run(lambda: aggregate(storage, q, metrics, k=k))
            results = [{"metrics": [totals[m] for m in metrics], "dimensions": []}]
            if any(totals[m] is None for m in metrics):
                results[0]["withheld"] = True
        elif dimensions[0] in v2.TIME_DIMENSIONS:
            unit = v2.unit_of(dimensions[0])
            k = self.settings.stats_min_visitors
            series = await storage.run(lambda: timeseries(storage, q, metrics, unit=unit, k=k))
            results = [
                {
                    "metrics": [row[m] for m in metrics],
                    "dimensions": [row["date"]],
                    **({"withheld": True} if row.get("withheld") else {}),
                }
                for row in series
                if row.get("withheld") or any(row[m] for m in metrics)
            ]
            if include.get("time_labels"):
                meta["time_labels"] = v2.time_labels(q, unit.step.lower())
        else:
            prop = property_name(dimensions[0])
            k = self.settings.stats_min_visitors
            rows = await storage.run(lambda: breakdown(storage, q, prop, metrics, MAX_LIMIT, k=k))
            results = [
                {"metrics": [row[m] for m in metrics], "dimensions": [row[prop]]} for row in rows
            ]
            order = order or [(metrics[0], True)]
        names = [*metrics, *dimensions]
        for name, descending in reversed(order):
            at = names.index(name)
            results.sort(
                key=lambda r: _sortable((r["metrics"] + r["dimensions"])[at]), reverse=descending
            )
        results.sort(key=lambda r: r["dimensions"] == [OTHER])  # the folded row stays last
        if include.get("total_rows"):
            meta["total_rows"] = len(results)
        echo = {
            "site_id": site,
            "metrics": metrics,
            "date_range": [start.isoformat(), (end - timedelta(milliseconds=1)).isoformat()],
            "filters": body.get("filters") or [],
            "dimensions": dimensions,
            "order_by": [[name, "desc" if down else "asc"] for name, down in order],
            "include": include,
            "pagination": {"limit": limit, "offset": offset},
        }
        page = results[offset : offset + limit]
        return JSONResponse({"results": page, "meta": meta, "query": echo}, headers=_NO_STORE)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.default_site))


async def _site_in_body(request: Request) -> str | None:
    site = v2.read_body(await request.body()).get("site_id")
    if site is not None and not isinstance(site, str):
        raise BadStatsQuery("site_id must be a string.")
    return site


def _check_parameters(request: Request) -> None:
    unknown = set(request.query_params) - KNOWN
    if unknown:
        raise BadStatsQuery(
            f"Unknown parameter {sorted(unknown)[0]!r}; this API takes "
            f"{', '.join(sorted(KNOWN - IGNORED))}."
        )


def _sortable(value: Any) -> tuple[bool, Any]:
    """A sort key where a withheld ``None`` goes after every figure in descending order."""
    return (value is not None, value if value is not None else 0)


def _value(value: Any) -> dict[str, Any]:
    """An aggregate's ``{"value": ...}``, with ``"withheld": true`` beside a ``null``."""
    return {"value": value} if value is not None else {"value": None, "withheld": True}


def _unauthorized(message: str) -> Response:
    return api_error_response(
        401, "unauthorized", message, headers={"www-authenticate": 'Bearer realm="stats"'}
    )


def stats_routes(settings: Settings, storage: Storage) -> list[BaseRoute]:
    """The stats API's routes, for :func:`gateway.admin.app.admin_routes`."""
    return StatsApi(settings, storage).routes()
