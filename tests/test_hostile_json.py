"""Hostile JSON: bodies nested past the bound get a 400 in the one error shape.

Every endpoint that reads a JSON body (the beacon, the consent API, the erase
form, the admin listener's local commands) is driven on the real gateway and
admin listener, with arrays, objects and both mixed: at the bound, one over,
and as deep as the endpoint's body limit allows (up to two thousand). Nothing
may be logged at ERROR: an unbounded parser recurses into a RecursionError,
a 500 and a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.admin.local import MAX_PAYLOAD_BYTES
from gateway.commands import announcement_path
from gateway.consent.api import MAX_CHOICE_BYTES
from gateway.demo.site import create_demo_site
from gateway.exceptions import JsonTooDeep
from gateway.json_body import MAX_JSON_DEPTH, nesting_depth, parse_json
from gateway.privacy.page import MAX_FORM_BYTES
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import run_gateway, run_server

ENDPOINTS = ("collect", "state", "erase", "local")


def objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def mixed(depth: int) -> bytes:
    """Objects and arrays in turn, an object outermost."""
    opens = "".join('{"a":' if level % 2 == 0 else "[" for level in range(depth))
    closes = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    return f"{opens}1{closes}".encode()


SHAPES: dict[str, Callable[[int], bytes]] = {"objects": objects, "arrays": arrays, "mixed": mixed}

# Each endpoint's body limit: a hostile body is as deep as fits, up to two thousand.
BODY_LIMITS = {
    "collect": 16384,  # CG_BEACON_MAX_BYTES's default
    "state": MAX_CHOICE_BYTES,
    "erase": MAX_FORM_BYTES,
    "local": MAX_PAYLOAD_BYTES,
}


def hostile(endpoint: str, shape: str) -> bytes:
    """The deepest ``shape`` (at most two thousand levels) that ``endpoint`` reads in full."""
    make = SHAPES[shape]
    depth = 2000
    while len(make(depth)) > BODY_LIMITS[endpoint]:
        depth -= 1
    return make(depth)


# What each endpoint answers a body nested exactly to the bound: its usual verdict on
# such a body, which shows the body was parsed and judged by the endpoint's own rules.
AT_THE_BOUND: dict[str, dict[str, tuple[int, str | None]]] = {
    "collect": {shape: (400, "invalid_beacon") for shape in SHAPES},
    "state": {shape: (400, "invalid_body") for shape in SHAPES},
    "erase": {
        "objects": (400, "not_confirmed"),
        "arrays": (400, "invalid_body"),
        "mixed": (400, "not_confirmed"),
    },
    "local": {"objects": (200, None), "arrays": (400, "bad_payload"), "mixed": (200, None)},
}


@dataclass
class Gateway:
    public: str
    admin: str
    local_token: str
    networks: Iterator[int]

    def post(self, endpoint: str, body: bytes) -> httpx.Response:
        """POST ``body`` as JSON to ``endpoint``, as its legitimate caller would."""
        # Each request from a network of its own, so no per-network rate limit interferes.
        headers = {
            "content-type": "application/json",
            "x-forwarded-for": f"81.2.{next(self.networks)}.160",
        }
        if endpoint == "local":
            headers["authorization"] = f"Bearer {self.local_token}"
            url = f"{self.admin}/_local/commands/user.list"
            return httpx.post(url, content=body, headers=headers)
        browser = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin"}
        with httpx.Client(base_url=self.public, headers=browser) as visitor:
            # A visitor who has accepted everything: a consent id and a CSRF token.
            token = visitor.get("/_consent/state").json()["csrf"]
            accepted = visitor.post(
                "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
            )
            assert accepted.status_code == 200
            headers["x-csrf-token"] = accepted.json()["csrf"]
            path = {"collect": "collect", "state": "state", "erase": "privacy/erase"}[endpoint]
            return visitor.post(f"/_consent/{path}", content=body, headers=headers)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The real gateway and admin listener in front of the demo site, for the whole module."""
    folder: Path = tmp_path_factory.mktemp("hostile-json")
    with run_server(create_demo_site()) as site:
        settings = make_settings(site, folder, trusted_proxies="127.0.0.1")
        with run_gateway(settings) as (public, admin):
            token = json.loads(announcement_path(settings).read_text())["token"]
            yield Gateway(public, admin, token, count())


def error_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) <= {"status", "code", "message", "request_id"}
    assert error["status"] == answer.status_code
    return error


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    logged = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert logged == [], [record.getMessage() for record in logged]


def refused(answer: httpx.Response) -> None:
    """``answer`` is the 400 for JSON nested too deep, in the one error shape."""
    assert answer.status_code == 400, answer.text
    error = error_of(answer)
    assert error["code"] == "json_too_deep"
    assert f"more than {MAX_JSON_DEPTH} levels deep" in error["message"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_hostile_json_gets_a_400_in_the_error_shape(
    gateway: Gateway, endpoint: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = hostile(endpoint, shape)
    assert nesting_depth(body.decode()) > 600
    refused(gateway.post(endpoint, body))
    no_errors_logged(caplog)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_json_at_the_bound_is_read_and_one_level_more_is_refused(
    gateway: Gateway, endpoint: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    at_the_bound = SHAPES[shape](MAX_JSON_DEPTH)
    assert nesting_depth(at_the_bound.decode()) == MAX_JSON_DEPTH
    answer = gateway.post(endpoint, at_the_bound)
    # The endpoint's usual verdict on such a body: it was parsed and judged by its rules.
    status, code = AT_THE_BOUND[endpoint][shape]
    assert answer.status_code == status, answer.text
    if code is not None:
        assert error_of(answer)["code"] == code
    refused(gateway.post(endpoint, SHAPES[shape](MAX_JSON_DEPTH + 1)))
    no_errors_logged(caplog)


def test_after_hostile_json_normal_bodies_still_work(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    for endpoint in ENDPOINTS:
        refused(gateway.post(endpoint, hostile(endpoint, "arrays")))
    # Brackets inside strings do not nest: this path holds far more than the bound.
    path = "/search" + "[{" * MAX_JSON_DEPTH
    beacon = {"events": [{"type": "pageview", "path": path, "title": "]]}}"}]}
    assert gateway.post("collect", json.dumps(beacon).encode()).status_code == 202
    chosen = gateway.post("state", b'{"categories": {"analytics": true, "marketing": false}}')
    assert chosen.status_code == 200
    assert chosen.json()["categories"]["analytics"] is True
    assert chosen.json()["categories"]["marketing"] is False
    erased = gateway.post("erase", b'{"confirm": true}')
    assert erased.status_code == 202 and erased.json()["erasure"]
    padded = {"pad": json.loads(arrays(MAX_JSON_DEPTH - 1))}  # exactly at the bound
    listed = gateway.post("local", json.dumps(padded).encode())
    assert listed.status_code == 200 and listed.json() == {"users": []}
    no_errors_logged(caplog)


# -- the helper itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[{{{"', 0),
        ("[]", 1),
        ('{"a": [1, {"b": [2]}]}', 4),
        (r'["\"[[[", "\\", [[]]]', 3),  # escaped quotes and backslashes end no string early
        ('[["never closed [[[[', 2),  # brackets in a string left open do not count
        ("[" * 40, 40),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_parse_json_takes_the_bound_and_refuses_one_over() -> None:
    for make in SHAPES.values():
        assert parse_json(make(MAX_JSON_DEPTH)) == json.loads(make(MAX_JSON_DEPTH))
        with pytest.raises(JsonTooDeep, match="more than 32 levels deep"):
            parse_json(make(MAX_JSON_DEPTH + 1))
    assert parse_json("[[[]]]", max_depth=3) == [[[]]]
    with pytest.raises(JsonTooDeep):
        parse_json("[[[[]]]]", max_depth=3)


def test_parse_json_reads_and_refuses_bytes_as_json_loads_does() -> None:
    assert parse_json('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # a UTF-8 byte order mark
    with pytest.raises(UnicodeDecodeError):
        parse_json(b'{"a": "\xff"}')
    with pytest.raises(json.JSONDecodeError):
        parse_json(b"{not json")
    with pytest.raises(json.JSONDecodeError):
        parse_json(b"[" * 10)  # unbalanced but within the bound: json's own error
