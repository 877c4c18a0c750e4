"""Small MaxMind-format databases built for the tests with ``mmdb-writer``, and the real one.

The MaxMind path is tested on files written here in MaxMind's own schema
(nested ``country``/``subdivisions``/``city`` records, ``GeoLite2-City`` type),
so the tests need no licence key. The DB-IP path is tested on the real
database, which ``scripts/test`` fetches once into ``.cache/geo``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from gateway.geo.sources import DBIP_FILES

REPO = Path(__file__).resolve().parent.parent
DBIP_CACHE = Path(os.environ.get("CG_TEST_GEO_DIR", REPO / ".cache" / "geo"))


def dbip_folder() -> Path:
    """The real DB-IP database, or a test failure that says how to get it (never a skip)."""
    missing = [name for name in DBIP_FILES if not (DBIP_CACHE / name).is_file()]
    if missing:
        pytest.fail(
            f"the DB-IP database is not in {DBIP_CACHE} (missing {', '.join(missing)}); "
            "scripts/test fetches it, or run: "
            f".venv/bin/consent-gateway geo fetch --dest {DBIP_CACHE}"
        )
    return DBIP_CACHE


def city_record(
    country: str, region: str, city: str, region_code: str, geoname_id: int
) -> dict[str, Any]:
    """A record in MaxMind's City schema (what GeoLite2-City holds): the subdivision's
    ISO 3166-2 code without its country (``ENG``), the city's GeoNames id."""
    return {
        "country": {"iso_code": country, "names": {"en": f"country {country}"}},
        "subdivisions": [{"iso_code": region_code, "names": {"en": region}}],
        "city": {"geoname_id": geoname_id, "names": {"en": city}},
        "location": {"latitude": 1.5, "longitude": 2.5},  # present in real files, dropped
    }


def write_mmdb(
    path: Path,
    networks: dict[str, dict[str, Any]],
    database_type: str = "GeoLite2-City",
    ip_version: int = 6,
) -> Path:
    """Write ``networks`` (CIDR -> record) to ``path`` atomically, as geoipupdate does."""
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=["en"],
        description="consent-gateway test database",
        ipv4_compatible=ip_version == 6,
    )
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    partial = path.with_name(path.name + ".partial")
    writer.to_db_file(str(partial))
    partial.replace(path)
    return path


LONDON = city_record("GB", "England", "London", "ENG", 2643743)
ROCHDALE = city_record("GB", "England", "Rochdale", "ENG", 2639022)
PARIS = city_record("FR", "Île-de-France", "Paris", "IDF", 2988507)


def maxmind_city(path: Path, london: dict[str, Any] = LONDON) -> Path:
    """A GeoLite2-City-like file: 81.2.69.0/24 and an IPv6 /32."""
    return write_mmdb(path, {"81.2.69.0/24": london, "2a02:8010::/32": ROCHDALE})
