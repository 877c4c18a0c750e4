"""IP truncation: /24 for IPv4, /48 for IPv6, mapped addresses as IPv4, garbage as empty."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.iptools import truncate_ip


@pytest.mark.parametrize(
    ("address", "truncated"),
    [
        ("81.2.69.160", "81.2.69.0"),
        ("10.255.255.255", "10.255.255.0"),
        (" 1.2.3.4 ", "1.2.3.0"),
        ("2001:db8:1234:5678:9abc::1", "2001:db8:1234::"),
        ("2001:db8:1234:ffff:ffff:ffff:ffff:ffff", "2001:db8:1234::"),
        ("::ffff:192.0.2.77", "192.0.2.0"),
        ("::1", "::"),
        ("not an ip", ""),
        ("", ""),
        ("1.2.3.4.5", ""),
    ],
)
def test_known_addresses(address: str, truncated: str) -> None:
    assert truncate_ip(address) == truncated


@given(st.ip_addresses())
def test_the_result_is_the_network_of_the_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    result = ipaddress.ip_address(truncate_ip(str(address)))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    assert result == ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address
