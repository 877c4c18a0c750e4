"""Properties of the client address: X-Forwarded-For chains and IP truncation.

Whatever a visitor writes into ``X-Forwarded-For``, the address the gateway
believes is the peer itself (untrusted peer) or the nearest hop a trusted proxy
vouches for: text the visitor put further left never wins, and garbage never
passes as an address. Truncation never raises and always yields a network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.client_ip import TrustedProxies
from gateway.iptools import truncate_ip
from tests.conftest import make_settings
from tests.inprocess import InProcess, in_process

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
proxies = TrustedProxies(TRUSTED)

trusted_hosts = st.one_of(
    st.integers(0, 2**24 - 1).map(lambda n: str(ipaddress.IPv4Address((10 << 24) + n))),
    st.just("fd00::1"),
)
untrusted_hosts = (
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
    .map(str)
    .filter(lambda a: not proxies.is_trusted(a))
)
hop_text = st.one_of(
    trusted_hosts,
    untrusted_hosts,
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)
chains = st.lists(hop_text, max_size=6).map(", ".join) | st.text(max_size=60)


@given(untrusted_hosts, chains)
def test_an_untrusted_peer_is_the_client_whatever_it_claims(peer: str, chain: str) -> None:
    assert proxies.client(peer, chain) == peer


@given(trusted_hosts, chains, untrusted_hosts, st.lists(trusted_hosts, max_size=3))
def test_text_left_of_the_nearest_untrusted_hop_never_wins(
    peer: str, forged: str, client: str, inner_proxies: list[str]
) -> None:
    # The visitor sent ``forged``; each trusted proxy appended the address it saw.
    chain = ", ".join(part for part in [forged, client, *inner_proxies] if part)
    assert proxies.client(peer, chain) == str(ipaddress.ip_address(client))


@given(trusted_hosts, chains)
def test_a_trusted_peer_yields_an_address_or_itself(peer: str, chain: str) -> None:
    result = proxies.client(peer, chain)
    assert result == peer or ipaddress.ip_address(result)


@given(st.text(max_size=60))
def test_truncation_never_raises_and_yields_a_network(text: str) -> None:
    result = truncate_ip(text)
    assert result == "" or truncate_ip(result) == result


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_truncation_drops_every_host_bit(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assume(address.version == 4 or address.ipv4_mapped is None)
    result = ipaddress.ip_address(truncate_ip(str(address)))
    host_bits = 8 if address.version == 4 else 80
    assert int(result) & ((1 << host_bits) - 1) == 0
    assert int(result) >> host_bits == int(address) >> host_bits


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    settings = make_settings(
        "http://127.0.0.1:9",
        tmp_path_factory.mktemp("fuzz-addresses"),
        trusted_proxies="10.0.0.0/8",
        rate_limit_consent="1/hour",
    )
    with in_process(create_app(settings)) as app:
        yield app


@given(chains, st.sampled_from(["10.1.2.3", "192.0.2.1"]))
def test_any_forwarding_chain_through_the_app_is_survived(
    gateway: InProcess, chain: str, peer: str
) -> None:
    # With a limit of one request an hour per network, the answer also tells which
    # network the gateway charged: never a crash, and only 200, 429 or bad_header.
    response = gateway.request(
        "GET",
        "/_consent/state",
        client=peer,
        headers={"x-forwarded-for": chain.encode("utf-8"), "accept": "application/json"},
    )
    assert response.status_code in (200, 400, 429), response.text
    if response.status_code != 200:
        assert response.json()["error"]["code"] in ("bad_header", "rate_limited")
