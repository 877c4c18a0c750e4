"""The current request's id: made on first use, shared by its log lines and error page.

The front door binds each HTTP request's ASGI scope to a context
variable (one ``ContextVar.set`` per request, no allocation); the id itself is
only made when something asks for it, a log line or an error page, so requests
that log nothing pay nothing more. uvicorn runs each request in a task of its
own, so the binding never leaks from one request into another.
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

_SCOPE: ContextVar[MutableMapping[str, Any] | None] = ContextVar("cg_request_scope", default=None)
_KEY = "cg.request_id"


def bind_request(scope: MutableMapping[str, Any]) -> None:
    """Make ``scope`` the current request of this task."""
    _SCOPE.set(scope)


def current_request_id() -> str | None:
    """The current request's id (made now if it has none yet), or ``None`` outside one."""
    scope = _SCOPE.get()
    if scope is None:
        return None
    request_id: str | None = scope.get(_KEY)
    if request_id is None:
        request_id = scope[_KEY] = secrets.token_hex(8)
    return request_id
