"""One request cannot make the gateway write thousands of cookie deletions.

The ``Cookie`` header the gateway parses is bounded (431 in the one error shape
beyond it), and so are the deletions one response carries: the browser keeps
sending the cookies not yet deleted, and later responses delete the rest. The
real app runs in-process in front of a real upstream; the test keeps the
browser's cookies as a browser would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from gateway.app import create_app
from gateway.consent.enforcement import MAX_EXPIRIES
from gateway.context import MAX_COOKIE_BYTES
from tests.conftest import make_settings
from tests.fuzz_upstream import create_fuzz_upstream
from tests.inprocess import InProcess, in_process
from tests.servers import run_server

# A Host of many labels: every name is deleted at the host and two parent domains too.
HOST = "a.b.c.d.e.f.school.example"
PER_NAME = 4  # host-only, and Domain= the host and its two parents


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with run_server(create_fuzz_upstream()) as upstream:
        settings = make_settings(upstream, tmp_path_factory.mktemp("bounds"))
        with in_process(create_app(settings)) as app:
            yield app


def tracker_names(count: int) -> list[str]:
    """``count`` distinct names of no known cookie: marketing, refused before consent."""
    return [f"t{n:x}" for n in range(count)]


def test_a_cookie_header_longer_than_the_bound_is_refused_with_431(gateway: InProcess) -> None:
    filler = "x=" + "v" * (MAX_COOKIE_BYTES - 2)
    assert gateway.request("GET", "/echo", headers={"cookie": filler}).status_code == 200
    for headers in (
        [("cookie", filler + "v")],
        [("cookie", filler[: MAX_COOKIE_BYTES // 2]), ("cookie", "y=" + "v" * 5000)],
    ):
        answer = gateway.request("GET", "/echo", headers=headers)
        assert answer.status_code == 431
        error = answer.json()["error"]
        assert error["status"] == 431 and error["code"] == "cookie_too_large"
        assert str(MAX_COOKIE_BYTES) in error["message"]
        assert "set-cookie" not in answer.headers


def test_one_response_carries_a_bounded_number_of_deletions_and_later_ones_the_rest(
    gateway: InProcess,
) -> None:
    # As many refused names as fit under the bound: about a thousand.
    names = tracker_names(1000)
    header = "; ".join(f"{name}=1" for name in names)
    assert len(header) <= MAX_COOKIE_BYTES
    first = gateway.request("GET", "/echo", headers={"host": HOST, "cookie": header})
    assert first.json()["cookies"] == ""  # none reaches the site, deleted or not
    deletions = first.headers.get_list("set-cookie")
    assert 0 < len(deletions) <= MAX_EXPIRIES + 1  # and the new session cookie
    assert sum(len(line) for line in deletions) < 8192

    # A browser that keeps what was not deleted has it all deleted within a few requests.
    held = set(tracker_names(150))
    rounds = 0
    while held:
        rounds += 1
        assert rounds <= math.ceil(150 / (MAX_EXPIRIES // PER_NAME)), "deletions stalled"
        sent = "; ".join(f"{name}=1" for name in sorted(held))
        answer = gateway.request("GET", "/echo", headers={"host": HOST, "cookie": sent})
        assert answer.json()["cookies"] == ""
        lines = answer.headers.get_list("set-cookie")
        assert len(lines) <= MAX_EXPIRIES + 1
        for line in lines:
            name, _, rest = line.partition("=")
            if "Max-Age=0" in rest and "Domain" not in rest:
                held.discard(name)
