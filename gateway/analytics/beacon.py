"""``POST /_consent/collect``: the banner script's small batches of events.

The body is JSON, ``{"events": [...]}``, each event one of:

    {"type": "engagement", "path": "/courses", "engagement_ms": 5300}
    {"type": "pageview", "path": "/app/step-2", "title": "Step 2",
     "referrer": "https://example.org/app/step-1"}     a single-page navigation
    {"type": "custom", "path": "/contact", "name": "form_sent",
     "props": {"form": "contact"}}

Validation is strict and comes first: an unknown field, a wrong type, or a body
past ``CG_BEACON_MAX_BYTES``/``CG_BEACON_MAX_EVENTS`` is a 400 ``invalid_beacon``
whose message starts with the field (``events[2].engagement_ms: ...``); too deep
a body is 400 ``json_too_deep``. No analytics consent: 204, nothing stored;
accepted: 202. Times are the gateway's, never the browser's.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from gateway.analytics.events import MAX_PATH, MAX_TITLE, Kind, event_for
from gateway.asgi import Receive, Scope, Send, header_value
from gateway.context import RequestContext
from gateway.errors import new_request_id, send_error
from gateway.exceptions import JsonTooDeep
from gateway.json_body import parse_json
from gateway.request_body import BodyAborted, BodyReader

if TYPE_CHECKING:
    from gateway.analytics.service import Analytics

logger = logging.getLogger("gateway.analytics")

MAX_NAME = 120
MAX_PROPS = 20
MAX_PROP_KEY = 64
MAX_PROP_VALUE = 256
MAX_ENGAGEMENT_MS = 86_400_000  # a day: anything longer is a broken timer

_KINDS: dict[str, Kind] = {kind.value: kind for kind in Kind}
_FIELDS: dict[str, frozenset[str]] = {
    "pageview": frozenset({"type", "path", "title", "referrer"}),
    "engagement": frozenset({"type", "path", "engagement_ms"}),
    "custom": frozenset({"type", "path", "name", "props"}),
}


class BeaconError(ValueError):
    """A beacon body that breaks the rules; the message starts with the field's name."""


def _text(item: dict[str, Any], key: str, where: str, limit: int, required: bool) -> str:
    value = item.get(key)
    if value is None:
        if required:
            raise BeaconError(f"{where}.{key}: is required.")
        return ""
    if not isinstance(value, str):
        raise BeaconError(f"{where}.{key}: must be a string.")
    if len(value) > limit:
        raise BeaconError(f"{where}.{key}: must be at most {limit} characters.")
    return value


def _props(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BeaconError(f"{where}.props: must be an object.")
    if len(value) > MAX_PROPS:
        raise BeaconError(f"{where}.props: must have at most {MAX_PROPS} entries.")
    props: dict[str, str] = {}
    for key, item in value.items():
        if len(key) > MAX_PROP_KEY:
            raise BeaconError(f"{where}.props: keys must be at most {MAX_PROP_KEY} characters.")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise BeaconError(f"{where}.props.{key}: must be a string or a number.")
        text = str(item)
        if len(text) > MAX_PROP_VALUE:
            raise BeaconError(f"{where}.props.{key}: must be at most {MAX_PROP_VALUE} characters.")
        props[key] = text
    return props


def parse_beacon(body: bytes, max_events: int) -> list[dict[str, Any]]:
    """The checked events of a beacon body; :class:`BeaconError` names what is wrong
    (:class:`~gateway.exceptions.JsonTooDeep` says the body nests past the bound)."""
    try:
        data = parse_json(body)
    except (ValueError, UnicodeDecodeError):
        raise BeaconError("body: must be a JSON object.") from None
    if not isinstance(data, dict):
        raise BeaconError("body: must be a JSON object.")
    for key in data:
        if key != "events":
            raise BeaconError(f"{key}: is not a known field; the only one is events.")
    events = data.get("events")
    if not isinstance(events, list):
        raise BeaconError("events: must be a list.")
    if not events:
        raise BeaconError("events: must not be empty.")
    if len(events) > max_events:
        raise BeaconError(f"events: must hold at most {max_events} events, not {len(events)}.")
    checked = []
    for index, item in enumerate(events):
        where = f"events[{index}]"
        if not isinstance(item, dict):
            raise BeaconError(f"{where}: must be an object.")
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in _FIELDS:  # a list is not even hashable
            raise BeaconError(f"{where}.type: must be one of {', '.join(_FIELDS)}.")
        for key in item:
            if key not in _FIELDS[kind]:
                raise BeaconError(f"{where}.{key}: is not a known field of a {kind} event.")
        path = _text(item, "path", where, MAX_PATH, required=True)
        if not path.startswith("/"):
            raise BeaconError(f"{where}.path: must start with /.")
        event: dict[str, Any] = {"kind": _KINDS[kind], "path": path}
        if kind == "pageview":
            event["title"] = _text(item, "title", where, MAX_TITLE, required=False)
            event["referrer"] = _text(item, "referrer", where, MAX_PATH, required=False)
        elif kind == "engagement":
            value = item.get("engagement_ms")
            if isinstance(value, bool) or not isinstance(value, int):
                raise BeaconError(f"{where}.engagement_ms: must be a whole number.")
            if not 0 <= value <= MAX_ENGAGEMENT_MS:
                raise BeaconError(
                    f"{where}.engagement_ms: must be between 0 and {MAX_ENGAGEMENT_MS}."
                )
            event["engagement_ms"] = value
        else:
            event["name"] = _text(item, "name", where, MAX_NAME, required=True)
            if not event["name"]:
                raise BeaconError(f"{where}.name: must not be empty.")
            event["props"] = _props(item.get("props", {}), where)
        checked.append(event)
    return checked


async def _invalid(send: Send, message: str) -> None:
    await send_error(send, 400, "invalid_beacon", message, request_id=None, as_json=True)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The body, or ``None`` once it passes ``limit`` bytes (read no further); raises
    :class:`BodyAborted` when the visitor leaves first."""
    declared = header_value(scope["headers"], b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    reader = BodyReader(receive, limit)
    try:
        return await reader.read()
    except BodyAborted:
        if reader.too_large:
            return None
        raise


async def _empty(send: Send, status: int) -> None:
    # A declared empty body: without Content-Length uvicorn would answer 202 chunked,
    # with a second socket write for the closing chunk (a tenth of the beacon's CPU).
    headers = [(b"content-length", b"0")] if status != 204 else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class Collect:
    """The beacon endpoint: validate, check consent, run each event through the steps.

    A plain ASGI app rather than a Starlette request handler: it is the gateway's
    busiest own route (a page sends one or more beacons). ``create_app`` hands
    ``POST`` straight to it from the dispatcher, inside the same security-header
    and rate-limit middleware as every own route but without Starlette's router
    and exception layers, a large share of a beacon's cost; other methods still
    reach it through the router, which answers 405. So it answers an unexpected
    error itself, in the one error shape, logged and re-raised, as the router's
    handler would.
    """

    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        analytics = self.analytics
        try:
            body = await _read_body(scope, receive, analytics.beacon_max_bytes)
        except BodyAborted:  # the visitor went away: nobody is left to answer
            return
        if body is None:
            await _invalid(send, f"body: must be at most {analytics.beacon_max_bytes} bytes.")
            return
        try:
            status = self._accept(scope, body)
        except BeaconError as error:
            await _invalid(send, str(error))
            return
        except JsonTooDeep as error:
            await send_error(send, 400, error.code, str(error), request_id=None, as_json=True)
            return
        except Exception:
            request_id = new_request_id()
            logger.exception("unexpected error request_id=%s path=%s", request_id, scope["path"])
            await send_error(
                send,
                500,
                "internal_error",
                "Something went wrong inside the gateway.",
                request_id=request_id,
                as_json=True,
            )
            raise
        await _empty(send, status)

    def _accept(self, scope: Scope, body: bytes) -> int:
        """Check the body and consent, record the events; the status to answer."""
        analytics = self.analytics
        events = parse_beacon(body, analytics.beacon_max_events)
        context: RequestContext = scope["gateway"]
        if not context.consent.allows("analytics"):
            analytics.count_unconsented(len(events))
            return 204
        now = time.time()
        user_agent = header_value(scope["headers"], b"user-agent") or ""
        site = analytics.site
        analytics.pipeline.process_all(
            event_for(context, site, user_agent, now, **fields) for fields in events
        )
        return 202
