"""Rate limits per client network on the consent API and the beacon, with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.exceptions import SettingsError
from gateway.ratelimit import RateLimiter, network_key, retry_after_seconds
from gateway.settings_parsers import Rate
from tests.conftest import make_settings
from tests.inprocess import in_process


class ManualClock:
    """A clock the test moves by hand: no sleeping, no timing in assertions."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_fresh_key_gets_a_full_burst_then_waits_one_interval() -> None:
    clock = ManualClock()
    limiter = RateLimiter(Rate(6, 60.0), clock=clock)
    assert [limiter.hit("a") for _ in range(6)] == [0.0] * 6
    assert limiter.hit("a") == pytest.approx(10.0)
    # Hammering while refused does not push the client further back.
    assert limiter.hit("a") == pytest.approx(10.0)
    clock.now += 4
    assert limiter.hit("a") == pytest.approx(6.0)
    clock.now += 6
    assert limiter.hit("a") == 0.0
    assert limiter.hit("a") == pytest.approx(10.0)
    assert limiter.refused == 4
    # Another key has its own budget.
    assert limiter.hit("b") == 0.0


def test_the_steady_rate_is_never_exceeded_over_a_long_run() -> None:
    clock = ManualClock()
    limiter = RateLimiter(Rate(10, 1.0), clock=clock)
    allowed = 0
    for _ in range(10_000):  # 100 s of a client asking every 10 ms
        allowed += limiter.hit("k") == 0.0
        clock.now += 0.01
    # 10/s for 100 s, plus the initial burst of 10.
    assert 1000 <= allowed <= 1010


def test_memory_is_bounded_and_expired_keys_are_forgotten() -> None:
    clock = ManualClock()
    limiter = RateLimiter(Rate(2, 1.0), clock=clock, max_keys=50)
    for number in range(1000):
        limiter.hit(f"net-{number}")
    assert len(limiter) <= 51
    assert limiter.evicted > 0
    clock.now += 5  # every key's budget is full again
    limiter.hit("late")
    assert len(limiter) == 1


def test_keys_are_networks_never_addresses() -> None:
    assert network_key("203.0.113.77") == "203.0.113.0"
    assert network_key("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert network_key("::ffff:203.0.113.9") == "203.0.113.0"
    assert network_key("testclient") == "testclient"


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("600/minute", Rate(600, 60.0)),
        ("5/second", Rate(5, 1.0)),
        (" 10 / hours", Rate(10, 3600.0)),
    ],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate
    assert Rate.parse(str(rate)) == rate


@pytest.mark.parametrize("text", ["off", "OFF", "0"])
def test_off_disables(text: str) -> None:
    assert Rate.parse(text) is None


@pytest.mark.parametrize("text", ["fast", "10", "10/day", "-1/minute", "0/minute", "1.5/second"])
def test_bad_rate_stops_start_up_naming_the_setting(text: str) -> None:
    with pytest.raises(SettingsError, match=r"CG_RATE_LIMIT_BEACON.*600/minute"):
        make_settings("http://127.0.0.1:9", rate_limit_beacon=text)


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(19.2) == 20


def test_consent_api_answers_429_with_retry_after_per_network(
    demo_site: str, tmp_path: Path
) -> None:
    clock = ManualClock()
    settings = make_settings(demo_site, tmp_path, rate_limit_consent="3/minute")
    with in_process(create_app(settings, clock=clock)) as gateway:
        for _ in range(3):
            assert (
                gateway.request("GET", "/_consent/state", client="198.51.100.7").status_code == 200
            )
        # Another address of the same /24, with a forged X-Forwarded-For from an
        # untrusted peer: the same budget.
        refused = gateway.request(
            "GET",
            "/_consent/state",
            client="198.51.100.200",
            headers={"x-forwarded-for": "8.8.8.8", "accept": "application/json"},
        )
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"
        assert refused.headers["cache-control"] == "no-store"
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["status"] == 429
        assert "20 s" in error["message"]
        # POST and DELETE share the path's budget.
        assert gateway.request("POST", "/_consent/state", client="198.51.100.7").status_code == 429
        # Another network is not affected; the proxy is never limited.
        assert gateway.request("GET", "/_consent/state", client="198.51.101.7").status_code == 200
        for _ in range(5):
            assert gateway.request("GET", "/", client="198.51.100.7").status_code == 200
        clock.now += 20
        assert gateway.request("GET", "/_consent/state", client="198.51.100.7").status_code == 200
        assert gateway.request("GET", "/_consent/state", client="198.51.100.7").status_code == 429


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(
    demo_site: str, tmp_path: Path
) -> None:
    settings = make_settings(
        demo_site, tmp_path, rate_limit_consent="1/minute", trusted_proxies="10.0.0.0/8"
    )
    with in_process(create_app(settings, clock=ManualClock())) as gateway:

        def ask(forwarded: str) -> int:
            response = gateway.request(
                "GET", "/_consent/state", client="10.0.0.2", headers={"x-forwarded-for": forwarded}
            )
            return response.status_code

        assert ask("203.0.113.5") == 200
        assert ask("203.0.113.6") == 429  # same /24 behind the proxy
        assert ask("2001:db8:aa::1") == 200
        assert ask("2001:db8:aa:ffff::2") == 429  # same /48
        assert ask("2001:db8:ab::1") == 200


def test_beacon_is_limited_on_its_own_budget(demo_site: str, tmp_path: Path) -> None:
    settings = make_settings(
        demo_site, tmp_path, rate_limit_beacon="2/second", rate_limit_consent="off"
    )
    body = {"events": [{"type": "engagement", "path": "/", "engagement_ms": 10}]}
    app = create_app(settings, clock=ManualClock())
    assert set(app.services.rate_limits) == {"/_consent/collect", "/_consent/csp-report"}
    with in_process(app) as gateway:
        codes = [
            gateway.request("POST", "/_consent/collect", json=body).status_code for _ in range(3)
        ]
        # Without analytics consent the beacon answers 204 and stores nothing.
        assert codes == [204, 204, 429]
        assert all(gateway.request("GET", "/_consent/state").status_code == 200 for _ in range(20))
