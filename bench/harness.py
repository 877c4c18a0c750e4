"""What every benchmark shares: ports, processes, nginx, the gateway, wrk and /proc.

The benchmarks are run by hand (``scripts/bench NAME``), never by the tests.
Each one starts real processes (nginx as the origin and yardstick, the gateway
as ``consent-gateway serve``), drives them with wrk, and reads the gateway's
CPU time from ``/proc`` so that a figure per request survives a busy machine
better than requests per second do.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.asgi import RawHeaders
from gateway.proxy.pool import ConnectionPool
from gateway.proxy.wire import UpstreamConnection

CONNECTIONS = 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_NGINX_CONF = """
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
    """One wrk run; ``cpu_seconds`` is the measured process's CPU time during it."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_seconds: float | None = None

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 30) -> None:
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
    """User + system CPU time of ``pid`` so far, from /proc."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def loop_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``'s main thread (the event loop) so far."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/task/{pid}/stat"))


def _stat_cpu_seconds(stat: Path) -> float:
    """utime + stime of a /proc ``stat`` file (a process's or one thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def fetch(
    pool: ConnectionPool, method: str, head: bytes, body: bytes | None = None
) -> tuple[int, RawHeaders, bytes]:
    """One request over the gateway's own connection pool, its answer read whole (status,
    headers, body): the benchmarks' light HTTP client (the pool forwarder, the soak's
    visitors). The connection goes back to the pool before this returns."""

    async def send_body(connection: UpstreamConnection) -> None:
        connection.write(body or b"")
        await connection.drain()

    connection = await pool.request(method, head, send_body if body else None)
    try:
        parts = []
        while chunk := await connection.read():
            parts.append(chunk)
    finally:
        pool.release(connection)
    return connection.status, connection.headers, b"".join(parts)


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"wrk printed a latency this script cannot read: {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _found(pattern: str, output: str) -> str:
    match = re.search(pattern, output, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed something this script cannot read:\n{output}")
    return match.group(1)


def wrk_command(
    url: str,
    seconds: int,
    headers: list[str] | None = None,
    script: Path | None = None,
) -> list[str]:
    """The command line of one wrk run against ``url``."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for header in headers or []:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def wrk_result(url: str, output: str) -> Result:
    """What a wrk run against ``url`` printed; any non-2xx/3xx answer stops the benchmark."""
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{output}")
    return Result(
        float(_found(r"Requests/sec:\s+([\d.]+)", output)),
        to_ms(_found(r"^\s+50%\s+(\S+)", output)),
        to_ms(_found(r"^\s+99%\s+(\S+)", output)),
        int(_found(r"(\d+) requests in", output)),
    )


def wrk(
    url: str,
    seconds: int,
    headers: list[str] | None = None,
    script: Path | None = None,
) -> Result:
    """One wrk run against ``url``; any non-2xx/3xx answer stops the benchmark."""
    command = wrk_command(url, seconds, headers, script)
    return wrk_result(
        url, subprocess.run(command, capture_output=True, text=True, check=True).stdout
    )


def median_run(results: list[Result]) -> Result:
    """The run with the median rate: one real run, not a blend of several."""
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[len(ordered) // 2]


def median_cpu(results: list[Result]) -> float:
    """The median CPU microseconds per request over ``results``."""
    return statistics.median(r.cpu_us_per_request or 0.0 for r in results)


def spread(values: list[float], unit: str) -> str:
    """The median, middle half and extremes of ``values`` (each in ``unit``), or the
    values themselves when there are too few for quartiles to mean anything."""
    if len(values) < 4:
        return ", ".join(f"{value:+.1f}{unit}" for value in values)
    low, middle, high = statistics.quantiles(values, n=4)
    return (
        f"median {middle:+.1f}{unit}, middle half {low:+.1f} to {high:+.1f}{unit}, "
        f"all {min(values):+.1f} to {max(values):+.1f}{unit}"
    )


def require_tools(name: str) -> str:
    """The nginx binary; exits with the fix when wrk or nginx is missing."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which("wrk") or not Path(nginx).exists():
        sys.exit(f"bench/{name} needs wrk and nginx: scripts/bench installs them")
    return nginx


@dataclass(frozen=True)
class Origin:
    """nginx serving ``index.html`` on ``port`` and proxying to it on ``proxy_port``."""

    port: int
    proxy_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def nginx_origin(work: Path, page: str) -> Iterator[Origin]:
    """Start nginx under ``work`` serving ``page``; stop it on exit."""
    nginx = require_tools("nginx")
    work.chmod(0o755)  # nginx workers drop root and must read the page
    (work / "www").mkdir(exist_ok=True)
    (work / "www" / "index.html").write_text(page)
    origin = Origin(free_port(), free_port())
    conf = work / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=work, origin=origin.port, proxy=origin.proxy_port))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(work)])
    try:
        wait_for(origin.url + "/")
        yield origin
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def html_page(size: int) -> str:
    """An HTML page of ``size`` bytes, with a head the banner could be injected into."""
    body = "<!doctype html><html><head><title>bench</title></head><body>"
    return body + "<p>" + "x" * (size - len(body) - 30) + "</p></body></html>"


@dataclass(frozen=True)
class Gateway:
    """A running ``consent-gateway serve``: its URL, process id and secret key."""

    url: str
    pid: int
    key: str


@contextmanager
def gateway_process(
    upstream: str, data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Gateway]:
    """``consent-gateway serve`` in front of ``upstream``, one worker, until exit."""
    port, admin_port = free_port(), free_port()
    key = os.urandom(24).hex()
    env = {
        **os.environ,
        "CG_UPSTREAM": upstream,
        "CG_SECRET_KEY": key,
        "CG_DATA_DIR": str(data_dir),
        "CG_GEOLOCATION": "off",
        # Every benchmark request comes from one address: per-network limits would
        # measure the limiter, not the gateway.
        "CG_RATE_LIMIT_BEACON": "off",
        "CG_RATE_LIMIT_CONSENT": "off",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--admin-port", str(admin_port)]
    command += ["--log-level", "warning", "--env-file", ""]
    process = subprocess.Popen(command, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/")
        yield Gateway(url, process.pid, key)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
