"""The one shape of every error the gateway itself answers with.

JSON clients get ``{"error": {"status", "code", "message", "request_id"}}``;
browsers get a small HTML page saying the same. The stats API (under ``/api/``)
answers as Plausible's does, ``{"error": "<sentence>"}``, with the same status,
code and request id beside it. The request id is also
logged, so an operator can find the line a visitor reports. Nothing here ever
includes a traceback.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.asgi import Scope, Send
from gateway.exceptions import JsonTooDeep
from gateway.request_id import current_request_id

logger = logging.getLogger("gateway")

Handler = Callable[[Request, Exception], Awaitable[Response]]


def new_request_id() -> str:
    """The current request's id (a new random one outside a request).

    It ties an error page to its log lines: the JSON logs carry the same id.
    """
    return current_request_id() or secrets.token_hex(8)


def wants_json(accept: str | None) -> bool:
    """Whether the client prefers JSON over HTML, judged from its ``Accept`` header."""
    if not accept:
        return False
    accept = accept.lower()
    return "json" in accept and "text/html" not in accept


def error_payload(
    status: int, code: str, message: str, request_id: str | None
) -> dict[str, object]:
    """The JSON error shape, as a dict."""
    body: dict[str, object] = {"status": status, "code": code, "message": message}
    if request_id:
        body["request_id"] = request_id
    return {"error": body}


def error_body(
    status: int, code: str, message: str, request_id: str | None, as_json: bool
) -> tuple[bytes, bytes]:
    """The body and content type of an error answer, as JSON or as a small HTML page."""
    if as_json:
        payload = error_payload(status, code, message, request_id)
        return json.dumps(payload).encode(), b"application/json"
    reference = f"<p><small>Request id: {html.escape(request_id)}</small></p>" if request_id else ""
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{status}</title><h1>{status}</h1><p>{html.escape(message)}</p>{reference}</html>"
    )
    return page.encode(), b"text/html; charset=utf-8"


def error_response(
    status: int, code: str, message: str, *, request_id: str | None = None, as_json: bool = True
) -> Response:
    """A Starlette response in the error shape, for the gateway's own routes."""
    body, content_type = error_body(status, code, message, request_id, as_json)
    return Response(body, status_code=status, media_type=content_type.decode())


API_PREFIX = "/api/"
"""The stats API's routes (admin listener), whose errors have Plausible's body."""


def api_error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """An error of the stats API: Plausible's ``{"error": "<sentence>"}``, so its clients
    show the sentence, with the same ``status``, ``code`` and ``request_id`` beside it."""
    payload: dict[str, object] = {"error": message, "status": status, "code": code}
    request_id = current_request_id()
    if request_id:
        payload["request_id"] = request_id
    body = json.dumps(payload).encode()
    response = Response(body, status_code=status, media_type="application/json", headers=headers)
    response.headers["cache-control"] = "no-store"
    return response


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None,
    as_json: bool,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send an error answer over raw ASGI, for the proxy's hot path."""
    body, content_type = error_body(status, code, message, request_id, as_json)
    headers = [*_error_headers(body, content_type), *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def refuse_websocket(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """Refuse a websocket handshake with the JSON error shape, as an HTTP answer where the
    server offers ASGI's denial response, else by closing with 1008 (policy violation)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body, content_type = error_body(status, code, message, None, as_json=True)
    start = {"status": status, "headers": _error_headers(body, content_type)}
    await send({"type": "websocket.http.response.start", **start})
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})


def _error_headers(body: bytes, content_type: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]


def error_handlers(json_prefix: str, api_prefix: str | None = None) -> dict[Any, Handler]:
    """The exception handlers every Starlette app of the gateway uses: one error shape.

    Errors under ``json_prefix`` (the reserved prefix, where every client is a
    script) are JSON whatever the ``Accept`` header says; errors under
    ``api_prefix`` (the admin listener's :data:`API_PREFIX`) have the stats API's
    body (:func:`api_error_response`).
    """

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        as_json = wants_json(request.headers.get("accept")) or request.url.path.startswith(
            json_prefix
        )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if api_prefix and request.url.path.startswith(api_prefix):
            return api_error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)
        response = error_response(exc.status_code, code, str(exc.detail), as_json=as_json)
        response.headers.update(exc.headers or {})  # a 405's Allow
        return response

    return {HTTPException: http_error, JsonTooDeep: _json_too_deep, Exception: _server_error}


async def _server_error(request: Request, exc: Exception) -> Response:
    request_id = new_request_id()
    logger.exception("unexpected error request_id=%s path=%s", request_id, request.url.path)
    return error_response(
        500,
        "internal_error",
        "Something went wrong inside the gateway.",
        request_id=request_id,
        as_json=wants_json(request.headers.get("accept")),
    )


async def _json_too_deep(request: Request, exc: Exception) -> Response:
    # Raised by gateway.json_body.parse_json in any endpoint that reads a JSON body.
    assert isinstance(exc, JsonTooDeep)
    return error_response(exc.status_code, exc.code, str(exc))
