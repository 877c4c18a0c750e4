"""The admin cookie behind an HTTPS proxy: ``Secure`` and ``__Host-`` prefixed, as the docs say.

uvicorn's proxy headers are off, so the admin listener must take the scheme from
``CG_TRUSTED_PROXIES`` like the public one. Real uvicorn serves both listeners
on loopback; the test sends what the proxy would (``X-Forwarded-Proto``) and
keeps the cookies itself, as a browser on the proxy's HTTPS origin would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.storage import storage_from_settings
from tests.admin_helpers import PASSWORD, ManualClock, add_account, csrf_of
from tests.conftest import make_settings
from tests.servers import run_gateway

ADMIN = "admin@example.org"
HTTPS = {"x-forwarded-proto": "https"}


def attributes(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";")[1:]:
        key, _, value = part.partition("=")
        found[key.strip().lower()] = value.strip()
    return found


def issued(response: httpx.Response, name: str) -> str:
    """The value of the one live cookie ``name`` the response sets."""
    live = [
        h
        for h in response.headers.get_list("set-cookie")
        if h.startswith(name + "=") and attributes(h).get("max-age") != "0"
    ]
    assert len(live) == 1, response.headers.get_list("set-cookie")
    return live[0].split(";", 1)[0].split("=", 1)[1]


@pytest.fixture
def admin(demo_site: str, tmp_path: Path) -> Iterator[str]:
    """The admin listener, behind a trusted proxy on loopback, with one admin account."""
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1")
    with run_gateway(settings, clock=ManualClock()) as (_, admin_url):
        add_account(storage_from_settings(settings), ADMIN, "admin")
        yield admin_url


def test_behind_a_trusted_https_proxy_the_admin_cookie_is_secure_and_host_prefixed(
    admin: str,
) -> None:
    form = httpx.get(admin + "/login", headers=HTTPS)
    (header,) = form.headers.get_list("set-cookie")
    assert header.startswith("__Host-cg_admin=")
    attrs = attributes(header)
    assert "secure" in attrs and "httponly" in attrs
    assert attrs["path"] == "/" and "domain" not in attrs

    cookie = {"cookie": f"__Host-cg_admin={issued(form, '__Host-cg_admin')}"}
    answer = httpx.post(
        admin + "/login",
        data={"csrf": csrf_of(form.text), "email": ADMIN, "password": PASSWORD, "next": "/"},
        headers={**HTTPS, **cookie},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    session = issued(answer, "__Host-cg_admin")
    assert "secure" in attributes(answer.headers["set-cookie"])
    users = httpx.get(admin + "/users", headers={**HTTPS, "cookie": f"__Host-cg_admin={session}"})
    assert users.status_code == 200
    # Over HTTPS the unprefixed name is no longer believed, and it is deleted.
    plain = httpx.get(admin + "/users", headers={**HTTPS, "cookie": f"cg_admin={session}"})
    assert plain.status_code == 303 and plain.headers["location"].startswith("/login")
    assert any(
        h.startswith("cg_admin=;") and attributes(h)["max-age"] == "0"
        for h in plain.headers.get_list("set-cookie")
    )

    # A peer outside CG_TRUSTED_PROXIES (another loopback address) cannot claim HTTPS.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as stranger:
        (header,) = stranger.get(admin + "/login", headers=HTTPS).headers.get_list("set-cookie")
    assert header.startswith("cg_admin=") and "secure" not in attributes(header)


def test_two_admin_cookies_are_both_distrusted_deleted_then_replaced(admin: str) -> None:
    first = issued(httpx.get(admin + "/login"), "cg_admin")
    second = issued(httpx.get(admin + "/login"), "cg_admin")
    form = httpx.get(admin + "/login", headers={"cookie": f"cg_admin={first}; cg_admin={second}"})
    lines = form.headers.get_list("set-cookie")
    deleted = [i for i, h in enumerate(lines) if attributes(h).get("max-age") == "0"]
    assert deleted and all(lines[i].startswith("cg_admin=;") for i in deleted)
    fresh = issued(form, "cg_admin")
    assert fresh not in (first, second)
    assert max(deleted) < lines.index(next(h for h in lines if h.startswith(f"cg_admin={fresh}")))
    # The form's token belongs to the new cookie: logging in with it works.
    answer = httpx.post(
        admin + "/login",
        data={"csrf": csrf_of(form.text), "email": ADMIN, "password": PASSWORD, "next": "/"},
        headers={"cookie": f"cg_admin={fresh}"},
    )
    assert answer.status_code == 303
