"""Large bodies stream through with flat memory, both ways.

Upstream, gateway and client all run in this process, so any layer that
buffered a body would show in the process's resident memory, sampled while the
transfer runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.app import create_app
from tests.conftest import make_settings
from tests.servers import run_server

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
