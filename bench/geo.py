"""Geolocation lookups per second, per database kind, beside the IP truncation before them.

Run by hand with ``scripts/bench geo`` (never by the tests). Needs the DB-IP
database (``consent-gateway geo fetch --dest .cache/geo``, which scripts/test
also does) and, for the MaxMind row, either ``--maxmind`` with a real
GeoLite2/GeoIP2 City file or, by default, a MaxMind-schema City file built here
with ``mmdb-writer`` from the DB-IP records of the sampled addresses (same
networks, MaxMind's nested records, read through ``geoip2``).

Every row runs the same sample of random public addresses, already truncated
as the ingest path truncates them, on one thread, in alternating rounds so
drift hits all alike; the median round is reported. CPU time is process time
(user + system). The last lines give the lookup's share of the ingest step
"truncate the IP, then look it up" on the default (DB-IP) database.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import maxminddb

from gateway.geo.lookup import DatabaseLookup, open_database
from gateway.geo.readers import MODE
from gateway.iptools import truncate_ip

REPO = Path(__file__).resolve().parent.parent
SAMPLE = 20_000
TRUNCATE = "truncate_ip (the step before)"
DBIP_ROW = "DB-IP City Lite lookup (flat schema, 2 files)"
MAXMIND_ROW = "MaxMind City lookup (geoip2)"
ROUNDS = 5


def public_addresses(count: int, seed: int = 8) -> list[str]:
    """Random global unicast addresses, three IPv4 to one IPv6 (from 2000::/3)."""
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < count:
        if len(found) % 4 == 3:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(
                (0x2 << 124) | rng.getrandbits(125) & ((1 << 125) - 1)
            )
        else:
            ip = ipaddress.IPv4Address(rng.getrandbits(32))
        if ip.is_global and not ip.is_multicast:
            found.append(str(ip))
    return found


def build_maxmind(dbip: DatabaseLookup, addresses: list[str], path: Path) -> Path:
    """A GeoLite2-City-like file with the DB-IP networks of ``addresses``."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(6, "GeoLite2-City", ["en"], "bench", ipv4_compatible=True)
    seen: set[str] = set()
    for item in dbip.files:
        with maxminddb.open_database(str(item.path), MODE) as reader:
            for address in addresses:
                if ipaddress.ip_address(address).version != item.info.ip_version:
                    continue
                record, prefix = reader.get_with_prefix_len(address)
                network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
                if not isinstance(record, dict) or network in seen:
                    continue
                seen.add(network)
                writer.insert_network(
                    IPSet([network]),
                    {
                        "country": {"iso_code": str(record.get("country_code", ""))},
                        "subdivisions": [{"names": {"en": str(record.get("state1", ""))}}],
                        "city": {"names": {"en": str(record.get("city", ""))}},
                    },
                )
    writer.to_db_file(str(path))
    return path


def measure(step: Callable[[str], object], inputs: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds for one pass of ``step`` over ``inputs``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for item in inputs:
        step(item)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench geo", description=__doc__)
    parser.add_argument("--dbip", default=str(REPO / ".cache" / "geo"), help="DB-IP folder")
    parser.add_argument("--maxmind", help="a real GeoLite2/GeoIP2 City file (default: built)")
    parser.add_argument("--sample", type=int, default=SAMPLE, help="addresses per round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)

    addresses = public_addresses(args.sample)
    truncated = [truncate_ip(address) for address in addresses]
    try:
        dbip = open_database(Path(args.dbip))
    except Exception as error:
        print(f"{error}; run: consent-gateway geo fetch --dest {args.dbip}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        maxmind_path = (
            Path(args.maxmind)
            if args.maxmind
            else build_maxmind(dbip, truncated, Path(work) / "GeoLite2-City.mmdb")
        )
        maxmind = open_database(maxmind_path)
        rows: dict[str, tuple[Callable[[str], object], list[str]]] = {
            TRUNCATE: (truncate_ip, addresses),
            DBIP_ROW: (dbip.lookup, truncated),
            MAXMIND_ROW: (maxmind.lookup, truncated),
        }
        hits = {
            "DB-IP": sum(1 for ip in truncated if dbip.lookup(ip).country),
            "MaxMind": sum(1 for ip in truncated if maxmind.lookup(ip).country),
        }
        for step, inputs in rows.values():  # warm up: page in the maps
            measure(step, inputs)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
        for _ in range(args.rounds):
            for name, (step, inputs) in rows.items():
                results[name].append(measure(step, inputs))

    n = args.sample
    print(f"{n:,} random public addresses (3 IPv4 : 1 IPv6), {args.rounds} rounds, median")
    print(f"MaxMind file: {maxmind_path.name if args.maxmind else 'built from the sample'}")
    print(f"located: DB-IP {hits['DB-IP'] / n:.0%}, MaxMind {hits['MaxMind'] / n:.0%}")
    extension = MODE == maxminddb.MODE_MMAP_EXT
    print(f"reader: {'C extension' if extension else 'pure Python'}, memory-mapped")
    print()
    print(f"{'step':<52}{'per second':>12}{'µs wall':>10}{'µs CPU':>10}")
    cpu_us: dict[str, float] = {}
    for name, runs in results.items():
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        cpu_us[name] = cpu / n * 1e6
        print(f"{name:<52}{n / wall:>12,.0f}{wall / n * 1e6:>10.2f}{cpu_us[name]:>10.2f}")
    print()
    truncate = cpu_us[TRUNCATE]
    for label, name in (("DB-IP", DBIP_ROW), ("MaxMind", MAXMIND_ROW)):
        lookup = cpu_us[name]
        print(
            f"{label}: lookup / truncate_ip CPU = {lookup / truncate:.1f}x; the lookup is "
            f"{lookup / (lookup + truncate):.0%} of truncate + lookup"
        )
    print(
        "(The full ingest path, with validation, bot filter and user agent parsing, "
        "is not measured here.)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
