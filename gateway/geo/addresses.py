"""Which addresses are worth looking up: public ones only, decided cheaply.

A private, loopback, link-local, documentation, multicast or otherwise reserved
address gets an empty location without touching the database, so a visitor on
a LAN is never put in a city. The ranges are IANA's special-purpose address
registries (RFC 6890 and updates) for IPv4, and for IPv6 everything outside
global unicast 2000::/3 plus the special-purpose blocks inside it. This runs for
every page view, so it is ``inet_pton`` and a binary search rather than
``ipaddress``'s slower ``is_global``.
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right

_V4_SPECIAL = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # private (RFC 1918)
    "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the limited broadcast address
)
_V6_SPECIAL = (
    "::/3",  # outside global unicast: unspecified, loopback, mapped, NAT64, discard
    "4000::/2",  # unassigned, and below: ULA fc00::/7, link-local fe80::/10, multicast
    "8000::/1",
    "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, ...)
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation (RFC 9637)
)


def _ranges(networks: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """Sorted, merged ``(starts, ends)`` of the networks, as integers."""
    spans = sorted(
        (int(net.network_address), int(net.broadcast_address))
        for net in map(ipaddress.ip_network, networks)
    )
    starts: list[int] = []
    ends: list[int] = []
    for start, end in spans:
        if ends and start <= ends[-1] + 1:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


_V4 = _ranges(_V4_SPECIAL)
_V6 = _ranges(_V6_SPECIAL)
_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _special(value: int, table: tuple[list[int], list[int]]) -> bool:
    starts, ends = table
    index = bisect_right(starts, value) - 1
    return index >= 0 and value <= ends[index]


def public_address(address: str) -> tuple[int, str] | None:
    """``(version, address)`` to look up, or None for a non-IP or non-public address.

    An IPv4-mapped IPv6 address (``::ffff:81.2.69.0``) comes back as the IPv4
    address it carries, in dotted form.
    """
    try:
        if ":" not in address:
            packed = socket.inet_pton(socket.AF_INET, address)
            return None if _special(int.from_bytes(packed), _V4) else (4, address)
        packed = socket.inet_pton(socket.AF_INET6, address)
    except (OSError, ValueError, TypeError):
        return None
    if packed[:12] == _MAPPED:
        ipv4 = socket.inet_ntop(socket.AF_INET, packed[12:])
        return None if _special(int.from_bytes(packed[12:]), _V4) else (4, ipv4)
    return None if _special(int.from_bytes(packed), _V6) else (6, address)
