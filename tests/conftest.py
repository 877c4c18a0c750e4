"""Fixtures shared by the whole suite: settings, a real upstream and a real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.demo.site import create_demo_site
from gateway.settings import Settings, load_settings
from tests.chdb import fresh_dsn
from tests.servers import run_server

TEST_KEY = "k" * 40

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
