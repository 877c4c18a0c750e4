"""Fixtures shared by the whole suite: settings, a real upstream and a real gateway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from gateway.app import create_app
from gateway.demo.site import create_demo_site
from gateway.settings import Settings, load_settings
from tests.chdb import fresh_dsn
from tests.servers import run_server

TEST_KEY = "k" * 40

# Property and fuzz tests: a bounded run by default ("ci"), a long one on demand with
# --fuzz-long or HYPOTHESIS_PROFILE=long. No deadline: examples that drive the real
# app (ClickHouse, sockets) vary in time, and speed is the benchmarks' business.
_FUZZ_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
hypothesis_settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=_FUZZ_HEALTH
)
hypothesis_settings.register_profile(
    "long", max_examples=5000, deadline=None, suppress_health_check=_FUZZ_HEALTH
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        help="run the property and fuzz tests with the long hypothesis profile (5000 examples)",
    )


def pytest_configure(config: pytest.Config) -> None:
    long_run = config.getoption("--fuzz-long")
    hypothesis_settings.load_profile(
        "long" if long_run else os.environ.get("HYPOTHESIS_PROFILE", "ci")
    )


# The browser fixtures (a real headless Chromium) for every test marked ``browser``.
pytest_plugins = ["tests.browser"]


def make_settings(upstream: str, tmp_path: Path | None = None, **overrides: Any) -> Settings:
    """Settings for a test, from an explicit environment: the process's is never read."""
    # Geolocation is off unless a test asks for it, so only geo tests need a database.
    environ = {"CG_UPSTREAM": upstream, "CG_SECRET_KEY": TEST_KEY, "CG_GEOLOCATION": "off"}
    # chdb opens one data folder per process: all tests share one, each test with a
    # database of its own (tests/chdb.py).
    environ["CG_CLICKHOUSE_DSN"] = fresh_dsn()
    if tmp_path is not None:
        environ["CG_DATA_DIR"] = str(tmp_path)
    environ.update({f"CG_{key.upper()}": str(value) for key, value in overrides.items()})
    return load_settings(environ=environ, env_file=None)


@pytest.fixture
def demo_site() -> Iterator[str]:
    """The bundled demo website, served for real on loopback."""
    with run_server(create_demo_site()) as url:
        yield url


@pytest.fixture
def gateway(demo_site: str, tmp_path: Path) -> Iterator[str]:
    """A real gateway under uvicorn in front of the demo site."""
    with run_server(create_app(make_settings(demo_site, tmp_path))) as url:
        yield url


@pytest.fixture
def upstream() -> Iterator[str]:
    """The test upstream that reports what it received (tests/upstreams.py)."""
    from tests.upstreams import create_upstream

    with run_server(create_upstream()) as url:
        yield url


@pytest.fixture
def proxy(upstream: str, tmp_path: Path) -> Iterator[str]:
    """A real gateway in front of the test upstream, with default settings."""
    with run_server(create_app(make_settings(upstream, tmp_path))) as url:
        yield url
