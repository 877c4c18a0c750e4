"""Proxy throughput and latency: direct, through the gateway, through nginx, side by side.

Run by hand with ``scripts/bench proxy`` (never by the tests). One nginx serves
a 10 KB HTML page as the origin and, on a second port, proxies to it with
keep-alive (the yardstick); the gateway runs as ``consent-gateway serve`` with
one worker in front of the same origin. wrk measures each target in turn,
alternating for several rounds so that drift hits all alike; the median round
is reported, with the ratios gateway/nginx and gateway/direct and the
gateway's CPU time per request (from /proc, user + system).

Two bare forwarders (``bench/bare_forwarder.py``) run beside it as yardsticks
for what uvicorn and an upstream client cost without the gateway: one with
aiohttp, one with the gateway's own connection pool.

Two gateway rows: a returning visitor (a valid session cookie, as a browser
sends it, so the cookie is re-signed at most once a minute) and a new visitor
(no cookie, so every response issues one: the worst case).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import (
    CONNECTIONS,
    Gateway,
    Result,
    cpu_seconds,
    free_port,
    gateway_process,
    html_page,
    median_cpu,
    median_run,
    nginx_origin,
    wait_for,
    wrk,
)
from gateway.session import SESSION_COOKIE
from gateway.signing import CookieSigner

PAGE_BYTES = 10 * 1024
FORWARDERS = ("aiohttp", "pool")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-bench-") as folder:
        work = Path(folder)
        with nginx_origin(work, html_page(PAGE_BYTES)) as origin:
            with gateway_process(origin.url, work / "data") as gateway:
                bare = {client: start_forwarder(origin.url, client) for client in FORWARDERS}
                try:
                    for port, _process in bare.values():
                        wait_for(f"http://127.0.0.1:{port}/")
                    runs = measure(
                        args,
                        origin.url,
                        origin.proxy_port,
                        {client: (port, p.pid) for client, (port, p) in bare.items()},
                        gateway,
                    )
                finally:
                    for _port, process in bare.values():
                        process.send_signal(signal.SIGTERM)
                        process.wait(timeout=20)
    report(runs, args)


def start_forwarder(upstream: str, client: str) -> tuple[int, subprocess.Popen[bytes]]:
    """``bench/bare_forwarder.py`` with ``client``, on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_forwarder", upstream, str(port), client]
    return port, subprocess.Popen(command)


def measure(
    args: argparse.Namespace,
    origin: str,
    nginx_proxy: int,
    bare: dict[str, tuple[int, int]],
    gateway: Gateway,
) -> dict[str, list[Result]]:
    """Alternating wrk rounds over every target; CPU is read for the Python processes."""
    aiohttp_port, aiohttp_pid = bare["aiohttp"]
    pool_port, pool_pid = bare["pool"]
    cookie = CookieSigner([gateway.key], salt="cg.session").sign("benchvisitor")
    targets: dict[str, tuple[str, list[str], int | None]] = {
        "direct to the origin": (origin, [], None),
        "nginx as a proxy": (f"http://127.0.0.1:{nginx_proxy}", [], None),
        "bare ASGI + aiohttp forwarder": (f"http://127.0.0.1:{aiohttp_port}", [], aiohttp_pid),
        "bare ASGI + gateway pool": (f"http://127.0.0.1:{pool_port}", [], pool_pid),
        "gateway, returning visitor": (
            gateway.url,
            [f"Cookie: {SESSION_COOKIE}={cookie}"],
            gateway.pid,
        ),
        "gateway, new visitor": (gateway.url, [], gateway.pid),
    }
    runs: dict[str, list[Result]] = {name: [] for name in targets}
    for url, headers, _ in targets.values():  # warm-up, not counted
        wrk(url + "/", 1, headers)
    for round_number in range(args.rounds):
        for name, (url, headers, pid) in targets.items():
            before = cpu_seconds(pid) if pid else 0.0
            result = wrk(url + "/", args.seconds, headers)
            if pid:
                result.cpu_seconds = cpu_seconds(pid) - before
            runs[name].append(result)
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    return runs


def report(runs: dict[str, list[Result]], args: argparse.Namespace) -> None:
    print(
        f"\n10 KB HTML page, {CONNECTIONS} connections, one worker each, "
        f"{args.rounds} alternating rounds of {args.seconds}s (median round)\n"
    )
    print(f"{'target':30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
    medians = {name: median_run(results) for name, results in runs.items()}
    for name, result in medians.items():
        cpu = result.cpu_us_per_request
        shown = f"{cpu:11.0f}" if cpu is not None else f"{'':>11}"
        print(
            f"{name:30} {result.requests_per_second:9.0f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {shown}"
        )

    def rate(name: str) -> float:
        return statistics.median(r.requests_per_second for r in runs[name])

    nginx, direct = rate("nginx as a proxy"), rate("direct to the origin")
    bare = rate("bare ASGI + aiohttp forwarder")
    for name in ("gateway, returning visitor", "gateway, new visitor"):
        gateway = medians[name].requests_per_second
        print(
            f"\n{name}: gateway/nginx = {gateway / nginx:.3f}   "
            f"gateway/direct = {gateway / direct:.3f}   "
            f"gateway/bare forwarder = {gateway / bare:.3f}"
        )
    bare_cpu = median_cpu(runs["bare ASGI + aiohttp forwarder"])
    pool_cpu = median_cpu(runs["bare ASGI + gateway pool"])
    for name in ("gateway, returning visitor", "gateway, new visitor"):
        cpu = median_cpu(runs[name])
        print(
            f"{name}: CPU per request / bare aiohttp forwarder's = {cpu / bare_cpu:.2f}   "
            f"/ bare pool forwarder's = {cpu / pool_cpu:.2f}"
        )


if __name__ == "__main__":
    main()
