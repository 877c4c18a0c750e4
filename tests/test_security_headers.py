"""Every answer of the gateway's own routes carries the security headers, errors included.

The routes are read from the app itself, so a route added later is checked
without anyone remembering to list it here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from gateway.app import create_app
from gateway.own_headers import DATA_CSP, PAGE_CSP
from tests.conftest import make_settings
from tests.inprocess import InProcess, in_process

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcess, list[str]]]:
    settings = make_settings(
        "http://127.0.0.1:9", tmp_path_factory.mktemp("headers"), rate_limit_beacon="1/hour"
    )
    app = create_app(settings)
    paths = [
        route.path
        for route in app.own_routes
        if isinstance(route, Route) and "GET" in (route.methods or ()) and "{" not in route.path
    ]
    with in_process(app) as running:
        yield running, paths


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert response.headers.get("referrer-policy") in ("same-origin", "no-referrer")
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy or response.headers["x-frame-options"] == "DENY"
    if response.headers.get("content-type", "").startswith("text/html"):
        assert "script-src 'self'" in policy or "default-src 'none'" in policy, policy
        assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy


def test_the_routes_under_test_include_the_known_ones(gateway: tuple[InProcess, list[str]]) -> None:
    _, paths = gateway
    assert {"/_consent/state", "/.well-known/gpc.json"} <= set(paths)


def test_every_own_get_route_sends_the_headers(gateway: tuple[InProcess, list[str]]) -> None:
    running, paths = gateway
    for path in paths:
        check(running.request("GET", path, headers={"accept": "text/html"}))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_consent/no-such-thing"),  # 404
        ("PUT", "/_consent/state"),  # 405
        ("POST", "/_consent/state"),  # 403, no token
        ("POST", "/_consent/collect"),  # 400, no body
    ],
)
def test_error_answers_send_the_headers(
    gateway: tuple[InProcess, list[str]], method: str, path: str
) -> None:
    running, _ = gateway
    response = running.request(method, path, headers={"accept": "application/json"})
    assert response.status_code >= 400
    check(response)
    assert response.headers["content-security-policy"] == DATA_CSP.decode()


def test_a_rate_limited_answer_sends_the_headers(gateway: tuple[InProcess, list[str]]) -> None:
    running, _ = gateway
    answers = [running.request("POST", "/_consent/collect", client="203.0.113.9") for _ in range(3)]
    assert answers[-1].status_code == 429
    check(answers[-1])


def test_proxied_pages_keep_the_sites_own_headers(demo_site: str, tmp_path: Path) -> None:
    with in_process(create_app(make_settings(demo_site, tmp_path))) as running:
        page = running.request("GET", "/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers.get("content-security-policy") != PAGE_CSP.decode()
