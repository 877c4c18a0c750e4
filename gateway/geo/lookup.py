"""The one lookup the gateway uses, opened once at start-up from the settings.

``open_geo(settings)`` is what :func:`gateway.app.create_app` calls: it returns
a :class:`DatabaseLookup` over the configured files, a :class:`NullLookup`
when ``CG_GEOLOCATION=off``, or raises :class:`SettingsError` with the command
that fetches a database, so a gateway never starts without the locations it
promised to record.

``CG_GEOIP_DB`` names a file or a folder. A folder is searched for the DB-IP
pair that ``geo fetch`` installs (one file per IP family) and then for the
MaxMind files ``geoipupdate`` writes, City before Country.
"""

from __future__ import annotations

from pathlib import Path

from gateway.exceptions import SettingsError
from gateway.geo import UNKNOWN, GeoLookup, Location
from gateway.geo.addresses import public_address
from gateway.geo.readers import DEFAULT_CHECK_INTERVAL, DatabaseError, MmdbFile
from gateway.geo.sources import DBIP_FILES, FETCH_HINT, MAXMIND_FILES, Attribution
from gateway.settings import Settings


class NullLookup:
    """Geolocation switched off: every address is :data:`UNKNOWN`."""

    attribution: Attribution | None = None
    files: tuple[MmdbFile, ...] = ()

    def lookup(self, truncated_ip: str) -> Location:
        return UNKNOWN


class DatabaseLookup:
    """Country, region and city from one or two database files, by IP family.

    ``ipv4`` answers IPv4 addresses (IPv4-mapped IPv6 ones included) and
    ``ipv6`` the rest; a MaxMind file covers both and is passed as both.
    Private, loopback, link-local, documentation and other non-global
    addresses are :data:`UNKNOWN` without touching the database. Thread-safe
    and never raises.
    """

    def __init__(self, ipv4: MmdbFile | None, ipv6: MmdbFile | None) -> None:
        self.ipv4 = ipv4
        self.ipv6 = ipv6

    @property
    def files(self) -> tuple[MmdbFile, ...]:
        """The distinct files, IPv4 first."""
        found = [f for f in (self.ipv4, self.ipv6) if f is not None]
        return tuple(dict.fromkeys(found))

    @property
    def attribution(self) -> Attribution | None:
        """The credit the database's licence requires on pages showing its results."""
        for item in self.files:
            if item.info.attribution is not None:
                return item.info.attribution
        return None

    def lookup(self, truncated_ip: str) -> Location:
        found = public_address(truncated_ip)
        if found is None:
            return UNKNOWN
        version, address = found
        source = self.ipv4 if version == 4 else self.ipv6
        if source is None:
            return UNKNOWN
        return source.lookup(address)


def database_path(settings: Settings) -> Path:
    """Where the database is: ``CG_GEOIP_DB``, or ``<CG_DATA_DIR>/geo`` when that is empty."""
    return default_path(settings.geoip_db, settings.data_dir)


def default_path(geoip_db: str, data_dir: str) -> Path:
    return Path(geoip_db).expanduser() if geoip_db else Path(data_dir).expanduser() / "geo"


def _fetch_hint(path: Path) -> str:
    if path.suffix == ".mmdb":
        return FETCH_HINT
    return FETCH_HINT.replace("geo fetch`", f"geo fetch --dest {path}`", 1)


def open_database(path: Path, check_interval: float = DEFAULT_CHECK_INTERVAL) -> DatabaseLookup:
    """Open the file or folder at ``path``; :class:`DatabaseError` says what is wrong."""
    if path.is_dir():
        dbip = [path / name for name in DBIP_FILES]
        if any(item.exists() for item in dbip):
            ipv4, ipv6 = (MmdbFile(item, check_interval) for item in dbip)
            return DatabaseLookup(ipv4, ipv6)
        for name in MAXMIND_FILES:
            if (path / name).exists():
                return _single(MmdbFile(path / name, check_interval))
        raise DatabaseError(
            f"{path} holds no geolocation database (looked for {', '.join(DBIP_FILES)} "
            f"or one of {', '.join(MAXMIND_FILES)})"
        )
    if not path.exists():
        raise DatabaseError(f"there is no geolocation database at {path}")
    return _single(MmdbFile(path, check_interval))


def _single(item: MmdbFile) -> DatabaseLookup:
    """One file: a MaxMind IPv6 tree holds IPv4 too; a flat file holds one family."""
    info = item.info
    if info.kind == "maxmind":
        return DatabaseLookup(item, item if info.ip_version == 6 else None)
    if info.database_type.endswith("ipv6"):
        return DatabaseLookup(None, item)
    return DatabaseLookup(item, None)


def open_geo(settings: Settings, check_interval: float = DEFAULT_CHECK_INTERVAL) -> GeoLookup:
    """The lookup for the gateway's lifetime; :class:`SettingsError` if it cannot open."""
    if not settings.geolocation:
        return NullLookup()
    path = database_path(settings)
    try:
        return open_database(path, check_interval)
    except DatabaseError as error:
        raise SettingsError(f"CG_GEOIP_DB: {error}. To fix it, {_fetch_hint(path)}.") from None


def attribution_of(geo: GeoLookup) -> Attribution | None:
    """The attribution to show for ``geo`` (for the dashboard and the privacy notice)."""
    found = getattr(geo, "attribution", None)
    return found if isinstance(found, Attribution) else None
