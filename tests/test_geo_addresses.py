"""Which addresses are looked up: public ones only, IPv4-mapped IPv6 as IPv4."""

from __future__ import annotations

import ipaddress
import random

import pytest

from gateway.geo.addresses import public_address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("81.2.69.0", (4, "81.2.69.0")),
        ("8.8.8.0", (4, "8.8.8.0")),
        ("::ffff:81.2.69.0", (4, "81.2.69.0")),
        ("::ffff:5102:4500", (4, "81.2.69.0")),
        ("2001:630::", (6, "2001:630::")),
        ("2a02:8010::", (6, "2a02:8010::")),
    ],
)
def test_public_addresses(address: str, expected: tuple[int, str]) -> None:
    assert public_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "10.0.0.0",
        "100.64.0.0",
        "127.0.0.1",
        "169.254.0.0",
        "172.31.0.0",
        "192.0.2.0",
        "192.168.1.0",
        "198.18.0.0",
        "198.51.100.0",
        "203.0.113.0",
        "224.0.0.0",
        "239.255.255.0",
        "240.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:192.168.1.0",
        "64:ff9b::",
        "100::",
        "2001::",
        "2001:db8::",
        "3fff::",
        "fc00::",
        "fd12:3456::",
        "fe80::",
        "ff02::1",
        "",
        "1.2.3",
        "1.2.3.4.5",
        "81.2.69.0/24",
        "fe80::1%eth0",
        "nonsense",
    ],
)
def test_special_and_malformed_addresses_are_not_looked_up(address: str) -> None:
    assert public_address(address) is None


def test_never_calls_a_non_global_address_public() -> None:
    rng = random.Random(48)
    for _ in range(20_000):
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address
        if rng.random() < 0.5:
            ip = ipaddress.IPv4Address(rng.getrandbits(32))
        else:
            ip = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice((0, 3, 100)))
        if public_address(str(ip)) is not None:
            assert ip.is_global and not ip.is_multicast, ip
