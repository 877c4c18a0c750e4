"""Log lines as text or JSON, with a request id, never with a full IP or a cookie value.

``CG_LOG_FORMAT`` picks ``json`` (one object per record) or ``text`` (one line).
The guarantee does not rest on callers being careful: a :class:`RedactingFilter`
on the handler rewrites every record, ours, uvicorn's and any library's, before
it is formatted. IP addresses become their /24 or /48 networks (loopback stays);
``Cookie``/``Set-Cookie`` values, ``cg_*=value`` pairs and our signed cookie values
(``value.timestamp.signature``) become ``[redacted]``, in the message, its
arguments, the traceback and the stack; dotted names such as module paths stay.
uvicorn's per-websocket lines, its access log in all but name, are dropped.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
import time
from typing import IO, Any

from gateway.iptools import truncate_ip
from gateway.request_id import current_request_id

REDACTED = "[redacted]"
FORMATS = ("text", "json")

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f.]{0,15}(?![\w:])")
_COOKIE = re.compile(
    r"""(?i)\b((?:set-)?cookie)\b(["']?\s*(?:[:=]|,)\s*b?["']?)([^"'\n]*)""",
)
_GATEWAY_COOKIE = re.compile(r"\b(cg_[A-Za-z0-9_]+=)[^;\s\"',]+")
# What gateway.signing makes: the value (a base64 or ``~``-joined payload), the
# timestamp (base64 of a 4-byte integer) and an HMAC-SHA256 signature, 43 characters
# of URL-safe base64. Exactly that shape, so `clickhouse_connect.driver.exceptions`
# and other dotted names are left alone.
_B64 = r"[A-Za-z0-9_\-]"
_SIGNED = re.compile(rf"[\w\-~+|%]*={{0,2}}\.{_B64}{{1,8}}\.{_B64}{{43}}(?!{_B64})")
# uvicorn logs each websocket's handshake (with the client's address), opening and
# closing on "uvicorn.error", even with its access log off.
_WEBSOCKET_ACCESS = '%s - "WebSocket '
_WEBSOCKET_LINES = frozenset({"connection open", "connection closed"})
# Extras that only repeat the message: uvicorn's copy with ANSI colour escapes.
_DROPPED = ("color_message",)

# Attributes every LogRecord has; anything else was passed in ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


def _ip(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if address.is_loopback or address.is_unspecified:
        return text
    return truncate_ip(text) or text


def scrub(text: str) -> str:
    """``text`` without full IP addresses, cookie values or signed tokens."""
    text = _COOKIE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    text = _GATEWAY_COOKIE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _SIGNED.sub(REDACTED, text)
    text = _IPV6.sub(_ip, text)
    return _IPV4.sub(_ip, text)


def _is_websocket_access(message: str) -> bool:
    return message.startswith(_WEBSOCKET_ACCESS) or message in _WEBSOCKET_LINES


class RedactingFilter(logging.Filter):
    """Rewrites each record in place so no handler can print what it must not."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error" and _is_websocket_access(str(record.msg)):
            return False
        for key in _DROPPED:
            record.__dict__.pop(key, None)
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD:
                continue
            if "cookie" in key.lower():
                setattr(record, key, REDACTED)
            elif isinstance(value, str):
                setattr(record, key, scrub(value))
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed with ``extra=`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                data[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time, as logging's last resort does."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr


def make_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler (to ``stream``, or stderr) with the redacting filter and the format."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {log_format!r}")
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure_logging(log_format: str, level: str = "info") -> None:
    """Send every logger's records through one redacting handler on the root logger.

    Called again (``serve`` does, once the settings are read), it replaces the
    handler it added before. Like ``logging.basicConfig``, it changes nothing
    when someone else (a test runner) has already put handlers on the root.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "cg_handler", False)]
    if len(ours) != len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler = make_handler(log_format)
    handler.cg_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
