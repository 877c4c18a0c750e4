"""One ``.mmdb`` file, memory-mapped, read in either schema, re-opened when it changes.

Two schemas share the MaxMind DB format: MaxMind's (GeoLite2/GeoIP2, DB-IP's
``DBIP-City-Lite``), read through ``geoip2``, and the flat one of the
ip-location-db packages that ``geo fetch`` installs, read with ``maxminddb``.
Only country code, region and city come out, with the region's ISO 3166-2 code
and the city's GeoNames id where the schema has them (MaxMind's does, the flat
one does not). The file is memory-mapped, so workers share its pages and
readers are thread-safe. A file replaced on disk is
noticed at most once per ``check_interval`` seconds and opened beside the old
one, which closes when its last lookup ends. Replace files atomically (write,
then rename): a memory-mapped file truncated in place can crash the reader.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

from gateway.geo import UNKNOWN, Location
from gateway.geo.sources import Attribution, attribution_for

logger = logging.getLogger("gateway.geo")

# Public addresses every real database knows; looked up once at open so a file
# whose metadata is fine but whose data section is broken fails at start-up.
_PROBE = {4: "81.2.69.0", 6: "2001:630::"}
DEFAULT_CHECK_INTERVAL = 5.0  # seconds between two stat() calls on the file

try:
    import maxminddb.extension

    MODE = maxminddb.MODE_MMAP_EXT
except ImportError:  # pragma: no cover - wheels ship the extension
    MODE = maxminddb.MODE_MMAP


class DatabaseError(Exception):
    """A file is missing, unreadable or not a geolocation database we can read."""


@dataclass(frozen=True)
class FileInfo:
    """What a database file says about itself, for ``geo info`` and the logs."""

    path: Path
    kind: str  # "dbip" (flat schema) or "maxmind"
    database_type: str
    ip_version: int
    build_epoch: int
    node_count: int
    size: int

    @property
    def built(self) -> str:
        return datetime.fromtimestamp(self.build_epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")

    @property
    def attribution(self) -> Attribution | None:
        return attribution_for(self.kind, self.database_type)


Decode = Callable[[str], Location]
StatKey = tuple[int, int, int, int]


def _stat_key(path: Path) -> StatKey:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _schema(database_type: str) -> str:
    """``"dbip"`` for ip-location-db's flat files (``city ipv4``), ``"maxmind"`` otherwise."""
    if any(word in database_type for word in ("City", "Country", "Enterprise")):
        return "maxmind"
    if "city" in database_type or "country" in database_type:
        return "dbip"
    raise DatabaseError(
        f"it is a {database_type!r} database, not a City or Country geolocation database"
    )


def _flat_decoder(reader: maxminddb.Reader) -> Decode:
    def decode(ip: str) -> Location:
        record: Any = reader.get(ip)
        if not isinstance(record, dict):
            return UNKNOWN
        return Location(
            str(record.get("country_code") or "").upper(),
            str(record.get("state1") or ""),
            str(record.get("city") or ""),
        )

    return decode


def _maxmind_decoder(reader: geoip2.database.Reader, database_type: str) -> Decode:
    if "City" in database_type:
        model: Callable[[str], Any] = reader.city
    elif "Enterprise" in database_type:
        model = reader.enterprise
    else:
        model = reader.country

    def decode(ip: str) -> Location:
        try:
            found = model(ip)
        except geoip2.errors.AddressNotFoundError:
            return UNKNOWN
        country = found.country.iso_code or ""
        subdivisions = getattr(found, "subdivisions", ())
        city = getattr(found, "city", None)
        if not subdivisions:
            region, code = "", ""
        else:
            region, code = subdivisions[0].name or "", subdivisions[0].iso_code or ""
        return Location(
            country,
            region,
            (city.name or "") if city is not None else "",
            f"{country}-{code}" if country and code else "",
            (city.geoname_id or 0) if city is not None else 0,
        )

    return decode


@dataclass(frozen=True)
class _Opened:
    """One open generation of the file; replaced whole, never mutated."""

    key: StatKey
    info: FileInfo
    decode: Decode
    reader: object  # kept so the map stays open while this generation is in use


def _open(path: Path) -> _Opened:
    try:
        key = _stat_key(path)
    except FileNotFoundError:
        raise DatabaseError(f"{path} does not exist") from None
    except OSError as error:
        raise DatabaseError(f"{path} cannot be read ({error.strerror})") from None
    try:
        raw = maxminddb.open_database(str(path), MODE)
        meta = raw.metadata()
        kind = _schema(meta.database_type)
        decode: Decode
        if kind == "dbip":
            reader: object = raw
            decode = _flat_decoder(raw)
        else:
            raw.close()
            mm_reader = geoip2.database.Reader(str(path), mode=MODE)
            reader = mm_reader
            decode = _maxmind_decoder(mm_reader, meta.database_type)
        decode(_PROBE[4] if meta.ip_version == 4 else _PROBE[6])
    except DatabaseError as error:
        raise DatabaseError(f"{path} cannot be used: {error}") from None
    except (maxminddb.InvalidDatabaseError, ValueError, OSError, TypeError) as error:
        raise DatabaseError(f"{path} is not a valid MaxMind DB (.mmdb) file ({error})") from None
    info = FileInfo(
        path=path,
        kind=kind,
        database_type=meta.database_type,
        ip_version=meta.ip_version,
        build_epoch=meta.build_epoch,
        node_count=meta.node_count,
        size=key[2],
    )
    return _Opened(key, info, decode, reader)


class MmdbFile:
    """One database file: lookups on canonical IP strings, reloaded when it changes.

    Opening checks the file and raises :class:`DatabaseError`; afterwards nothing
    raises: a lookup that fails returns :data:`UNKNOWN`, and a replacement file
    that cannot be opened is logged and ignored until it changes again, the old
    data serving meanwhile.
    """

    def __init__(self, path: Path, check_interval: float = DEFAULT_CHECK_INTERVAL) -> None:
        self.path = path
        self.check_interval = check_interval
        self._current = _open(path)
        self._rejected: StatKey | None = None
        self._next_check = time.monotonic() + check_interval
        self._lock = threading.Lock()

    @property
    def info(self) -> FileInfo:
        return self._current.info

    def lookup(self, ip: str) -> Location:
        """The location of ``ip``, a canonical address string of this file's family."""
        if time.monotonic() >= self._next_check:
            self._maybe_reload()
        try:
            return self._current.decode(ip)
        except Exception:  # a damaged record must not fail a page view
            logger.warning("geolocation lookup failed in %s", self.path, exc_info=True)
            return UNKNOWN

    def _maybe_reload(self) -> None:
        # One thread checks; the others go on with the current generation.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._next_check = time.monotonic() + self.check_interval
            try:
                key = _stat_key(self.path)
            except OSError:
                return  # gone for a moment (a non-atomic copy); keep serving the old data
            if key in (self._current.key, self._rejected):
                return
            try:
                opened = _open(self.path)
            except DatabaseError as error:
                self._rejected = key
                logger.warning("keeping the previous geolocation data: %s", error)
                return
            self._current = opened
            self._rejected = None
            logger.info(
                "geolocation database reloaded: %s (%s, built %s)",
                self.path,
                opened.info.database_type,
                opened.info.built,
            )
        finally:
            self._lock.release()
