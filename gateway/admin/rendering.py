"""Jinja2 templates for the admin pages, with what every page needs in its context.

Autoescaping is on for every template, so a page path or a referrer host
read from the events can never inject markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gateway import __version__
from gateway.admin.services import admin_of

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _number(value: Any) -> str:
    """1234567 -> 1,234,567; 2.5 -> 2.5; None -> an en dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def _duration(seconds: Any) -> str:
    seconds = int(seconds or 0)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


_environment.filters["number"] = _number
_environment.filters["duration"] = _duration
_environment.filters["query"] = lambda params: urlencode(
    [(key, value) for key, value in params.items() if value not in (None, "")]
)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``name`` with the signed-in account and the CSRF token in its context."""
    auth = admin_of(request).auth
    session = getattr(request.state, "session", None)
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("csrf", auth.token(session) if session is not None else "")
    context.setdefault("version", __version__)
    html = _environment.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)
