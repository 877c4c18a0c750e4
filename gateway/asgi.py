"""The ASGI types the gateway uses, in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

VISITOR_GONE = "gateway.visitor_gone"
"""Set (to ``True``) in a request's scope by the gateway's uvicorn protocol when the
visitor's connection closes before the response is complete. uvicorn's ``send``
then drops every message without a word, so a long body would otherwise be read
from the upstream to its end for nobody (``gateway/limits.py``)."""


def header_value(headers: RawHeaders, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as latin-1, or ``None``."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
