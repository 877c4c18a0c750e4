"""Analytics throughput: beacon events/s, page views/s with recording on vs off, writer rows/s.

Run by hand with ``scripts/bench analytics`` (never by the tests). In one run:

1. the writer alone: events already encoded, put and flushed into the
   embedded ClickHouse in batches of ``CG_FLUSH_BATCH_SIZE`` (rows/s);
2. the gateway (one uvicorn worker, its own embedded ClickHouse) in front of
   an nginx origin serving a 10 KB page, measured with wrk: page views with
   recording on and off, and ``POST /_consent/collect`` with one event per
   request, on and off; rounds alternate so drift hits every row alike, the
   median round is reported with the gateway's CPU time per request (/proc).

"On" and "off" run the same code path: the same observer and beacon, the same
ingest steps; "off" is a visitor without analytics consent, dropped at the
``consent`` step. Until the consent feature sets consent from its cookie,
the "on" gateway is the same app with a shim (this file only) that marks every
request as consented.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.proxy import Result, cpu_seconds, free_port, wait_for, wrk
from gateway.session import SESSION_COOKIE
from gateway.signing import CookieSigner

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PAGE_HEADERS = [
    "Accept: text/html,application/xhtml+xml",
    "Sec-Fetch-Dest: document",
    f"User-Agent: {FIREFOX}",
]
BEACON = json.dumps({"events": [{"type": "engagement", "path": "/", "engagement_ms": 4200}]})
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type text/html;
    server {{ listen 127.0.0.1:{origin}; root {dir}/www; }}
}}
"""


class _Consented:
    consent_id = "bench0000bench0000bench0000bench"

    def allows(self, category: str) -> bool:
        return True


def serve(mode: str, port: int) -> None:
    """The gateway under uvicorn; ``mode`` "on" marks every visitor as consented."""
    from gateway.app import create_app
    from gateway.asgi import ASGIApp, Receive, Scope, Send
    from gateway.server import Listener, run
    from gateway.settings import load_settings

    app = create_app(load_settings(env_file=None))
    if mode == "on":
        context_middleware: Any = app.stack
        inner: ASGIApp = context_middleware.app

        async def consenting(scope: Scope, receive: Receive, send: Send) -> None:
            if "gateway" in scope:
                scope["gateway"].consent = _Consented()
            await inner(scope, receive, send)

        context_middleware.app = consenting
    run([Listener(app, "127.0.0.1", port, f"gateway-{mode}")], "warning")


def bench_writer(events: int, batch_size: int = 5000) -> float:
    """Rows per second of the writer alone into a fresh embedded ClickHouse."""
    from gateway.analytics.events import Event, Kind
    from gateway.analytics.spool import Spool
    from gateway.analytics.steps import default_pipeline
    from gateway.analytics.writer import EventWriter
    from gateway.storage import Storage
    from gateway.storage.migrator import migrate

    work = Path(tempfile.mkdtemp(prefix="cg-bench-writer-"))
    try:
        storage = Storage(f"chdb://{work}/clickhouse")
        migrate(storage)
        lines: list[bytes] = []
        pipeline = default_pipeline(lines.append, None)
        now = time.time()
        for n in range(events):
            pipeline.process(
                Event(
                    kind=Kind.PAGEVIEW,
                    time=now + n / 1000,
                    site="bench",
                    session=f"s{n % 5000}",
                    consent=_Consented(),
                    ip=f"198.51.{n % 250}.{n % 200}",
                    user_agent=FIREFOX,
                    host="bench.test",
                    path=f"/page/{n % 300}",
                    referrer="https://search.example/q",
                )
            )
        # The queue may hold the whole run: this measures inserting, not spooling.
        writer = EventWriter(
            storage, Spool(work / "spool"), batch_size=batch_size, max_queue=events
        )
        writer.flush()  # connect before timing
        writer.start()
        start = time.perf_counter()
        for line in lines:
            writer.put(line)
        writer.close()  # returns once everything is inserted
        elapsed = time.perf_counter() - start
        assert writer.written == events and writer.spooled == 0
        return events / elapsed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--events", type=int, default=300_000, help="events for the writer")
    parser.add_argument("--serve", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which("wrk") or not Path(nginx).exists():
        sys.exit("bench/analytics needs wrk and nginx: scripts/bench installs them")

    print(f"writer alone: {bench_writer(args.events):,.0f} rows/s into embedded ClickHouse")
    sys.stdout.flush()

    work = Path(tempfile.mkdtemp(prefix="cg-bench-analytics-"))
    (work / "www").mkdir()
    (work / "www" / "index.html").write_text(
        "<!doctype html><title>bench</title>" + "<p>analytics bench</p>" * 450
    )
    origin = free_port()
    (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, origin=origin))
    key = os.urandom(24).hex()
    ports = {"on": free_port(), "off": free_port()}
    processes = [subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)])]
    pids: dict[str, int] = {}
    for mode, port in ports.items():
        env = {
            **os.environ,
            "CG_UPSTREAM": f"http://127.0.0.1:{origin}",
            "CG_SECRET_KEY": key,
            "CG_DATA_DIR": str(work / f"data-{mode}"),
            "CG_GEOLOCATION": "off",
        }
        command = [sys.executable, "-m", "bench.analytics", "--serve", mode, "--port", str(port)]
        processes.append(subprocess.Popen(command, env=env))
        pids[mode] = processes[-1].pid
    lua = work / "beacon.lua"
    lua.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(BEACON)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    try:
        wait_for(f"http://127.0.0.1:{origin}/")
        for port in ports.values():
            wait_for(f"http://127.0.0.1:{port}/")
        cookie = CookieSigner([key], salt="cg.session").sign("benchvisitor")
        headers = [*PAGE_HEADERS, f"Cookie: {SESSION_COOKIE}={cookie}"]
        targets: dict[str, tuple[str, list[str], str]] = {}
        for mode in ("off", "on"):
            base = f"http://127.0.0.1:{ports[mode]}"
            targets[f"page views, recording {mode}"] = (f"{base}/", headers, mode)
            targets[f"beacon, recording {mode}"] = (f"{base}/_consent/collect", headers, mode)
        runs: dict[str, list[Result]] = {name: [] for name in targets}
        for round_number in range(args.rounds + 1):
            for name, (url, extra, mode) in targets.items():
                script = ["-s", str(lua)] if "beacon" in name else []
                before = cpu_seconds(pids[mode])
                result = wrk_with(url, 1 if round_number == 0 else args.seconds, extra, script)
                result.cpu_seconds = cpu_seconds(pids[mode]) - before
                if round_number:  # round 0 warms up
                    runs[name].append(result)
        report(runs)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def wrk_with(url: str, seconds: int, headers: list[str], script: list[str]) -> Result:
    """bench.proxy's wrk run, with a Lua script for the beacon's POST body."""
    if not script:
        return wrk(url, seconds, headers)
    return _wrk_script(url, seconds, headers, script)


def _wrk_script(url: str, seconds: int, headers: list[str], script: list[str]) -> Result:
    import re

    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", *script, url]
    for header in headers:
        command[1:1] = ["-H", header]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise RuntimeError(f"{url}: error responses\n{output}")
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)  # type: ignore[union-attr]
    from bench.proxy import to_ms

    return Result(rps, to_ms(p50), to_ms(p99), total)


def report(runs: dict[str, list[Result]]) -> None:
    print(f"{'target':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}")
    medians: dict[str, Result] = {}
    for name, results in runs.items():
        result = sorted(results, key=lambda r: r.requests_per_second)[len(results) // 2]
        medians[name] = result
        cpu = (result.cpu_seconds or 0) / result.requests * 1e6
        print(
            f"{name:32} {result.requests_per_second:9.0f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {cpu:11.0f}"
        )

    def per_request(name: str) -> float:
        values = [(r.cpu_seconds or 0) / r.requests for r in runs[name]]
        return statistics.median(values)

    for kind in ("page views", "beacon"):
        on, off = per_request(f"{kind}, recording on"), per_request(f"{kind}, recording off")
        print(f"{kind}: recording adds {100 * (on / off - 1):+.1f}% CPU per request")


if __name__ == "__main__":
    main()
