"""The banner's tags under the page's Content-Security-Policy, and that they block nothing.

Unit tests of how a policy is widened (only ever by the one inline script's hash),
then a real gateway in front of an upstream sending pages under each kind of
policy. The browser tests (test_banner_browser.py, test_banner_layout.py) run the
banner under ``script-src 'self'`` and a nonce policy in Chromium, where a blocked
script would be a console error.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.banner.csp import allow_inline, script_hash
from tests.conftest import make_settings
from tests.servers import run_server

HASH = script_hash(b"window.dataLayer=[]")
PAGE = "<!doctype html><html><head><title>T</title></head><body><p>hi</p></body></html>"
POLICIES = {
    "self": "default-src 'self'; script-src 'self'; style-src 'self'",
    "default": "default-src 'self'",
    "inline": "script-src 'self' 'unsafe-inline'",
    "nonce": "script-src 'nonce-AbC123' 'strict-dynamic'; object-src 'none'",
    "styles": "style-src 'self'; img-src *",
    "two": "script-src 'unsafe-inline', script-src 'self'",
}


H = HASH.decode()


@pytest.mark.parametrize(
    ("policy", "nonce", "widened"),
    [
        # No inline script may run: the hash joins the directive that governs scripts.
        ("script-src 'self'", None, f"script-src 'self' {H}"),
        ("default-src 'self'; img-src *", None, f"default-src 'self' {H}; img-src *"),
        (
            "default-src 'none'; script-src-elem 'self'",
            None,
            f"default-src 'none'; script-src-elem 'self' {H}",
        ),
        (
            "script-src 'sha256-abc=' 'unsafe-inline'",
            None,
            f"script-src 'sha256-abc=' 'unsafe-inline' {H}",
        ),
        (
            "script-src 'unsafe-inline' 'strict-dynamic'",
            None,
            f"script-src 'unsafe-inline' 'strict-dynamic' {H}",
        ),
        ("SCRIPT-SRC 'Self'", None, f"SCRIPT-SRC 'Self' {H}"),
        # Nonces are case-sensitive: another one does not let ours in.
        ("script-src 'nonce-xy'", b"Xy", f"script-src 'nonce-xy' {H}"),
        # Already allowed, or no script at all: left exactly as it was.
        ("script-src 'self' 'unsafe-inline'", None, "script-src 'self' 'unsafe-inline'"),
        ("script-src 'nonce-Xy' 'strict-dynamic'", b"Xy", "script-src 'nonce-Xy' 'strict-dynamic'"),
        (
            "style-src 'self'; frame-ancestors 'none'",
            None,
            "style-src 'self'; frame-ancestors 'none'",
        ),
        ("script-src 'none'", None, "script-src 'none'"),
        (
            "script-src 'unsafe-inline', default-src 'self'",
            None,
            f"script-src 'unsafe-inline', default-src 'self' {H}",
        ),
    ],
)
def test_a_policy_is_widened_only_where_the_inline_script_would_be_blocked(
    policy: str, nonce: bytes | None, widened: str
) -> None:
    assert allow_inline(policy.encode(), HASH, nonce) == widened.encode()


_POLICY_PARTS = st.sampled_from(
    [
        b"script-src",
        b"default-src",
        b"script-src-elem",
        b"style-src",
        b"'self'",
        b"'none'",
        b"'unsafe-inline'",
        b"'strict-dynamic'",
        b"'nonce-Xy'",
        b"'sha256-abc='",
        b";",
        b",",
        b" ",
        b"\t",
        b"*",
        b"https:",
    ]
)


@given(st.lists(st.one_of(_POLICY_PARTS, st.binary(max_size=8)), max_size=30))
def test_any_header_value_is_only_ever_widened_by_the_hash(parts: list[bytes]) -> None:
    policy = b"".join(parts)
    result = allow_inline(policy, HASH, b"Xy")
    added = result.count(HASH) - policy.count(HASH)
    assert 0 <= added <= policy.count(b",") + 1
    assert len(result) == len(policy) + added * (len(HASH) + 1)


async def page(request: Request) -> HTMLResponse:
    kind = request.path_params["kind"]
    name = "Content-Security-Policy"
    if kind == "report-only":
        return HTMLResponse(PAGE, headers={f"{name}-Report-Only": POLICIES["self"]})
    headers = {name: POLICIES[kind]} if kind in POLICIES else {}
    return HTMLResponse(PAGE, headers=headers)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upstream = Starlette(routes=[Route("/{kind}", page)])
    with run_server(upstream) as origin:
        settings = make_settings(origin, tmp_path_factory.mktemp("banner-csp"))
        with run_server(create_app(settings)) as gateway:
            yield gateway


def inline_source(body: str) -> str:
    """The hash of the inline script the gateway put into ``body``, as CSP writes it."""
    found = re.search(r"<script(?: nonce=\"[^\"]*\")?>(.*?)</script>", body)
    assert found is not None
    digest = hashlib.sha256(found.group(1).encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


@pytest.mark.parametrize(
    ("kind", "header", "expected"),
    [
        ("self", "content-security-policy", "default-src 'self'; script-src 'self' {hash}; "),
        ("default", "content-security-policy", "default-src 'self' {hash}"),
        ("report-only", "content-security-policy-report-only", "script-src 'self' {hash}; "),
        ("two", "content-security-policy", "script-src 'unsafe-inline', script-src 'self' {hash}"),
        ("inline", "content-security-policy", POLICIES["inline"]),
        ("nonce", "content-security-policy", POLICIES["nonce"]),
        ("styles", "content-security-policy", POLICIES["styles"]),
    ],
)
def test_pages_leave_with_a_policy_that_lets_the_banner_run(
    site: str, kind: str, header: str, expected: str
) -> None:
    response = httpx.get(f"{site}/{kind}")
    expected = expected.format(hash=inline_source(response.text))
    assert expected in response.headers[header]
    if kind == "nonce":  # the inline script hands the nonce on to the script it adds
        assert '<script nonce="AbC123">window.dataLayer' in response.text
        assert "s.nonce=n;" in response.text


def test_nothing_the_gateway_adds_blocks_the_page_s_first_paint(site: str) -> None:
    """One inline script: the Consent Mode defaults, then the banner's script, added once
    the page has painted (it brings its own stylesheet), so no request of the banner's
    stands between the page and its first paint (the browser tests see it run)."""
    body = httpx.get(f"{site}/none").text
    head = body.split("<title>", 1)[0]
    assert "<link" not in head
    assert re.findall(r"<script[^>]*>", head) == ["<script>"]
    inline = head.split("<script>", 1)[1]
    defaults, loader = inline.split("function go()", 1)
    assert "'consent','default'" in defaults and "/_consent/banner.js" in loader
    assert "getEntriesByName('first-contentful-paint')" in loader


def test_the_privacy_page_loads_the_banner_under_its_own_strict_policy(site: str) -> None:
    """The gateway's own page has no Google tag to hold back: the script alone, no inline."""
    response = httpx.get(f"{site}/_consent/privacy")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    assert '<script async src="/_consent/banner.js' in response.text
    assert "dataLayer" not in response.text
