"""MaxMind's schema (GeoLite2/GeoIP2 City and Country), on small files built for the tests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.exceptions import SettingsError
from gateway.geo import UNKNOWN, Location
from gateway.geo.lookup import attribution_of, open_database, open_geo
from gateway.geo.sources import MAXMIND_ATTRIBUTION
from gateway.iptools import truncate_ip
from tests.conftest import make_settings
from tests.geo_databases import LONDON, PARIS, maxmind_city, write_mmdb

IN_LONDON = Location("GB", "England", "London", "GB-ENG", 2643743)

UPSTREAM = "http://127.0.0.1:1"


def test_city_lookup_on_a_truncated_ipv4_address(tmp_path: Path) -> None:
    geo = open_database(maxmind_city(tmp_path / "GeoLite2-City.mmdb"))
    assert geo.lookup(truncate_ip("81.2.69.160")) == IN_LONDON


def test_ipv6_and_ipv4_mapped_addresses(tmp_path: Path) -> None:
    geo = open_database(maxmind_city(tmp_path / "GeoLite2-City.mmdb"))
    assert geo.lookup(truncate_ip("2a02:8010:1234:5678::9")) == Location(
        "GB", "England", "Rochdale", "GB-ENG", 2639022
    )
    assert geo.lookup("::ffff:81.2.69.0").city == "London"


def test_an_address_not_in_the_database_has_no_location(tmp_path: Path) -> None:
    geo = open_database(maxmind_city(tmp_path / "GeoLite2-City.mmdb"))
    assert geo.lookup("8.8.8.0") == UNKNOWN
    assert geo.lookup("2001:4860::") == UNKNOWN


def test_private_addresses_are_not_looked_up_even_when_the_file_has_them(
    tmp_path: Path,
) -> None:
    path = write_mmdb(tmp_path / "GeoLite2-City.mmdb", {"10.0.0.0/8": LONDON, "fc00::/7": LONDON})
    geo = open_database(path)
    assert geo.lookup("10.1.2.0") == UNKNOWN
    assert geo.lookup("fd00::") == UNKNOWN


def test_a_subdivision_or_city_without_code_or_id_keeps_its_name(tmp_path: Path) -> None:
    record = {
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "subdivisions": [{"names": {"en": "England"}}],
        "city": {"names": {"en": "London"}},
    }
    path = write_mmdb(tmp_path / "GeoLite2-City.mmdb", {"81.2.69.0/24": record})
    assert open_database(path).lookup("81.2.69.0") == Location("GB", "England", "London")


def test_country_database_gives_the_country_only(tmp_path: Path) -> None:
    record = {"country": {"iso_code": "DE", "names": {"en": "Germany"}}}
    path = write_mmdb(tmp_path / "c.mmdb", {"81.2.69.0/24": record}, "GeoLite2-Country")
    assert open_database(path).lookup("81.2.69.0") == Location("DE", "", "")


def test_an_ipv4_only_maxmind_file_answers_ipv4_only(tmp_path: Path) -> None:
    path = write_mmdb(tmp_path / "v4.mmdb", {"81.2.69.0/24": LONDON}, ip_version=4)
    geo = open_database(path)
    assert geo.lookup("81.2.69.0").city == "London"
    assert geo.lookup("2a02:8010::") == UNKNOWN


def test_a_geoipupdate_folder_prefers_city_to_country(tmp_path: Path) -> None:
    country = {"country": {"iso_code": "DE", "names": {"en": "Germany"}}}
    write_mmdb(tmp_path / "GeoLite2-Country.mmdb", {"81.2.69.0/24": country}, "GeoLite2-Country")
    maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    settings = make_settings(UPSTREAM, tmp_path, geolocation="on", geoip_db=tmp_path)
    geo = open_geo(settings)
    assert geo.lookup("81.2.69.0") == IN_LONDON
    assert attribution_of(geo) == MAXMIND_ATTRIBUTION


def test_paid_geoip2_needs_no_attribution(tmp_path: Path) -> None:
    path = write_mmdb(tmp_path / "GeoIP2-City.mmdb", {"81.2.69.0/24": LONDON}, "GeoIP2-City")
    assert attribution_of(open_database(path)) is None


def test_a_file_replaced_on_disk_is_picked_up(tmp_path: Path) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    geo = open_database(path, check_interval=0)
    assert geo.lookup("81.2.69.0").city == "London"
    maxmind_city(path, london=PARIS)  # written beside, then renamed over it
    assert geo.lookup("81.2.69.0") == Location("FR", "Île-de-France", "Paris", "FR-IDF", 2988507)


def test_a_corrupt_replacement_keeps_the_previous_data(tmp_path: Path) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    geo = open_database(path, check_interval=0)
    broken = tmp_path / "broken"
    broken.write_bytes(b"\x00" * 4096)
    broken.replace(path)
    assert geo.lookup("81.2.69.0").city == "London"
    maxmind_city(path, london=PARIS)  # and a good one after it is taken
    assert geo.lookup("81.2.69.0").city == "Paris"


def test_a_file_is_checked_at_most_once_per_interval(tmp_path: Path) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    geo = open_database(path, check_interval=3600)
    maxmind_city(path, london=PARIS)
    assert geo.lookup("81.2.69.0").city == "London"


def test_lookups_from_many_threads_while_the_file_is_replaced(tmp_path: Path) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    geo = open_database(path, check_interval=0)
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                seen.add(geo.lookup("81.2.69.0").city)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for generation in range(6):
        maxmind_city(path, london=PARIS if generation % 2 == 0 else LONDON)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert seen <= {"London", "Paris"}
    assert geo.lookup("81.2.69.0").city == "London"  # the last generation written


def test_a_database_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = write_mmdb(tmp_path / "asn.mmdb", {"81.2.69.0/24": {"asn": 1}}, "GeoLite2-ASN")
    settings = make_settings(UPSTREAM, tmp_path, geolocation="on", geoip_db=path)
    with pytest.raises(SettingsError, match="not a City or Country geolocation database"):
        open_geo(settings)


def test_cli_lookup_with_a_maxmind_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    assert main(["geo", "lookup", "81.2.69.160", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "country: GB" in out and "region:  England" in out and "city:    London" in out


def test_cli_lookup_prints_the_region_code_and_geonames_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = maxmind_city(tmp_path / "GeoLite2-City.mmdb")
    assert main(["geo", "lookup", "81.2.69.160", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "region:  England (GB-ENG)" in out
    assert "city:    London (GeoNames 2643743)" in out
