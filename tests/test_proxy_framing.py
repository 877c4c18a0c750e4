"""Request framing: the upstream parses exactly the requests the visitor sent, and no others.

A raw client sends requests byte for byte (every hop-by-hop nomination, both
framings, chunk extensions and trailers, bodies on GET/HEAD/OPTIONS, pipelining,
early close) through a real gateway to an upstream that parses with h11
(``tests/framing_upstream.py``). For each sequence, the upstream must have
parsed the requests the client got an upstream answer for, with the same method,
target and body, in order, and nothing else; then a second visitor on a fresh
connection, whose request may ride a pooled connection, must get their own
answer with nothing glued to it (RFC 9112 sections 6.3, 9.6 and 11.2).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from tests.conftest import make_settings
from tests.framing_upstream import Recording, framing_upstream
from tests.servers import run_server

# Header names a visitor might nominate in Connection: framing, identity, the
# gateway's own headers, real hop-by-hop ones and ordinary end-to-end ones.
NOMINATIONS = [
    "content-length",
    "Content-Length",
    "transfer-encoding",
    "host",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-consent",
    "sec-gpc",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "x-custom",
    "user-agent",
    "close",
]

SMUGGLED_BODIES = [
    b"GET /smuggled HTTP/1.1\r\nHost: gw\r\nX-Capture: ",
    b"GET /smuggled HTTP/1.1\r\nHost: gw\r\n\r\n",
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: gw\r\n\r\n",
    b"POST /smuggled HTTP/1.1\r\nContent-Length: 40\r\n\r\n",
]


@dataclass
class Sent:
    """One request as the client put it on the wire."""

    method: str
    target: str
    body: bytes
    wire: bytes


@dataclass
class Answer:
    status: int
    headers: dict[str, str]

    @property
    def upstream_target(self) -> str | None:
        return self.headers.get("x-upstream-target")


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    method = draw(st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]))
    target = f"/t/{uuid.uuid4().hex}" + draw(st.sampled_from(["", "?q=1", "?a=b&c=%20"]))
    body = draw(st.one_of(st.just(b""), st.sampled_from(SMUGGLED_BODIES), st.binary(max_size=300)))
    framing = draw(
        st.sampled_from(["length", "chunked"] if body else ["none", "length", "chunked"])
    )
    lines = [f"{method} {target} HTTP/1.1", "Host: gateway.test"]
    tokens = draw(st.lists(st.sampled_from(NOMINATIONS), max_size=4))
    if tokens:
        split = draw(st.booleans())
        if split and len(tokens) > 1:  # two Connection headers, as a list split in two
            lines += [f"Connection: {tokens[0]}", f"Connection: {', '.join(tokens[1:])}"]
        else:
            lines.append(f"Connection: {', '.join(tokens)}")
    extra = draw(
        st.lists(
            st.sampled_from(
                [
                    "X-Custom: 1",
                    "Cookie: sessionid=attacker",
                    "X-Forwarded-For: 203.0.113.9",
                    "X-Consent: analytics,marketing",
                    "X_Consent: analytics",
                    "X-Real-IP: 203.0.113.9",
                    "TE: trailers",
                    "Keep-Alive: timeout=5",
                    "Trailer: X-Checksum",
                    "Upgrade: h2c",
                    "User-Agent: framing-test",
                ]
            ),
            max_size=3,
        )
    )
    lines += extra
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        payload = _chunked(draw, body)
    else:
        payload = b""
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
    return Sent(method, target, body, wire)


def _chunked(draw: st.DrawFn, body: bytes) -> bytes:
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    out = b""
    for piece in pieces:
        if not piece:
            continue  # a zero-size chunk would end the body
        size = b"%x" % len(piece)
        if draw(st.booleans()):
            size = size.upper()
        extension = draw(st.sampled_from([b"", b";ext=1", b';name="q"', b" ;x"]))
        out += size + extension + b"\r\n" + piece + b"\r\n"
    trailers = draw(st.sampled_from([b"", b"X-Checksum: 1\r\n", b"Content-Length: 99\r\n"]))
    return out + b"0\r\n" + trailers + b"\r\n"


def _read_answer(stream: socket.socket, buffer: bytearray, method: str) -> Answer | None:
    """The next response on the connection, skipping interim ones; None once it closed."""
    while True:
        while b"\r\n\r\n" not in buffer:
            data = stream.recv(65536)
            if not data:
                return None
            buffer += data
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        buffer[:] = rest
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue
        if method == "HEAD" or status in (204, 304):
            return Answer(status, headers)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            _skip_chunked(stream, buffer)
        else:
            _take(stream, buffer, int(headers.get("content-length", "0")))
        return Answer(status, headers)


def _take(stream: socket.socket, buffer: bytearray, size: int) -> bytes:
    while len(buffer) < size:
        data = stream.recv(65536)
        if not data:
            raise AssertionError("the gateway closed the connection inside a response body")
        buffer += data
    taken = bytes(buffer[:size])
    del buffer[:size]
    return taken


def _skip_chunked(stream: socket.socket, buffer: bytearray) -> None:
    while True:
        while b"\r\n" not in buffer:
            buffer += stream.recv(65536)
        line, _, rest = bytes(buffer).partition(b"\r\n")
        buffer[:] = rest
        size = int(line.split(b";")[0], 16)
        _take(stream, buffer, size + 2)
        if size == 0:
            return


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    stream = socket.create_connection((host, int(port)), timeout=10)
    return stream


def exchange(url: str, sent: list[Sent], pipelined: bool, cut: int | None) -> list[Answer]:
    """Send ``sent`` on one connection and read the answers; the last request is cut
    after ``cut`` bytes and the connection closed, when ``cut`` is given."""
    whole = sent[:-1] if cut is not None else sent
    answers: list[Answer] = []
    with _connect(url) as stream:
        buffer = bytearray()
        if pipelined:
            stream.sendall(b"".join(request.wire for request in whole))
        for request in whole:
            if not pipelined:
                stream.sendall(request.wire)
            answer = _read_answer(stream, buffer, request.method)
            if answer is None:
                return answers
            answers.append(answer)
            if answer.headers.get("connection", "").lower() == "close":
                return answers
        if cut is not None:
            stream.sendall(sent[-1].wire[:cut])
    return answers


def victim(url: str) -> tuple[str, Answer | None]:
    """A second visitor's ordinary GET with a session cookie, on a connection of its own."""
    target = f"/victim/{uuid.uuid4().hex}"
    with _connect(url) as stream:
        stream.sendall(
            f"GET {target} HTTP/1.1\r\nHost: gateway.test\r\n"
            "Cookie: sessionid=victim-secret\r\n\r\n".encode()
        )
        return target, _read_answer(stream, bytearray(), "GET")


def settle(seen: Recording, count: int) -> None:
    """Wait until the upstream has recorded ``count`` requests (or a little longer)."""
    deadline = time.monotonic() + 2
    while len(seen.requests) < count and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.fixture(scope="module")
def framed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Recording]]:
    """A real gateway in front of the recording upstream, shared by the module's examples
    so that pooled upstream connections carry one example's requests into the next."""
    data = tmp_path_factory.mktemp("framing")
    with framing_upstream() as (upstream, seen):
        settings_ = make_settings(upstream, Path(data), rate_limit_consent="off")
        with run_server(create_app(settings_)) as url:
            yield url, seen


def check(url: str, seen: Recording, sent: list[Sent], pipelined: bool, cut: int | None) -> None:
    """Everything the upstream parsed is a request the client sent whole, byte for byte,
    in order, and every upstream answer the client got is its own request's; then a
    second visitor gets their own answer and the upstream sees their request alone.

    A request may reach the upstream without its answer reaching the client: when a
    later pipelined request breaks the parser, uvicorn answers 400 and closes at once.
    """
    seen.clear()
    answers = exchange(url, sent, pipelined, cut)
    answered: list[str] = []
    for request, answer in zip(sent, answers, strict=False):
        if answer.upstream_target is None:
            assert answer.status >= 400, (answer, request.wire)  # the gateway refused it
        else:
            assert answer.upstream_target == request.target, "an answer to another request"
            answered.append(request.target)
    target, reply = victim(url)
    assert reply is not None, "the victim got no answer"
    assert reply.upstream_target == target, "the victim got someone else's answer"
    settle(seen, len(answered) + 1)
    assert seen.errors == []
    *parsed, last = [(p.method, p.target, p.body) for p in seen.requests]
    assert last == ("GET", target, b"")
    whole = sent[:-1] if cut is not None else sent
    candidates = [(r.method, r.target, r.body) for r in whole]
    assert parsed == [c for c in candidates if c in parsed], [r.wire for r in sent]
    assert set(answered) <= {p[1] for p in parsed}
    victim_headers = seen.requests[-1].headers
    assert [v for k, v in victim_headers if k.lower() == "cookie"] == ["sessionid=victim-secret"]
    assert not any(k.lower() == "x-capture" for k, _ in victim_headers)


def smuggler(body: bytes, connection: str = "keep-alive, Content-Length") -> Sent:
    """The report's reproduction: Content-Length nominated as hop-by-hop."""
    target = f"/echo/{uuid.uuid4().hex}"
    head = (
        f"POST {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: {connection}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return Sent("POST", target, body, head.encode() + body)


def test_content_length_nominated_as_hop_by_hop_cannot_smuggle(
    framed: tuple[str, Recording],
) -> None:
    url, seen = framed
    for connection in ("keep-alive, Content-Length", "Content-Length", "close, content-length"):
        check(url, seen, [smuggler(SMUGGLED_BODIES[0], connection)], pipelined=False, cut=None)


def test_transfer_encoding_nominated_as_hop_by_hop_keeps_the_chunked_framing(
    framed: tuple[str, Recording],
) -> None:
    url, seen = framed
    body = SMUGGLED_BODIES[1]
    target = f"/echo/{uuid.uuid4().hex}"
    wire = (
        (
            f"POST {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: Transfer-Encoding\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + b"%x\r\n" % len(body)
        + body
        + b"\r\n0\r\n\r\n"
    )
    check(url, seen, [Sent("POST", target, body, wire)], pipelined=False, cut=None)


def test_a_body_cut_short_never_leaves_its_upstream_connection_in_the_pool(
    framed: tuple[str, Recording],
) -> None:
    url, seen = framed
    request = smuggler(SMUGGLED_BODIES[1], "keep-alive")
    head_length = request.wire.index(b"\r\n\r\n") + 4
    check(url, seen, [request], pipelined=False, cut=head_length + 10)


# At least 300 generated sequences on every run, more under --fuzz-long.
@settings(max_examples=max(300, settings().max_examples))
@given(
    sent=st.lists(requests(), min_size=1, max_size=4),
    pipelined=st.booleans(),
    cut=st.none() | st.integers(min_value=1, max_value=400),
)
@example(
    sent=[smuggler(SMUGGLED_BODIES[0])], pipelined=False, cut=None
)  # the report's reproduction
def test_the_upstream_parses_exactly_the_requests_sent(
    framed: tuple[str, Recording], sent: list[Sent], pipelined: bool, cut: int | None
) -> None:
    url, seen = framed
    if cut is not None:
        cut = min(cut, len(sent[-1].wire) - 1)
    check(url, seen, sent, pipelined, cut)
