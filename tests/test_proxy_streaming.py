"""Large bodies stream through with flat memory, both ways.

Upstream, gateway and client all run in this process, so any layer that
buffered a body would show in the process's resident memory, sampled while the
transfer runs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import run_raw_server, run_server

GIB = 1 << 30
CHUNK = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """Sample resident memory every 20 ms while the block runs; yields [baseline, peak]."""
    result = [rss_bytes(), rss_bytes()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            result[1] = max(result[1], rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        done.set()
        sampler.join()


def test_one_gib_download_and_upload_keep_memory_flat(upstream: str, tmp_path: Path) -> None:
    settings = make_settings(upstream, tmp_path, max_body_bytes=2 * GIB)
    with run_server(create_app(settings)) as gateway, httpx.Client(timeout=60) as client:
        # Warm up pools and buffers so the baseline includes them.
        client.get(gateway + f"/big?size={8 * CHUNK}").raise_for_status()

        with peak_rss() as download_memory:
            received = 0
            with client.stream("GET", gateway + f"/big?size={GIB}") as response:
                for chunk in response.iter_raw(CHUNK):
                    received += len(chunk)
        assert received == GIB

        def upload() -> Iterator[bytes]:
            block = b"u" * CHUNK
            for _ in range(GIB // CHUNK):
                yield block

        with peak_rss() as upload_memory:
            answer = client.post(gateway + "/echo", content=upload()).json()
        assert answer["size"] == GIB

    for baseline, peak in (download_memory, upload_memory):
        assert peak - baseline < 64 * CHUNK, f"memory grew by {(peak - baseline) >> 20} MiB"


def test_a_visitor_leaving_mid_download_stops_the_upstream_read(tmp_path: Path) -> None:
    """A cancelled download (or a video seek, which cancels one range request for the
    next) must not go on pulling the rest of a large file from the upstream."""
    size = 256 * CHUNK
    sent = [0]
    cut = threading.Event()

    async def large_file(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        block = b"v" * CHUNK
        try:
            while sent[0] < size:
                writer.write(block)
                await writer.drain()
                sent[0] += CHUNK
        except ConnectionError:  # the gateway closed the connection: nobody reads on
            cut.set()

    with run_raw_server(large_file) as (upstream, _seen):
        with run_server(create_app(make_settings(upstream, tmp_path))) as gateway:
            received = 0
            with httpx.stream("GET", gateway + "/video.mp4", timeout=30) as response:
                for chunk in response.iter_raw(CHUNK):
                    received += len(chunk)
                    if received >= 4 * CHUNK:
                        break  # the visitor goes: leaving the block closes the connection
            deadline = time.monotonic() + 30
            while not cut.is_set() and sent[0] < size and time.monotonic() < deadline:
                time.sleep(0.05)
    assert cut.is_set(), f"the gateway read {sent[0] >> 20} of {size >> 20} MiB for nobody"
    assert sent[0] < size // 4
