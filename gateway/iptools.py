"""IP truncation, done before anything else sees an address.

IPv4 keeps its /24 and IPv6 its /48, so the stored address names a network,
not a household. An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is treated as
the IPv4 address it carries. The full address is never written anywhere: this
is the first thing the ingest path does with it, and no cache keeps full
addresses in memory either.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48


_IPV4_MASK = (1 << 32) - (1 << (32 - IPV4_PREFIX))
_IPV6_MASK = (1 << 128) - (1 << (128 - IPV6_PREFIX))


def _dotted_quad(parts: list[str]) -> bool:
    """Whether ``parts`` are four decimal octets as ``ipaddress`` accepts them
    (ASCII digits, 0-255, no leading zeros)."""
    return len(parts) == 4 and all(
        0 < len(part) <= 3
        and part.isascii()
        and part.isdigit()
        and (part[0] != "0" or part == "0")
        and int(part) < 256
        for part in parts
    )


def truncate_ip(address: str) -> str:
    """The network address of ``address``'s /24 (IPv4) or /48 (IPv6); ``""`` if not an IP."""
    parts = address.strip().split(".")
    if _dotted_quad(parts):  # the common case, without building an address object
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is None:
            return str(ipaddress.IPv6Address(int(ip) & _IPV6_MASK))
        ip = mapped
    return str(ipaddress.IPv4Address(int(ip) & _IPV4_MASK))
