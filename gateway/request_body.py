"""Reading a visitor's request body from ASGI ``receive``, with a size limit.

The proxy streams the body to the upstream message by message
(:meth:`BodyReader.next_message`); the beacon reads it whole. Both count bytes
as they arrive and stop at the limit (never reading further), and both must
tell "too large" from "the visitor went away", which need different answers
(413/400 against none at all).
"""

from __future__ import annotations

from gateway.asgi import Receive


class BodyAborted(Exception):
    """The body could not be read to its end: too large, or the visitor left."""


class BodyReader:
    """Reads the body's messages, counting bytes; raises :class:`BodyAborted` past ``limit``
    or on a disconnect, with :attr:`too_large` or :attr:`client_gone` saying which."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0
        self.too_large = False
        self.client_gone = False

    async def next_message(self) -> tuple[bytes, bool]:
        """The next message's body bytes, and whether more follow."""
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.client_gone = True
            raise BodyAborted("the visitor went away mid-upload")
        body: bytes = message.get("body", b"")
        self.received += len(body)
        if self.received > self.limit:
            self.too_large = True
            raise BodyAborted("the request body is too large")
        return body, message.get("more_body", False)

    async def read(self) -> bytes:
        """The whole body (for small ones: the beacon, never a proxied upload).

        Without an async generator: a beacon is nearly always one message, and a
        generator per body would cost more than the read itself.
        """
        body, more = await self.next_message()
        if not more:
            return body
        parts = [body]
        while more:
            body, more = await self.next_message()
            parts.append(body)
        return b"".join(parts)
