"""Logs in text or JSON, with a request id, and never a full IP or a cookie value."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from gateway.app import create_app
from gateway.consent.state import CONSENT_COOKIE
from gateway.ops.logging import REDACTED, make_handler, scrub
from gateway.session import SESSION_COOKIE
from gateway.signing import CookieSigner
from tests.conftest import TEST_KEY, make_settings
from tests.servers import free_port, run_server

VISITOR_V4 = "203.0.113.77"
VISITOR_V6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348"
SESSION_VALUE = CookieSigner([TEST_KEY], salt="cg.session").sign("q8Zk3vJr0nS6yWm1hT4uXg")


@contextmanager
def captured(log_format: str) -> Iterator[io.StringIO]:
    """Every record that reaches the root logger, through the gateway's own handler."""
    stream = io.StringIO()
    handler = make_handler(log_format, stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def log_everything_forbidden(logger: logging.Logger) -> None:
    logger.warning("client %s asked for /", VISITOR_V4)
    logger.warning("client [%s]:443 via ::1", VISITOR_V6)
    logger.warning("request headers %r", [(b"cookie", f"{SESSION_COOKIE}={SESSION_VALUE}")])
    logger.warning("Cookie: %s=%s; _ga=GA1.2.1234.5678", SESSION_COOKIE, SESSION_VALUE)
    logger.warning("the session was %s", SESSION_VALUE)  # a bare signed value
    logger.warning("headers %s", {"set-cookie": "_fbp=fb.1.1700000000.42; Path=/"})
    logger.info("extra fields", extra={"client_ip": VISITOR_V4, "cookie_header": "_ga=GA1.2.3"})
    try:
        raise ValueError(f"cannot parse the answer for {VISITOR_V4} with {SESSION_VALUE}")
    except ValueError:
        logger.exception("a failure")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_full_ip_and_no_cookie_value_reaches_the_output(log_format: str) -> None:
    with captured(log_format) as stream:
        log_everything_forbidden(logging.getLogger("gateway.test"))
    output = stream.getvalue()
    for secret in (VISITOR_V4, VISITOR_V6, SESSION_VALUE, "GA1.2.1234.5678", "fb.1.1700000000"):
        assert secret not in output, f"{secret!r} was logged"
    assert SESSION_VALUE.split(".")[0] not in output  # not even the session id part
    assert "203.0.113.0" in output  # the /24 stays, as in ClickHouse
    assert "2001:db8:85a3::" in output  # the /48
    assert "::1" in output  # loopback names no one
    assert REDACTED in output
    assert "ValueError" in output  # the traceback is kept, scrubbed
    if log_format == "json":
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert len(records) == 8  # one object per record, the traceback inside its record
        assert records[-1]["exception"].startswith("Traceback")
        assert records[-2]["client_ip"] == "203.0.113.0"
        assert records[-2]["cookie_header"] == REDACTED
        assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])


def test_scrub_keeps_what_is_not_an_address_or_a_cookie() -> None:
    text = "consent-gateway 0.1.0 at 10:31:22,123 on http://127.0.0.1:8080 cookie_rules=x"
    assert scrub(text) == text
    names = (
        "clickhouse_connect.driver.exceptions.OperationalError: Code: 210. "
        "gateway.storage.client.StorageUnavailable uvicorn.protocols.websockets.websockets_impl"
    )
    assert scrub(names) == names


def test_every_signed_cookie_value_is_redacted_whatever_its_payload() -> None:
    admin = CookieSigner([TEST_KEY], salt="cg.admin").sign("WyJuIiwgImFAYi5jIiwgInMiXQ==")
    consent = CookieSigner([TEST_KEY], salt="cg.consent").sign("id~r1~analytics+marketing~2~h")
    for value in (admin, consent, SESSION_VALUE):
        assert scrub(f"got {value}; and a.b.{value}") == f"got {REDACTED}; and a.b.{REDACTED}"


def test_json_records_carry_no_colour_copy_of_the_message() -> None:
    with captured("json") as stream:
        # As uvicorn logs it (on "uvicorn.error", whose level its test servers lower).
        logging.getLogger("gateway.test").info(
            "Started server process [%d]", 42, extra={"color_message": "\x1b[36m%d\x1b[0m"}
        )
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["message"] == "Started server process [42]"
    assert "color_message" not in record and "\x1b" not in stream.getvalue()


async def test_websockets_leave_no_access_line_as_http_requests_do(proxy: str) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    level = uvicorn_error.level
    uvicorn_error.setLevel(logging.INFO)  # as `serve` runs it (the test servers log warnings)
    try:
        with captured("text") as stream:
            async with connect(proxy.replace("http://", "ws://") + "/ws") as ws:
                await ws.send("hello")
                reply = await ws.recv()
                assert isinstance(reply, str) and reply.startswith("echo:hello")
            uvicorn_error.info("a line uvicorn.error still writes")
    finally:
        uvicorn_error.setLevel(level)
    output = stream.getvalue()
    assert "a line uvicorn.error still writes" in output
    assert "WebSocket" not in output and "connection open" not in output, output


def test_a_gateway_error_and_its_log_line_share_the_request_id(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(dead, tmp_path, trusted_proxies="127.0.0.1", connect_timeout=1)
    with captured("json") as stream, run_server(create_app(settings)) as url:
        answer = httpx.get(
            f"{url}/page",
            headers={
                "accept": "application/json",
                "x-forwarded-for": VISITOR_V4,
                "cookie": f"{SESSION_COOKIE}={SESSION_VALUE}; {CONSENT_COOKIE}=abc.def",
            },
        )
    assert answer.status_code == 502
    request_id = answer.json()["error"]["request_id"]
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    upstream = [r for r in records if r["logger"] == "gateway.proxy"]
    assert upstream, records
    assert upstream[0]["request_id"] == request_id
    assert f"request_id={request_id}" in upstream[0]["message"]
    assert VISITOR_V4 not in stream.getvalue()
    assert SESSION_VALUE not in stream.getvalue()


def test_log_format_and_public_health_settings(tmp_path: Path) -> None:
    from gateway.exceptions import SettingsError

    settings = make_settings("http://127.0.0.1:9", tmp_path)
    assert (settings.log_format, settings.public_health) == ("text", False)
    assert make_settings("http://127.0.0.1:9", tmp_path, log_format="JSON").log_format == "json"
    with pytest.raises(SettingsError, match="CG_LOG_FORMAT must be one of text, json"):
        make_settings("http://127.0.0.1:9", tmp_path, log_format="xml")
    with pytest.raises(SettingsError, match="CG_PUBLIC_HEALTH must be on or off"):
        make_settings("http://127.0.0.1:9", tmp_path, public_health="maybe")
