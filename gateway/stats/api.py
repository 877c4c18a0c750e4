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
    GET /api/v1/stats/annotations?site_id=S&period=30d  (ours: the admins' dated notes)
        {"results": [{"id": "3f2a9c01", "date": "2026-11-20", "text": "Open evening"}]}
    POST /api/v2/query                      (gateway.stats.v2)
    GET /api/v1/openapi.json                (the OpenAPI document, no token needed)

Every stats route wants ``Authorization: Bearer TOKEN`` (``consent-gateway
token create NAME``) and a ``site_id`` this gateway has statistics of. Filters
use Plausible's v1 syntax (:func:`gateway.stats.query.parse_filters`).
Breakdowns obey the k rule (``CG_STATS_MIN_VISITORS``). Errors have Plausible's
body, ``{"error": "<sentence>"}`` (:func:`gateway.errors.api_error_response`):
400 for a bad parameter, 401 for a missing, unknown or revoked token, an
unknown site or one the token was not made for (:meth:`ApiToken.reads`), 405
(with ``Allow``) for a method a route does not take.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import api_error_response
from gateway.exceptions import BadStatsQuery
from gateway.settings import Settings
from gateway.sites import site_id, site_ids
from gateway.stats import history, history_api, v2, v2_answer
from gateway.stats.annotations import list_annotations
from gateway.stats.consent import consent_figures
from gateway.stats.conversions import (
    converted_aggregate,
    converted_breakdown,
    converted_timeseries,
)
from gateway.stats.goals import filtered_goals, list_goals
from gateway.stats.openapi import openapi_document
from gateway.stats.queries import breakdown, realtime
from gateway.stats.query import (
    GOAL,
    StatsQuery,
    parse_filters,
    period_range,
    property_name,
    utc_now,
)
from gateway.stats.tokens import verify_token
from gateway.stats.v1 import (
    IGNORED,
    change,
    interval_unit,
    metric_names,
    page_breakdown,
    page_window,
    timed_aggregate,
    untimed,
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
            "annotations": self.annotations,
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
                if not found.reads(site, site_ids(self.settings)):
                    return _unauthorized(_INVALID_SITE)  # a site outside the token's scope
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

    async def _question(self, request: Request, storage: Storage, site: str) -> StatsQuery:
        """The question of a v1 request, its ``event:goal`` filter read as the site's goals."""
        params = request.query_params
        start, end = period_range(
            params.get("period", "30d"), utc_now(), params.get("date"), plausible=True
        )
        filters = parse_filters(params.get("filters"))
        return await _with_goals(storage, StatsQuery(site, start, end), filters)

    async def aggregate(self, request: Request, storage: Storage, site: str) -> Response:
        q = await self._question(request, storage, site)
        metrics = metric_names(request.query_params)
        compare = request.query_params.get("compare", "")
        if compare not in ("", *history_api.COMPARE):
            raise BadStatsQuery("compare takes previous_period or year.")
        old = await storage.run(lambda: history.answers(storage, q, utc_now()))
        if old or compare == "year":
            body = await storage.run(lambda: history_api.aggregate(storage, q, metrics, compare))
            return JSONResponse(body, headers=_NO_STORE)
        k = self.settings.stats_min_visitors
        now = await storage.run(
            lambda: timed_aggregate(storage, q, metrics, converted_aggregate, k=k)
        )
        results: dict[str, dict[str, Any]] = {m: _value(v) for m, v in now.items()}
        if compare:
            earlier = q.previous()
            before = await storage.run(
                lambda: timed_aggregate(storage, earlier, metrics, converted_aggregate, k=k)
            )
            for metric, value in before.items():
                both = now[metric] is not None and value is not None
                results[metric]["change"] = change(metric, now[metric], value) if both else None
                results[metric]["comparison_value"] = value
                if value is None:
                    results[metric]["comparison_withheld"] = True
        return JSONResponse({"results": results}, headers=_NO_STORE)

    async def timeseries(self, request: Request, storage: Storage, site: str) -> Response:
        q = await self._question(request, storage, site)
        metrics = untimed(metric_names(request.query_params), "the time series")
        interval = request.query_params.get("interval", "")
        if not interval and request.query_params.get("period") in ("6mo", "12mo"):
            interval = "month"  # Plausible's default for these periods
        unit = interval_unit(interval)
        if await storage.run(lambda: history.answers(storage, q, utc_now())):
            body = await storage.run(lambda: history_api.timeseries(storage, q, metrics, unit))
            return JSONResponse(body, headers=_NO_STORE)
        k = self.settings.stats_min_visitors
        rows = await storage.run(lambda: converted_timeseries(storage, q, metrics, unit=unit, k=k))
        return JSONResponse({"results": rows}, headers=_NO_STORE)

    async def breakdown(self, request: Request, storage: Storage, site: str) -> Response:
        params = request.query_params
        if is_event_breakdown(params.get("property", "")):
            return await self.event_breakdown(request, storage, site)
        q, metrics = await self._question(request, storage, site), metric_names(params)
        if "property" not in params:
            raise BadStatsQuery("The property parameter is required to break down the stats.")
        prop = property_name(params["property"])
        if prop != "page":
            untimed(metrics, f"a breakdown by {params['property']}")
        limit = whole_number(params.get("limit", "100"), "limit")
        first, last = page_window(limit, whole_number(params.get("page", "1"), "page"))
        k = self.settings.stats_min_visitors
        if await storage.run(lambda: history.answers(storage, q, utc_now())):
            key = params["property"].partition(":")[2] or prop  # region_name for region
            body = await storage.run(
                lambda: history_api.breakdown(storage, q, prop, metrics, last, key=key)
            )
            body["results"] = body["results"][first:last]
            return JSONResponse(body, headers=_NO_STORE)
        if "conversion_rate" in metrics:
            rows = await storage.run(
                lambda: converted_breakdown(storage, q, prop, metrics, last, k=k)
            )
        elif prop == "page":
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
        if await storage.run(lambda: history.answers(storage, q, utc_now())):
            raise history_api.refuse(f"A breakdown by {prop}")
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

    async def annotations(self, request: Request, storage: Storage, site: str) -> Response:
        """The site's annotations in the period (ours: Plausible has none), oldest first."""
        q = self._query(request, site)
        first, last = q.start.date(), (q.end - timedelta(milliseconds=1)).date()
        notes = await storage.run(lambda: list_annotations(storage, site, first, last))
        return JSONResponse({"results": [note.public() for note in notes]}, headers=_NO_STORE)

    async def query(self, request: Request, storage: Storage, site: str) -> Response:
        """Plausible's v2 query: read by :mod:`gateway.stats.v2`, answered by
        :mod:`gateway.stats.v2_answer`."""
        body = v2.read_body(await request.body())
        start, end = v2.date_range(body.get("date_range"), utc_now())
        metrics = v2.metrics_of(body.get("metrics"))
        dimensions = v2.dimensions_of(body.get("dimensions"))
        filters = v2.filters_of(body.get("filters"))
        q = await _with_goals(storage, StatsQuery(site, start, end), filters)
        if await storage.run(lambda: history.answers(storage, q, utc_now())):
            raise history_api.refuse("A v2 query")
        k = self.settings.stats_min_visitors
        answer = await v2_answer.answer(storage, q, body, metrics, dimensions, k)
        return JSONResponse(answer, headers=_NO_STORE)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.default_site))


async def _site_in_body(request: Request) -> str | None:
    site = v2.read_body(await request.body()).get("site_id")
    if site is not None and not isinstance(site, str):
        raise BadStatsQuery("site_id must be a string.")
    return site


async def _with_goals(storage: Storage, q: StatsQuery, filters: dict[str, Any]) -> StatsQuery:
    """``q`` with ``filters``; an ``event:goal`` one among them becomes the site's goals it
    names (:func:`~gateway.stats.goals.filtered_goals`)."""
    goal_filter = filters.pop(GOAL, None)
    q = replace(q, filters=filters)
    if goal_filter is None:
        return q
    goals = await storage.run(lambda: [g.goal for g in list_goals(storage, q.site)])
    return replace(q, goals=filtered_goals(goal_filter, goals))


def _check_parameters(request: Request) -> None:
    unknown = set(request.query_params) - KNOWN
    if unknown:
        raise BadStatsQuery(
            f"Unknown parameter {sorted(unknown)[0]!r}; this API takes "
            f"{', '.join(sorted(KNOWN - IGNORED))}."
        )


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
