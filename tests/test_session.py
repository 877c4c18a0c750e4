"""The essential session cookie: signed, rolling 30-minute idle expiry, bad values replaced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.session import SESSION_COOKIE
from gateway.signing import CookieSigner
from tests.conftest import TEST_KEY, make_settings
from tests.servers import run_server

START = 1_800_000_000.0


class ManualClock:
    """A clock the test moves by hand: no sleeping."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gateway_with_clock(upstream: str, tmp_path: Path, clock: ManualClock) -> Iterator[str]:
    with run_server(create_app(make_settings(upstream, tmp_path), clock=clock)) as url:
        yield url


def session_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(SESSION_COOKIE + "="):
            return header
    return None


def value_of(header: str) -> str:
    return header.split(";")[0].split("=", 1)[1]


def session_id(value: str) -> str:
    return value.split(".")[0]


def test_new_visitor_gets_a_locked_down_cookie(gateway_with_clock: str) -> None:
    header = session_cookie(httpx.get(gateway_with_clock + "/echo"))
    assert header is not None
    attributes = [part.strip() for part in header.split(";")]
    assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes
    assert "Max-Age=1800" in attributes
    assert "Secure" not in attributes  # plain http here; https is covered in test_proxy_http


def test_rolling_idle_expiry(gateway_with_clock: str, clock: ManualClock) -> None:
    first = value_of(session_cookie(httpx.get(gateway_with_clock + "/echo")) or "")
    cookies = {SESSION_COOKIE: first}

    clock.now += 30  # fresh: nothing to renew
    assert session_cookie(httpx.get(gateway_with_clock + "/echo", cookies=cookies)) is None

    clock.now += 20 * 60  # active within 30 minutes: renewed, same id
    renewed = value_of(
        session_cookie(httpx.get(gateway_with_clock + "/echo", cookies=cookies)) or ""
    )
    assert session_id(renewed) == session_id(first) and renewed != first

    clock.now += 29 * 60  # 29 minutes after the renewal: still the same session
    cookies = {SESSION_COOKIE: renewed}
    again = value_of(session_cookie(httpx.get(gateway_with_clock + "/echo", cookies=cookies)) or "")
    assert session_id(again) == session_id(first)

    clock.now += 31 * 60  # idle for more than 30 minutes: a new session
    cookies = {SESSION_COOKIE: again}
    expired = value_of(
        session_cookie(httpx.get(gateway_with_clock + "/echo", cookies=cookies)) or ""
    )
    assert session_id(expired) != session_id(first)


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "",
        "a.b.c",
        "x" * 5000,
        "é€ünicode",
        "tampered",  # replaced below by a validly shaped cookie with a changed id
    ],
)
def test_bad_cookies_are_replaced_never_an_error(
    gateway_with_clock: str, clock: ManualClock, bad: str
) -> None:
    if bad == "tampered":
        good = CookieSigner([TEST_KEY], salt="cg.session", clock=clock).sign("realid")
        bad = "forged" + good[len("realid") :]
    response = httpx.get(
        gateway_with_clock + "/echo",
        headers={b"cookie": f"{SESSION_COOKIE}={bad}".encode()},  # raw UTF-8 bytes on the wire
    )
    assert response.status_code == 200
    header = session_cookie(response)
    assert header is not None and not session_id(value_of(header)).startswith("forged")


def test_cookie_signed_for_another_purpose_is_refused(
    gateway_with_clock: str, clock: ManualClock
) -> None:
    other = CookieSigner([TEST_KEY], salt="cg.consent", clock=clock).sign("someid")
    response = httpx.get(gateway_with_clock + "/echo", cookies={SESSION_COOKIE: other})
    header = session_cookie(response)
    assert header is not None and session_id(value_of(header)) != "someid"


def test_key_rotation_accepts_old_keys_and_signs_with_the_newest(
    upstream: str, tmp_path: Path, clock: ManualClock
) -> None:
    old_key, new_key = "o" * 40, "n" * 40
    old_cookie = CookieSigner([old_key], salt="cg.session", clock=clock).sign("keepme")
    settings = make_settings(upstream, tmp_path, secret_key=f"{new_key},{old_key}")
    with run_server(create_app(settings, clock=clock)) as gateway:
        clock.now += 120  # old enough to be renewed
        response = httpx.get(gateway + "/echo", cookies={SESSION_COOKIE: old_cookie})
    renewed = value_of(session_cookie(response) or "")
    assert session_id(renewed) == "keepme"
    assert CookieSigner([new_key], salt="cg.session", clock=clock).unsign(renewed, 1800)
    assert CookieSigner([old_key], salt="cg.session", clock=clock).unsign(renewed, 1800) is None
