"""Analytics throughput: beacon events/s, page views/s with recording on vs off, writer rows/s.

Run by hand with ``scripts/bench analytics`` (never by the tests). In one run:

1. the writer alone: events already encoded, put and flushed into the
   embedded ClickHouse in batches of ``CG_FLUSH_BATCH_SIZE`` (rows/s);
2. one gateway (``consent-gateway serve``, one worker, its own embedded
   ClickHouse) in front of an nginx origin serving a 10 KB page, measured with
   wrk for two real visitors: one who accepted everything and one who rejected
   everything, each choice made through the consent API (``GET`` then ``POST
   /_consent/state`` with the CSRF token), exactly as the banner makes it.
   Page views and ``POST /_consent/collect`` (one event per request) are
   measured for both; rounds alternate, every other one backwards, so drift
   hits every row alike, and the median round is reported with the gateway's
   CPU time per request (/proc), then what recording added round by round
   (each "on" run against the same round's "off" run: median and spread).
   Each run's CPU is counted until :data:`SETTLE_SECONDS` after wrk stops, so
   the writer's last insert and the engine's merges of the run's rows are
   charged to the run that caused them, not to whichever target runs next;
   "loop" is the event loop's (main thread's) share, the rest is the writer
   and the embedded ClickHouse engine's threads.

With ``--visitors N`` each side is N visitors instead of one, each with its
own consent (made through the API as above), session and one of a few common
browsers; a wrk script takes them in turn, ``--pages`` page views each (the
second and later with a same-origin ``Referer``, as a browser sends), so the
per-visitor caches and the sessions view see many visitors, not one.

"On" and "off" run the same code: the same observer and beacon, the same
ingest steps; the rejecting visitor's events stop at the ``consent`` step.
Visitors are made anew whenever their cookies could otherwise reach the age at
which the gateway re-issues the session cookie (:data:`~gateway.session.REFRESH_AFTER`)
during a round: a browser stores the new cookie, so a real visitor pays that
HMAC and ``Set-Cookie`` once a minute; wrk would keep sending the old one and
pay it on every request, on "on" and "off" alike, which made recording's share
look smaller than it is.
At the end the rows in ClickHouse are counted against the 2xx answers wrk saw
for the accepting visitor, so the report also shows that nothing was lost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import (
    Gateway,
    Result,
    cpu_seconds,
    gateway_process,
    html_page,
    loop_cpu_seconds,
    median_cpu,
    median_run,
    nginx_origin,
    spread,
    wrk,
)
from gateway.session import REFRESH_AFTER

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
BROWSERS = (  # --visitors: visitor n uses BROWSERS[n % len(BROWSERS)]
    FIREFOX,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
)
PAGE_HEADERS = [
    "Accept: text/html,application/xhtml+xml",
    "Sec-Fetch-Dest: document",
    f"User-Agent: {FIREFOX}",
]
BEACON = json.dumps({"events": [{"type": "engagement", "path": "/", "engagement_ms": 4200}]})
SETTLE_SECONDS = 6.0  # past the writer's 5 s flush interval, and the merges it starts


class Consented:
    """An accepting visitor's consent, as the proxy's request context gives it."""

    consent_id = "bench0000bench0000bench0000bench"

    def allows(self, category: str) -> bool:
        return True


def visitor_cookie(gateway: Gateway, action: str, user_agent: str = FIREFOX) -> str:
    """The ``Cookie`` header of a visitor who made ``action`` through the consent API."""
    with httpx.Client(base_url=gateway.url, headers={"User-Agent": user_agent}) as client:
        state = client.get("/_consent/state").json()
        answer = client.post(
            "/_consent/state",
            json={"action": action},
            headers={"X-CSRF-Token": state["csrf"], "Sec-Fetch-Site": "same-origin"},
        )
        answer.raise_for_status()
        return "Cookie: " + "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def make_visitors(gateway: Gateway, action: str, visitors: int) -> list[tuple[str, str]]:
    """``(Cookie header value, User-Agent)`` of ``visitors`` visitors who each made
    ``action`` through the consent API, with the browsers in turn."""
    made = []
    for number in range(visitors):
        agent = BROWSERS[number % len(BROWSERS)]
        made.append((visitor_cookie(gateway, action, agent).removeprefix("Cookie: "), agent))
    return made


def visitors_script(
    path: Path, origin: str, visitors: list[tuple[str, str]], pages: int, body: str | None
) -> Path:
    """A wrk script that takes ``visitors`` in turn, ``pages`` requests each: page views
    (the second and later with a same-origin ``Referer``), or beacon posts of ``body``."""
    rows = [f"{{{json.dumps(cookie)}, {json.dumps(agent)}}}" for cookie, agent in visitors]
    lines = [
        "local visitors = {" + ",\n".join(rows) + "}",
        f"local pages = {pages}",
        f"local origin = {json.dumps(origin)}",
        f"local body = {json.dumps(body) if body is not None else 'nil'}",
        "local n = 0",
        "request = function()",
        "  local visitor = visitors[math.floor(n / pages) % #visitors + 1]",
        "  local page = n % pages",
        "  n = n + 1",
        '  local headers = {["Cookie"] = visitor[1], ["User-Agent"] = visitor[2]}',
        "  if body then",
        '    headers["Content-Type"] = "application/json"',
        '    return wrk.format("POST", "/_consent/collect", headers, body)',
        "  end",
        '  headers["Accept"] = "text/html,application/xhtml+xml"',
        '  headers["Sec-Fetch-Dest"] = "document"',
        "  if page > 0 then",
        '    headers["Referer"] = origin .. "/?page=" .. (page - 1)',
        "  end",
        '  return wrk.format("GET", "/?page=" .. page, headers)',
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


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
        pipeline = default_pipeline(lines.extend, None)
        now = time.time()
        for n in range(events):
            pipeline.process(
                Event(
                    kind=Kind.PAGEVIEW,
                    time=now + n / 1000,
                    site="bench",
                    session=f"s{n % 5000}",
                    consent=Consented(),
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
    parser.add_argument(
        "--visitors", type=int, default=1, help="visitors on each side (default: one)"
    )
    parser.add_argument(
        "--pages", type=int, default=4, help="page views in a row per visitor, with --visitors"
    )
    parser.add_argument("--writer-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer_only:
        print(f"writer alone: {bench_writer(args.events):,.0f} rows/s into embedded ClickHouse")
        return
    # The embedded engine opens one data folder per process, and this process
    # reads the gateway's at the end: the writer runs in a process of its own.
    command = [sys.executable, "-m", "bench.analytics", "--writer-only"]
    subprocess.run([*command, "--events", str(args.events)], check=True)
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="cg-bench-analytics-") as folder:
        work = Path(folder)
        with nginx_origin(work, html_page(10 * 1024)) as origin:
            with gateway_process(origin.url, work / "data") as gateway:
                runs, loop, accepted = measure(gateway, work, args)
        stored = count_rows(work / "data")
    report(runs, loop)
    # wrk counts the answers it saw before each run's end; a run's last in-flight
    # requests (at most one per connection) may be recorded but not counted.
    print(f"\nanswered 2xx for the consenting visitor (wrk): {accepted:,} events")
    print(f"rows in ClickHouse after the gateway stopped:   {stored:,}")


def measure(
    gateway: Gateway, work: Path, args: argparse.Namespace
) -> tuple[dict[str, list[Result]], dict[str, list[float]], int]:
    lua = work / "beacon.lua"
    lua.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(BEACON)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    targets = make_targets(gateway, work, args, lua)
    made_at = time.monotonic()
    runs: dict[str, list[Result]] = {name: [] for name in targets}
    loop: dict[str, list[float]] = {name: [] for name in targets}  # us per request
    accepted = 0
    for round_number in range(args.rounds + 1):
        if aged(made_at, len(targets) * (args.seconds + SETTLE_SECONDS)):
            targets = make_targets(gateway, work, args, lua)
            made_at = time.monotonic()
        # Every other round runs the targets backwards, so that a slow spell of the
        # machine falls on "on" and "off" alike within the rounds' pairs.
        order = list(targets.items())
        for name, (url, headers, script) in order if round_number % 2 else order[::-1]:
            before, loop_before = cpu_seconds(gateway.pid), loop_cpu_seconds(gateway.pid)
            result = wrk(url, 1 if round_number == 0 else args.seconds, headers, script)
            time.sleep(SETTLE_SECONDS)
            result.cpu_seconds = cpu_seconds(gateway.pid) - before
            if name.endswith("recording on"):
                accepted += result.requests  # wrk counts completed 2xx answers
            if round_number:  # round 0 warms up
                runs[name].append(result)
                loop_us = (loop_cpu_seconds(gateway.pid) - loop_before) / result.requests
                loop[name].append(loop_us * 1e6)
        print(f"round {round_number}/{args.rounds} done", file=sys.stderr)
    return runs, loop, accepted


def make_targets(
    gateway: Gateway, work: Path, args: argparse.Namespace, beacon: Path
) -> dict[str, tuple[str, list[str], Path | None]]:
    """Each target's URL, headers and wrk script, for new visitors of either choice."""
    actions = {"on": "accept_all", "off": "reject_all"}
    targets: dict[str, tuple[str, list[str], Path | None]] = {}
    for mode in ("off", "on"):
        if args.visitors > 1:
            visitors = make_visitors(gateway, actions[mode], args.visitors)
            for kind, body in (("page views", None), ("beacon", BEACON)):
                made = work / f"{kind.replace(' ', '-')}-{mode}.lua"
                visitors_script(made, gateway.url, visitors, args.pages, body)
                targets[f"{kind}, recording {mode}"] = (gateway.url + "/", [], made)
            continue
        headers = [*PAGE_HEADERS, visitor_cookie(gateway, actions[mode])]
        targets[f"page views, recording {mode}"] = (gateway.url + "/", headers, None)
        targets[f"beacon, recording {mode}"] = (gateway.url + "/_consent/collect", headers, beacon)
    return targets


def aged(made_at: float, next_round_seconds: float) -> bool:
    """Whether visitors made at ``made_at`` (monotonic) could reach the session
    cookie's re-issue age before the next round, ``next_round_seconds`` long, ends."""
    return time.monotonic() - made_at + next_round_seconds >= REFRESH_AFTER


def count_rows(data_dir: Path) -> int:
    """Rows in ``events`` once the gateway has stopped (its shutdown flushes the writer)."""
    from gateway.storage import Storage, embedded_dsn

    client = Storage(embedded_dsn(str(data_dir))).connect()
    rows: int = client.query("SELECT count() FROM events").result_rows[0][0]
    return rows


def report(runs: dict[str, list[Result]], loop: dict[str, list[float]]) -> None:
    print(
        f"\n{'target':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}"
        f" {'loop us/req':>12}"
    )
    for name, results in runs.items():
        result = median_run(results)
        print(
            f"{name:32} {result.requests_per_second:9.0f} {result.p50_ms:8.2f} "
            f"{result.p99_ms:8.2f} {result.cpu_us_per_request or 0:11.0f}"
            f" {statistics.median(loop[name]):12.0f}"
        )
    for kind in ("page views", "beacon"):
        on = median_cpu(runs[f"{kind}, recording on"])
        off = median_cpu(runs[f"{kind}, recording off"])
        loop_on = statistics.median(loop[f"{kind}, recording on"])
        loop_off = statistics.median(loop[f"{kind}, recording off"])
        print(
            f"{kind}: recording adds {100 * (on / off - 1):+.1f}% CPU per request "
            f"({on - off:+.0f} us: {loop_on - loop_off:+.0f} on the event loop, "
            f"{(on - off) - (loop_on - loop_off):+.0f} in the writer and the engine)"
        )
        print(f"  {paired_spread(runs[f'{kind}, recording on'], runs[f'{kind}, recording off'])}")


def paired_spread(on: list[Result], off: list[Result]) -> str:
    """What recording adds in each round, "on" against the "off" run of the same round:
    the median and the middle half. On a shared two-core machine the same code's CPU
    per request moves by 10-20% from one run to the next, so a single figure says
    little without the spread of the rounds behind it."""
    added = [
        100 * (a.cpu_us_per_request or 0) / (b.cpu_us_per_request or 1) - 100
        for a, b in zip(on, off, strict=True)
    ]
    return f"{len(added)} rounds, paired: {spread(added, '%')}"


if __name__ == "__main__":
    main()
