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


def header_value(headers: RawHeaders, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as latin-1, or ``None``."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
