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

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


_IPV4_MASK = (1 << 32) - (1 << (32 - IPV4_PREFIX))
_IPV6_MASK = (1 << 128) - (1 << (128 - IPV6_PREFIX))


# The decimal octets as ``ipaddress`` accepts them: ASCII digits, 0-255, no leading
# zeros. A set lookup per part is cheaper than a regular expression, and this runs
# for every rate-limited request and event.
_OCTETS = frozenset(str(number) for number in range(256))


def truncate_ip(address: str) -> str:
    """The network address of ``address``'s /24 (IPv4) or /48 (IPv6); ``""`` if not an IP."""
    address = address.strip()
    head, _, last = address.rpartition(".")
    if last in _OCTETS:  # the common case, a dotted quad, without an address object
        parts = head.split(".")
        if len(parts) == 3 and parts[0] in _OCTETS and parts[1] in _OCTETS and parts[2] in _OCTETS:
            return head + ".0"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is None:
            return str(ipaddress.IPv6Address(int(ip) & _IPV6_MASK))
        ip = mapped
    return str(ipaddress.IPv4Address(int(ip) & _IPV4_MASK))
