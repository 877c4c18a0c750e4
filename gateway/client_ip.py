"""Who is really asking: the client address and scheme, believed only from trusted proxies.

Follows ``uvicorn/middleware/proxy_headers.py``: ``X-Forwarded-For`` is read
right to left and the first address that is not a trusted proxy is the client.
A peer outside ``CG_TRUSTED_PROXIES`` is the client itself, whatever headers it
sends, so a visitor cannot forge an address or claim HTTPS.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from gateway.iptools import IPNetwork


class TrustedProxies:
    """Decides which peers may speak for the client through forwarding headers."""

    def __init__(self, networks: tuple[IPNetwork, ...]) -> None:
        self._networks = networks
        # The same few peers (a load balancer, loopback) ask again and again, so
        # the answer is cached per address string; the cache is bounded.
        self.is_trusted = lru_cache(maxsize=4096)(self._is_trusted)

    def _is_trusted(self, host: str) -> bool:
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host.strip())
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address: the peer, or the nearest untrusted hop it vouches for."""
        if forwarded_for is None or not self.is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return _valid_or(hop, peer)
        return _valid_or(hops[0], peer) if hops else peer

    def scheme(self, peer: str, scope_scheme: str, forwarded_proto: str | None) -> str:
        """``https`` or ``http`` as the client used it, believing the header only from trust."""
        if forwarded_proto is not None and self.is_trusted(peer):
            proto = forwarded_proto.split(",")[-1].strip().lower()
            if proto in ("http", "https", "ws", "wss"):
                return proto
        return scope_scheme


def _valid_or(candidate: str, fallback: str) -> str:
    """A forwarded hop if it is an IP address, otherwise the peer: garbage never passes."""
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return fallback
