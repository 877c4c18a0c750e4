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


def _reference(address: str) -> str:
    """What the standard library says the /24 or /48 is, or "" when it is no address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/48", strict=False).network_address)
    v4 = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip
    assert v4 is not None
    return str(ipaddress.ip_network(f"{v4}/24", strict=False).network_address)


@given(st.text(alphabet="0123456789.²٣ -", max_size=20))
def test_the_dotted_quad_fast_path_agrees_with_the_standard_library(address: str) -> None:
    # Near-misses on purpose: leading zeros, non-ASCII digits, short and long quads.
    assert truncate_ip(address) == _reference(address)
