"""The stats API's OpenAPI 3.1 document, served at ``/api/v1/openapi.json``.

Written out by hand from the same constants the endpoints check (periods,
metrics, properties, intervals, v2's operators), as enums and patterns, so the
allowed values cannot drift from the code; tests check that every route is
described here, that the document's own examples get a 200, and run
schemathesis over it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from gateway import __version__
from gateway.stats.metrics import EVENTS, METRICS, offered
from gateway.stats.properties import PROPERTIES
from gateway.stats.query import FILTERS, PERIODS
from gateway.stats.v1 import INTERVALS, MAX_ROWS
from gateway.stats.v2 import DATE_RANGES, OPERATORS, TIME_DIMENSIONS

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


# A day from 1970 to 2199 (February the 29th, which the server takes in leap years, left out).
_DAY = (
    r"(?:19[7-9]\d|2[01]\d\d)-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_PROPERTY = "(?:" + "|".join(re.escape(name) for name in (*FILTERS, "event:goal")) + ")"
_FILTER = _PROPERTY + "(?:==|!=)[^;]*"
# time_on_page: in the aggregate and by event:page only (gateway.stats.time_on_page)
# events; conversion_rate with an event:goal filter (gateway.stats.conversions)
_METRIC = "(?:" + "|".join((*METRICS, "time_on_page", "events", "conversion_rate")) + ")"

_SITE = _param(
    "site_id",
    "The site: this gateway's (CG_SITE_ID or the upstream's host), or one it has statistics of.",
    {"type": "string", "minLength": 1, "example": "example.org"},
    required=True,
)
_COMMON = [
    _SITE,
    _param(
        "period",
        "The time range, UTC. `7d` is today and the 6 days before, `30d` today and the 30 "
        "before (as Plausible counts them); `6mo` and `12mo` are whole months, this one included. "
        "A range starting more than 31 days back is answered from the anonymous history once "
        "it holds days there: the answer then has a `history` object, and `visitors` is the "
        "sum of each day's unique visitors.",
        {"type": "string", "enum": list(PERIODS), "default": "30d"},
    ),
    _param(
        "date",
        "`YYYY-MM-DD` (the day a period ends on or is in); `YYYY-MM-DD,YYYY-MM-DD` for `custom`.",
        {"type": "string", "pattern": f"^{_DAY}(?:,{_DAY})?$", "example": "2026-11-01"},
    ),
    _param(
        "filters",
        "Plausible v1 filters joined by `;`, all holding: `PROPERTY==VALUE` or `PROPERTY!=VALUE`; "
        "`a|b` is either, `\\|` a literal bar, `*` any run of characters. Example: "
        "`event:page==/blog/**;visit:country!=GB|FR`.",
        {"type": "string", "pattern": f"^(?:{_FILTER}(?:;{_FILTER})*)?$"},
    ),
    _param(
        "with_imported",
        "Accepted and ignored: there is no imported data here.",
        {"type": "boolean"},
    ),
]
_METRICS = _param(
    "metrics",
    "Comma-separated metrics.",
    {
        "type": "string",
        "pattern": f"^{_METRIC}(?:,{_METRIC})*$",
        "default": "visitors",
        "example": ",".join(METRICS),
    },
)
_NUMBER = {"type": "number"}
_FIGURE = {"type": ["number", "null"]}  # null when the k rule withholds it
_WITHHELD = {"type": "boolean", "const": True}
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
                "405": _ERROR,
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
                "Compare with the previous period, or (`year`) the same period a year before, "
                "from the anonymous history.",
                {"type": "string", "enum": ["previous_period", "year"]},
            ),
        ],
        _results(
            {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["value"],
                    "properties": {
                        "value": _FIGURE,
                        "withheld": _WITHHELD,
                        "change": {"type": ["number", "null"]},
                        "comparison_value": _FIGURE,
                        "comparison_withheld": _WITHHELD,
                    },
                },
            }
        ),
    ),
    "/api/v1/stats/timeseries": _get(
        "The metrics hour by hour (periods up to two days) or day by day",
        "Every bucket of the period, empty ones as zeros, one counting fewer than k "
        'visitors as `null` figures with `"withheld": true`. '
        "`date` is `YYYY-MM-DD` or `YYYY-MM-DD HH:00:00`.",
        [
            *_COMMON,
            _METRICS,
            _param(
                "interval",
                "`hour`, `date` (or `day`), `month`; by default hours up to two days, days "
                "beyond. Hours span at most 31 days.",
                {"type": "string", "enum": list(INTERVALS)},
            ),
        ],
        _results(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"date": {"type": "string"}, "withheld": _WITHHELD},
                    "additionalProperties": _FIGURE,
                },
            }
        ),
    ),
    "/api/v1/stats/breakdown": _get(
        "The top values of a property",
        "Rows by visitors, most first. Every row under k visitors (CG_STATS_MIN_VISITORS) is "
        "folded into one `(other)` row, last. Each row is keyed by the property's short name "
        "(`page`, `source`, `country`...). "
        f"{' and '.join(_VISIT_METRICS)} break down by properties of a whole visit "
        f"(not {', '.join(p for p in _EVENT_PROPERTIES if p != 'event:page')}); by page they "
        "are those of the visits that entered on it, `null` when fewer than k visitors did.",
        [
            *_COMMON,
            _METRICS,
            _param(
                "property",
                "What to break down by; also `event:goal` (metrics visitors, events, "
                "conversion_rate), `event:name` and `event:props:KEY` (with a filter "
                "`event:goal==NAME` or `event:name==NAME`).",
                {
                    "type": "string",
                    "anyOf": [
                        {"enum": [*FILTERS, "event:goal", "event:name"]},
                        {"pattern": "^event:props:.+$"},
                    ],
                    "example": "visit:source",
                },
                required=True,
            ),
            _param(
                "limit",
                "At most this many rows a page.",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            ),
            _param(
                "page",
                f"Which page of `limit` rows, from 1 (`limit` times `page` at most {MAX_ROWS}).",
                {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": 1},
            ),
        ],
        _results({"type": "array", "items": {"type": "object"}}),
    ),
    "/api/v1/stats/realtime/visitors": _get(
        "Visitors in the last 5 minutes",
        "A bare number, as in Plausible; `null` for fewer than k visitors.",
        [_SITE],
        {"type": ["integer", "null"]},
    ),
    "/api/v1/stats/consent": _get(
        "Banner outcomes and opt-in rates",
        "Counts of banner displays and choices, their rates (percent of choices), each "
        "category's opt-in rate and the share of displays to browsers sending Sec-GPC. Filters "
        "do not apply: these counts carry no page, place or browser.",
        [*_COMMON[:3], _COMMON[4]],
        _results({"type": "object"}),
    ),
    "/api/v1/stats/annotations": _get(
        "Annotations in the period",
        'The dated notes admins added on the dashboard ("Open evening"), oldest first: '
        "each one's id, day and text. Filters do not apply.",
        [*_COMMON[:3], _COMMON[4]],
        _results(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "date", "text"],
                    "properties": {
                        "id": {"type": "string"},
                        "date": {"type": "string", "format": "date"},
                        "text": {"type": "string"},
                    },
                },
            }
        ),
    ),
}


_NAMES = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_V2_QUERY = {
    "type": "object",
    "required": ["site_id", "metrics", "date_range"],
    "additionalProperties": False,
    "properties": {
        "site_id": {"type": "string", "minLength": 1},
        "metrics": {
            "type": "array",
            "items": {"type": "string", "enum": [*METRICS, "events", "conversion_rate"]},
            "minItems": 1,
            "uniqueItems": True,
        },
        "date_range": {
            "oneOf": [
                {"type": "string", "enum": list(DATE_RANGES)},
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": f"^{_DAY}$"},
                    "minItems": 2,
                    "maxItems": 2,
                },
            ]
        },
        "dimensions": {
            "type": "array",
            "maxItems": 1,
            "items": {"type": "string", "enum": [*FILTERS, *TIME_DIMENSIONS, "event:goal"]},
        },
        "filters": {
            "type": "array",
            "description": "[OPERATOR, DIMENSION, [VALUES]] with OPERATOR one of "
            + ", ".join(OPERATORS)
            + '; or ["and", [...]], ["or", [...]] (of one dimension), ["not", FILTER].',
            "items": {"type": "array", "minItems": 2, "maxItems": 4},
        },
        "order_by": {
            "type": "array",
            "items": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"enum": ["asc", "desc"]}],
                "minItems": 2,
                "maxItems": 2,
            },
        },
        "include": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                name: {"type": "boolean"} for name in ("time_labels", "total_rows", "imports")
            },
        },
        "pagination": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 10_000},
                "offset": {"type": "integer", "minimum": 0, "maximum": 9_999},
            },
        },
    },
}
_V2_ANSWER = {
    "type": "object",
    "required": ["results", "meta", "query"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["metrics", "dimensions"],
                "properties": {
                    "metrics": {"type": "array", "items": {"type": ["number", "null"]}},
                    "dimensions": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "meta": {"type": "object"},
        "query": {"type": "object"},
    },
}
V2_PATH = {
    "post": {
        "summary": "Plausible's Stats API v2 query",
        "description": "Totals, one property or one time dimension, with v2 filters, "
        "order_by, pagination and include.time_labels. Breakdowns obey the k rule: rows "
        "under k visitors are folded into one `(other)` row, last.",
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _V2_QUERY,
                    "example": {
                        "site_id": "example.org",
                        "metrics": ["visitors", "bounce_rate"],
                        "date_range": "7d",
                        "dimensions": ["visit:source"],
                        "filters": [["is_not", "visit:country", ["US"]]],
                    },
                }
            },
        },
        "responses": {
            "200": {
                "description": "The figures.",
                "content": {"application/json": {"schema": _V2_ANSWER}},
            },
            "400": _ERROR,
            "401": _ERROR,
            "405": _ERROR,
        },
    }
}


def openapi_document(site: str = "example.org") -> dict[str, Any]:
    """The OpenAPI document of the stats API; its examples name ``site``, the gateway's own."""
    paths = copy.deepcopy({**PATHS, "/api/v2/query": V2_PATH})
    paths["/api/v2/query"]["post"]["requestBody"]["content"]["application/json"]["example"][
        "site_id"
    ] = site
    for path in paths.values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "site_id":
                    parameter["schema"]["example"] = site
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "consent-gateway stats API",
            "version": __version__,
            "description": "Aggregated statistics, answering as Plausible's Stats API v1 "
            "(and v2's query endpoint) does. See docs/stats-api.md.",
        },
        "paths": paths,
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
                    "description": "Plausible's error body: the sentence under `error`, with the "
                    "status, a code and the request id beside it. A 401 also has "
                    "`WWW-Authenticate: Bearer`, a 405 `Allow`.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error", "status", "code"],
                                "properties": {
                                    "error": {"type": "string"},
                                    "status": {"type": "integer"},
                                    "code": {"type": "string"},
                                    "request_id": {"type": "string"},
                                },
                            }
                        }
                    },
                }
            },
        },
    }
