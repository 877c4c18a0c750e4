"""The request as it goes to the upstream: its head in bytes, and its body streamed.

The head holds exactly the headers :class:`gateway.proxy.headers.RequestTranslator`
chose, in order, ``Host`` first, with no client header invented; the only one
added is the framing the gateway parsed (``Content-Length``, or
``Transfer-Encoding: chunked``, RFC 9112 section 6). The body is copied one ASGI
message at a time, waiting for the upstream's socket to drain, so any upload
holds a message or two in memory. If the upstream answers early (a 401 or 413),
sending stops, the answer is read, and the connection is not reused.
"""

from __future__ import annotations

from gateway.exceptions import UpstreamUnreachable
from gateway.proxy.wire import UpstreamConnection
from gateway.request_body import BodyReader


class BadHeader(ValueError):
    """A header holds a line break or NUL (which would split the request) or a character
    that HTTP/1.1 cannot carry."""


def encode_head(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    length: int | None = None,
    chunked: bool = False,
) -> bytes:
    """``METHOD target HTTP/1.1``, the headers and the framing, as latin-1 bytes.

    The framing is the gateway's own: ``Content-Length`` when the visitor's body had
    one, chunked coding when it came chunked, nothing when it had neither.

    Raises :class:`BadHeader` rather than let a CR, LF or NUL in any part start a
    header or a request of its own (request smuggling): counted in the whole head at
    once, which is far cheaper than a check per header.
    """
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("\r\n")
    text = "\r\n".join(lines)
    breaks = len(lines)  # one CRLF between lines, and the final blank line
    if text.count("\n") != breaks or text.count("\r") != breaks or "\0" in text:
        raise BadHeader("A request header holds a line break or a NUL byte.")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as error:
        raise BadHeader("A request header holds a character outside Latin-1.") from error


class BodySender:
    """Streams a visitor's body to the upstream: ``length`` bytes as announced, or in
    chunked coding when ``length`` is ``None``."""

    __slots__ = ("length", "reader")

    def __init__(self, reader: BodyReader, length: int | None) -> None:
        self.reader = reader
        self.length = length

    async def __call__(self, connection: UpstreamConnection) -> None:
        reader, length = self.reader, self.length
        chunked = length is None
        sent = 0
        more = True
        while more:
            if connection.headers_done or connection.closed:
                connection.request_sent = False  # answered early: the rest is never sent
                return
            body, more = await reader.next_message()
            if body:
                sent += len(body)
                if chunked:
                    connection.write(b"%x\r\n" % len(body) + body + b"\r\n")
                else:
                    connection.write(body)
                await connection.drain()
        if chunked:
            connection.write(b"0\r\n\r\n")
        elif sent != length:
            # Never on a parser that enforces the length; if it happens, the upstream
            # reads the request differently from us, so its connection must not be reused.
            connection.close()
            raise UpstreamUnreachable(
                f"The request body held {sent} bytes, not the {length} announced."
            )
