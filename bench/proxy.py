"""Proxy throughput and latency: direct, through the gateway, through nginx, side by side.

Run by hand with ``scripts/bench proxy`` (never by the tests). One nginx serves
a 10 KB HTML page as the origin and, on a second port, proxies to it with
keep-alive (the yardstick); the gateway runs as ``consent-gateway serve`` with
one worker in front of the same origin. wrk measures each target in turn,
alternating for several rounds so that drift hits all alike; the median round
is reported, with the ratios gateway/nginx and gateway/direct and the
gateway's CPU time per request (from /proc, user + system).

Two gateway rows: a returning visitor (a valid session cookie, as a browser
sends it, so the cookie is re-signed at most once a minute) and a new visitor
(no cookie, so every response issues one: the worst case).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.session import SESSION_COOKIE
from gateway.signing import CookieSigner

PAGE_BYTES = 10 * 1024
CONNECTIONS = 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/html;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{origin};
        root {dir}/www;
    }}
    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_seconds: float | None = None


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"wrk printed a latency this script cannot read: {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, seconds: int, headers: list[str]) -> Result:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    for header in headers:
        command[1:1] = ["-H", header]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{output}")
    return Result(rps, p50, p99, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which("wrk") or not Path(nginx).exists():
        sys.exit("bench/proxy needs wrk and nginx: scripts/bench installs them")

    work = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    work.chmod(0o755)  # nginx workers drop root and must read the page
    (work / "www").mkdir()
    body = "<!doctype html><html><head><title>bench</title></head><body>"
    body += "<p>" + "x" * (PAGE_BYTES - len(body) - 30) + "</p></body></html>"
    (work / "www" / "index.html").write_text(body)
    origin, nginx_proxy, gateway_port, bare_port = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    )
    (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, origin=origin, proxy=nginx_proxy))
    key = os.urandom(24).hex()
    env = {
        **os.environ,
        "CG_UPSTREAM": f"http://127.0.0.1:{origin}",
        "CG_SECRET_KEY": key,
        "CG_DATA_DIR": str(work / "data"),
        "CG_GEOLOCATION": "off",
    }
    processes = [
        subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)]),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(gateway_port),
                "--log-level",
                "warning",
                "--env-file",
                "",
            ],
            env=env,
        ),
    ]
    processes.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bare_forwarder",
                f"http://127.0.0.1:{origin}",
                str(bare_port),
            ]
        )
    )
    gateway_pid = processes[1].pid
    try:
        for port in (origin, nginx_proxy, gateway_port, bare_port):
            wait_for(f"http://127.0.0.1:{port}/")
        cookie = CookieSigner([key], salt="cg.session").sign("benchvisitor")
        targets = {
            "direct to the origin": (origin, []),
            "nginx as a proxy": (nginx_proxy, []),
            "bare ASGI + aiohttp forwarder": (bare_port, []),
            "gateway, returning visitor": (gateway_port, [f"Cookie: {SESSION_COOKIE}={cookie}"]),
            "gateway, new visitor": (gateway_port, []),
        }
        runs: dict[str, list[Result]] = {name: [] for name in targets}
        for port, headers in targets.values():  # warm-up, not counted
            wrk(f"http://127.0.0.1:{port}/", 1, headers)
        for round_number in range(args.rounds):
            for name, (port, headers) in targets.items():
                before = cpu_seconds(gateway_pid)
                result = wrk(f"http://127.0.0.1:{port}/", args.seconds, headers)
                if port == gateway_port:
                    result.cpu_seconds = cpu_seconds(gateway_pid) - before
                runs[name].append(result)
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
        report(runs, args)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def median_run(results: list[Result]) -> Result:
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[len(ordered) // 2]


def report(runs: dict[str, list[Result]], args: argparse.Namespace) -> None:
    print(
        f"\n10 KB HTML page, {CONNECTIONS} connections, one worker each, "
        f"{args.rounds} alternating rounds of {args.seconds}s (median round)\n"
    )
    print(f"{'target':30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
    medians = {name: median_run(results) for name, results in runs.items()}
    for name, result in medians.items():
        cpu = (
            f"{result.cpu_seconds / result.requests * 1e6:11.0f}"
            if result.cpu_seconds is not None
            else f"{'':>11}"
        )
        print(
            f"{name:30} {result.requests_per_second:9.0f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {cpu}"
        )
    nginx = statistics.median(r.requests_per_second for r in runs["nginx as a proxy"])
    direct = statistics.median(r.requests_per_second for r in runs["direct to the origin"])
    bare = statistics.median(r.requests_per_second for r in runs["bare ASGI + aiohttp forwarder"])
    for name in ("gateway, returning visitor", "gateway, new visitor"):
        gateway = medians[name].requests_per_second
        print(
            f"\n{name}: gateway/nginx = {gateway / nginx:.3f}   "
            f"gateway/direct = {gateway / direct:.3f}   "
            f"gateway/bare forwarder = {gateway / bare:.3f}"
        )


if __name__ == "__main__":
    main()
