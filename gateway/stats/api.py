"""The read-only stats API on the admin listener, shaped like Plausible's Stats API v1.

    GET /api/v1/stats/aggregate?period=30d&metrics=visitors,bounce_rate&compare=previous_period
        {"results": {"visitors": {"value": 12, "change": 50}, "bounce_rate": {...}}}
    GET /api/v1/stats/timeseries?period=7d&metrics=visitors
        {"results": [{"date": "2026-11-16", "visitors": 4}, ...]}
    GET /api/v1/stats/breakdown?period=30d&property=event:page&metrics=visitors&limit=10
        {"results": [{"page": "/x", "visitors": 9}, ..., {"page": "(other)", "visitors": 7}]}
    GET /api/v1/stats/realtime/visitors
        3                                   (visitors in the last 5 minutes)
    GET /api/v1/stats/consent?period=7d     (ours: the banner's outcomes and opt-in rates)
    GET /api/v1/openapi.json                (the OpenAPI document, no token needed)

Every stats route wants ``Authorization: Bearer TOKEN`` (``consent-gateway
token create NAME``); ``site_id`` defaults to this gateway's site, ``period``
to ``30d``, ``metrics`` to ``visitors``; ``filters`` use Plausible's v1 syntax
(``event:page==/blog;visit:country==GB``). Breakdowns obey the k rule
(``CG_STATS_MIN_VISITORS``). Errors come in the gateway's one JSON error shape:
400 for a bad parameter, 401 for a missing, unknown or revoked token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.errors import error_response
from gateway.exceptions import BadStatsQuery
from gateway.settings import Settings
from gateway.sites import site_id
from gateway.stats.consent import consent_figures
from gateway.stats.openapi import openapi_document
from gateway.stats.queries import aggregate, breakdown, realtime, timeseries
from gateway.stats.query import (
    StatsQuery,
    parse_filters,
    period_range,
    property_name,
    utc_now,
)
from gateway.stats.tokens import verify_token
from gateway.storage import Storage

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
    "interval",
}
_NO_STORE = {"cache-control": "no-store"}


def change(metric: str, now: float, before: float) -> float | int | None:
    """Plausible's ``change``: percent for counts, points for the bounce rate."""
    if metric == "bounce_rate":
        return None if before == 0 and now == 0 else round(now - before)
    if before == 0:
        return 100 if now else 0
    return round((now - before) / before * 100)


class StatsApi:
    """The API's endpoints over one settings object (the site, k, consent categories)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.default_site = site_id(settings)

    def routes(self) -> list[BaseRoute]:
        guarded = {
            "aggregate": self.aggregate,
            "timeseries": self.timeseries,
            "breakdown": self.breakdown,
            "realtime/visitors": self.realtime,
            "consent": self.consent,
        }
        routes: list[BaseRoute] = [
            Route(f"{PREFIX}/{path}", self._guard(endpoint), methods=["GET"])
            for path, endpoint in guarded.items()
        ]
        routes.append(Route("/api/v1/openapi.json", self.openapi, methods=["GET"]))
        return routes

    def _guard(
        self, endpoint: Callable[[Request, Storage], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """The token check and the error shape around each stats endpoint."""

        async def guarded(request: Request) -> Response:
            storage = self.storage
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _unauthorized("Send a token as 'Authorization: Bearer TOKEN'; create one "
                                     "with: consent-gateway token create NAME")  # fmt: skip
            found = await storage.run(lambda: verify_token(storage, token.strip()))
            if found is None:
                return _unauthorized("The token is unknown or revoked.")
            try:
                unknown = set(request.query_params) - KNOWN
                if unknown:
                    raise BadStatsQuery(
                        f"Unknown parameter {sorted(unknown)[0]!r}; this API takes "
                        f"{', '.join(sorted(KNOWN))}."
                    )
                return await endpoint(request, storage)
            except BadStatsQuery as error:
                return error_response(400, error.code, str(error))

        return guarded

    def _query(self, request: Request) -> StatsQuery:
        params = request.query_params
        site = params.get("site_id") or self.default_site
        start, end = period_range(params.get("period", "30d"), utc_now(), params.get("date"))
        return StatsQuery(site, start, end, parse_filters(params.get("filters")))

    @staticmethod
    def _metrics(request: Request) -> list[str]:
        text = request.query_params.get("metrics", "visitors")
        return [metric.strip() for metric in text.split(",") if metric.strip()]

    async def aggregate(self, request: Request, storage: Storage) -> Response:
        q, metrics = self._query(request), self._metrics(request)
        compare = request.query_params.get("compare", "")
        if compare not in ("", "previous_period"):
            raise BadStatsQuery("compare takes one value: previous_period.")
        now = await storage.run(lambda: aggregate(storage, q, metrics))
        results: dict[str, dict[str, Any]] = {m: {"value": v} for m, v in now.items()}
        if compare:
            before = await storage.run(lambda: aggregate(storage, q.previous(), metrics))
            for metric, value in before.items():
                results[metric]["change"] = change(metric, now[metric], value)
        return JSONResponse({"results": results}, headers=_NO_STORE)

    async def timeseries(self, request: Request, storage: Storage) -> Response:
        q, metrics = self._query(request), self._metrics(request)
        interval = request.query_params.get("interval", "")
        if interval not in ("", "date", "hour"):
            raise BadStatsQuery("interval takes date or hour (by default: hour up to two days).")
        hourly = {"": None, "date": False, "hour": True}[interval]
        rows = await storage.run(lambda: timeseries(storage, q, metrics, hourly=hourly))
        return JSONResponse({"results": rows}, headers=_NO_STORE)

    async def breakdown(self, request: Request, storage: Storage) -> Response:
        q, metrics = self._query(request), self._metrics(request)
        prop = property_name(request.query_params.get("property", ""))
        limit = _int(request.query_params.get("limit", "100"), "limit")
        k = self.settings.stats_min_visitors
        rows = await storage.run(lambda: breakdown(storage, q, prop, metrics, limit, k=k))
        return JSONResponse({"results": rows}, headers=_NO_STORE)

    async def realtime(self, request: Request, storage: Storage) -> Response:
        site = request.query_params.get("site_id") or self.default_site
        numbers = await storage.run(lambda: realtime(storage, site, utc_now()))
        return JSONResponse(numbers["last_5_minutes"], headers=_NO_STORE)

    async def consent(self, request: Request, storage: Storage) -> Response:
        q = self._query(request)
        categories = self.settings.consent_categories
        figures = await storage.run(lambda: consent_figures(storage, q, categories))
        return JSONResponse({"results": figures}, headers=_NO_STORE)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadStatsQuery(f"{name}={text!r} is not a whole number.") from None


def _unauthorized(message: str) -> Response:
    response = error_response(401, "unauthorized", message)
    response.headers["www-authenticate"] = 'Bearer realm="stats"'
    return response


def stats_routes(settings: Settings, storage: Storage) -> list[BaseRoute]:
    """The stats API's routes, for :func:`gateway.admin.app.admin_routes`."""
    return StatsApi(settings, storage).routes()
