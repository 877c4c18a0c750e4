"""The free default, on the real DB-IP City Lite database that scripts/test fetches."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.geo import UNKNOWN, Location
from gateway.geo.lookup import DatabaseLookup, attribution_of, open_database, open_geo
from gateway.geo.sources import DBIP_ATTRIBUTION, DBIP_IPV4_FILE, DBIP_IPV6_FILE
from gateway.iptools import truncate_ip
from tests.conftest import make_settings
from tests.geo_databases import dbip_folder


@pytest.fixture(scope="module")
def dbip() -> DatabaseLookup:
    return open_database(dbip_folder())


def test_a_british_ipv4_address(dbip: DatabaseLookup) -> None:
    found = dbip.lookup(truncate_ip("81.2.69.160"))
    assert found.country == "GB"
    assert found.region == "England"
    assert found.city  # the city moves between monthly releases; that there is one does not
    assert (found.region_code, found.city_id) == ("", 0)  # the flat schema has neither


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("2001:630:0:1::5", "GB"),  # Janet, the UK's academic network
        ("2001:da8:8000::1", "CN"),  # CERNET
        ("2001:200:dff:fff1::1", "JP"),  # WIDE
    ],
)
def test_ipv6_addresses_are_read_from_the_ipv6_file(
    dbip: DatabaseLookup, address: str, country: str
) -> None:
    found = dbip.lookup(truncate_ip(address))
    assert found.country == country
    assert found.region and found.city


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4(dbip: DatabaseLookup) -> None:
    assert dbip.lookup("::ffff:81.2.69.0") == dbip.lookup("81.2.69.0")
    assert dbip.lookup("::ffff:81.2.69.0").country == "GB"


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.0",
        "192.168.0.0",
        "172.16.5.0",
        "127.0.0.0",
        "100.64.0.0",  # carrier-grade NAT
        "169.254.1.0",
        "192.0.2.0",  # documentation
        "224.0.0.0",  # multicast
        "0.0.0.0",
        "::1",
        "fe80::",
        "fd12:3456:789a::",
        "2001:db8::",
        "::ffff:10.0.0.0",
        "",
        "not an address",
    ],
)
def test_private_and_reserved_addresses_have_no_location(
    dbip: DatabaseLookup, address: str
) -> None:
    assert dbip.lookup(address) == UNKNOWN


def test_the_pair_is_split_by_family(dbip: DatabaseLookup) -> None:
    assert dbip.ipv4 is not None and dbip.ipv4.path.name == DBIP_IPV4_FILE
    assert dbip.ipv6 is not None and dbip.ipv6.path.name == DBIP_IPV6_FILE
    assert {f.info.kind for f in dbip.files} == {"dbip"}


def test_open_geo_reads_the_folder_from_settings_and_credits_db_ip(tmp_path: Path) -> None:
    settings = make_settings(
        "http://127.0.0.1:1", tmp_path, geolocation="on", geoip_db=dbip_folder()
    )
    geo = open_geo(settings)
    assert geo.lookup("81.2.69.0").country == "GB"
    assert attribution_of(geo) == DBIP_ATTRIBUTION
    assert DBIP_ATTRIBUTION.url == "https://db-ip.com"
    assert "https://db-ip.com" in DBIP_ATTRIBUTION.html


def test_a_single_dbip_file_answers_its_own_family(tmp_path: Path) -> None:
    geo = open_database(dbip_folder() / DBIP_IPV4_FILE)
    assert geo.lookup("81.2.69.0").country == "GB"
    assert geo.lookup("2001:630::") == UNKNOWN


def test_cli_lookup_prints_country_region_and_city(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geo", "lookup", "81.2.69.160", "--db", str(dbip_folder())]) == 0
    out = capsys.readouterr().out
    assert "looked up as 81.2.69.0" in out
    assert "country: GB" in out
    assert "region:  England" in out
    city = next(line for line in out.splitlines() if line.startswith("city:"))
    assert city.removeprefix("city:").strip() not in ("", "-")


def test_cli_lookup_of_a_private_address_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geo", "lookup", "192.168.1.20", "--db", str(dbip_folder())]) == 0
    out = capsys.readouterr().out
    assert "country: -" in out
    assert "private or reserved" in out


def test_cli_info_names_files_build_date_and_attribution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["geo", "info", "--db", str(dbip_folder())]) == 0
    out = capsys.readouterr().out
    assert DBIP_IPV4_FILE in out and DBIP_IPV6_FILE in out
    assert "city ipv4" in out and "built:" in out and "tree nodes" in out
    assert "IP Geolocation by DB-IP <https://db-ip.com>" in out


def test_location_holds_nothing_but_country_region_city_and_their_codes() -> None:
    assert [item.name for item in fields(Location)] == [
        "country",
        "region",
        "city",
        "region_code",
        "city_id",
    ]
