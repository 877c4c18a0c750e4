"""The coalescing transport over a real uvloop socket transport and a socket pair."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import uvloop

from gateway.write_coalescing import FLUSH_AT, CoalescingTransport


def peer_bytes(peer: socket.socket) -> bytes:
    """What has reached the other end so far, without waiting."""
    received = b""
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return received
        if not chunk:
            return received
        received += chunk


def run(body: Callable[[CoalescingTransport, socket.socket], Awaitable[None]]) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        coalescing = CoalescingTransport(transport, loop)
        try:
            await body(coalescing, peer)
        finally:
            coalescing.abort()
            peer.close()

    uvloop.run(main())


async def one_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_writes_of_one_turn_leave_together_at_the_next() -> None:
    async def body(transport: CoalescingTransport, peer: socket.socket) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        transport.write(b"hello")
        assert peer_bytes(peer) == b""  # nothing written yet: one write at the turn's end
        assert transport.get_write_buffer_size() == 43
        await one_turn()
        assert peer_bytes(peer) == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"

    run(body)


def test_a_large_write_goes_out_at_once_so_back_pressure_still_works() -> None:
    async def body(transport: CoalescingTransport, peer: socket.socket) -> None:
        transport.write(b"head")
        transport.write(b"x" * FLUSH_AT)
        # Written without waiting for the turn: the real transport (and so its
        # pause_writing) has it straight away, and the socket has what it could take.
        received = peer_bytes(peer)
        assert received.startswith(b"headxxxx")
        await asyncio.sleep(0.05)
        assert len(received + peer_bytes(peer)) == 4 + FLUSH_AT

    run(body)


def test_close_writes_what_was_gathered_first_and_abort_drops_it() -> None:
    async def body(transport: CoalescingTransport, peer: socket.socket) -> None:
        transport.write(b"last words")
        transport.close()
        assert transport.is_closing()
        transport.write(b"after close")  # ignored, as by any closed transport
        await one_turn()
        await asyncio.sleep(0.05)
        assert peer_bytes(peer) == b"last words"

    run(body)

    async def aborted(transport: CoalescingTransport, peer: socket.socket) -> None:
        transport.write(b"never sent")
        transport.abort()
        await one_turn()
        assert peer_bytes(peer) == b""

    run(aborted)
