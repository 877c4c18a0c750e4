"""The stats API's OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

Written out by hand from the same constants the endpoints check (periods,
metrics, properties), so the allowed values cannot drift from the code; a test
checks that every route the API serves is described here.
"""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.stats.metrics import EVENTS, METRICS, offered
from gateway.stats.properties import PROPERTIES
from gateway.stats.query import FILTERS, PERIODS

_ERROR = {"$ref": "#/components/responses/Error"}


def _param(
    name: str, description: str, schema: dict[str, Any], required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


_COMMON = [
    _param(
        "site_id",
        "The site; by default this gateway's (CG_SITE_ID or the upstream's host).",
        {"type": "string"},
    ),
    _param(
        "period",
        "The time range, UTC. `7d` and `30d` end today, included.",
        {"type": "string", "enum": list(PERIODS), "default": "30d"},
    ),
    _param(
        "date",
        "`YYYY-MM-DD` for `day` and `month`; `YYYY-MM-DD,YYYY-MM-DD` for `custom`.",
        {"type": "string"},
    ),
    _param(
        "filters",
        "Plausible v1 filters joined by `;`, only `==`: "
        "`event:page==/blog;visit:country==GB`. Properties: " + ", ".join(FILTERS) + ".",
        {"type": "string"},
    ),
]
_METRICS = _param(
    "metrics",
    "Comma-separated metrics.",
    {"type": "string", "default": "visitors", "example": ",".join(METRICS)},
)
_NUMBER = {"type": "number"}
_VISIT_METRICS = [name for name in METRICS if name not in offered(EVENTS)]
_EVENT_PROPERTIES = [p.plausible for p in PROPERTIES.values() if p.dimension.source is EVENTS]


def _get(
    summary: str, description: str, parameters: list[dict[str, Any]], result: dict[str, Any]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": description,
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The figures.",
                    "content": {"application/json": {"schema": result}},
                },
                "400": _ERROR,
                "401": _ERROR,
            },
        }
    }


def _results(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["results"], "properties": {"results": schema}}


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/stats/aggregate": _get(
        "Totals over the period",
        "Each metric's value; with `compare=previous_period` also its `change` against the "
        "period of the same length just before (percent; points for bounce_rate).",
        [
            *_COMMON,
            _METRICS,
            _param(
                "compare",
                "Compare with the previous period.",
                {"type": "string", "enum": ["previous_period"]},
            ),
        ],
        _results(
            {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"value": _NUMBER, "change": {"type": ["number", "null"]}},
                },
            }
        ),
    ),
    "/api/v1/stats/timeseries": _get(
        "The metrics hour by hour (periods up to two days) or day by day",
        "Every bucket of the period, empty ones as zeros. "
        "`date` is `YYYY-MM-DD` or `YYYY-MM-DD HH:00:00`.",
        [
            *_COMMON,
            _METRICS,
            _param(
                "interval",
                "`hour` or `date`; by default hours up to two days, days beyond. "
                "Hours span at most 31 days.",
                {"type": "string", "enum": ["date", "hour"]},
            ),
        ],
        _results(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"date": {"type": "string"}},
                    "additionalProperties": _NUMBER,
                },
            }
        ),
    ),
    "/api/v1/stats/breakdown": _get(
        "The top values of a property",
        "Rows by visitors, most first. Every row under k visitors (CG_STATS_MIN_VISITORS) is "
        "folded into one `(other)` row, last. Each row is keyed by the property's short name "
        "(`page`, `source`, `country`...). "
        f"{' and '.join(_VISIT_METRICS)} break down by properties of a whole visit only "
        f"(not {', '.join(_EVENT_PROPERTIES)}).",
        [
            *_COMMON,
            _METRICS,
            _param(
                "property",
                "What to break down by.",
                {"type": "string", "enum": list(FILTERS)},
                required=True,
            ),
            _param(
                "limit",
                "At most this many rows.",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            ),
        ],
        _results({"type": "array", "items": {"type": "object"}}),
    ),
    "/api/v1/stats/realtime/visitors": _get(
        "Visitors in the last 5 minutes",
        "A bare number, as in Plausible.",
        [_COMMON[0]],
        {"type": "integer"},
    ),
    "/api/v1/stats/consent": _get(
        "Banner outcomes and opt-in rates",
        "Counts of banner displays and choices, their rates (percent of choices), each "
        "category's opt-in rate and the share of displays to browsers sending Sec-GPC. Filters "
        "do not apply: these counts carry no page, place or browser.",
        _COMMON[:3],
        _results({"type": "object"}),
    ),
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the stats API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "consent-gateway stats API",
            "version": __version__,
            "description": "Aggregated statistics, shaped like Plausible's Stats API v1. "
            "See docs/stats-api.md.",
        },
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `consent-gateway token create NAME`.",
                }
            },
            "responses": {
                "Error": {
                    "description": "The gateway's one error shape.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error": {
                                        "type": "object",
                                        "properties": {
                                            "status": {"type": "integer"},
                                            "code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "request_id": {"type": "string"},
                                        },
                                    }
                                },
                            }
                        }
                    },
                }
            },
        },
    }
