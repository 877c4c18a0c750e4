"""Soak: a long run at 80% of the measured maximum rate, mixing what real visitors do.

Run by hand with ``scripts/bench soak`` (10 minutes) or ``scripts/bench soak
--minutes 1`` for a quick check; never by the tests. It starts the demo site
and one ``consent-gateway serve`` (one worker, its own embedded ClickHouse) as
real processes, then drives them from this process with a pool of visitors,
each with its own cookies:

- page views (70%): ``GET`` of a demo page as a browser asks for a document;
- beacons (25%): ``POST /_consent/collect`` with three custom events;
- consent changes (5%): ``POST /_consent/state`` with the visitor's CSRF
  token, accepting or rejecting everything in turn.

The maximum rate is measured in two steps, after ``--warmup-seconds`` of the
same load (on empty tables, before the engine's first merges, the gateway is
faster than it stays; its event loop's CPU per request kept rising for the
first two to three minutes):

1. a closed-loop probe (``--connections`` requests always in flight, over
   ``--probe-seconds``) gives the peak throughput of this mix;
2. from half of that peak, open-loop steps of ``--step-seconds`` each raise the
   rate by 5% of the peak until the gateway no longer keeps up (a request had to
   be refused because :data:`BACKLOG_SECONDS` of them were waiting, or more than
   :data:`LATE_SECONDS` of the step's requests were still unanswered at its end);
   the last rate it kept up with is then held for ``--confirm-seconds``, and
   lowered by 5% of the peak until a hold passes: that rate is the maximum. A
   short step passes now and then on luck alone (the first run of this search,
   with 15-second steps only, found 90% of the peak one time and 60% the next).

Why both: the soak sends each request at its time, as visitors do, and an event
loop that sleeps between requests pays more CPU for each one than a loop that
never sleeps, as in the closed-loop probe (on this 2-core VM a pure-Python
function took 148 µs back to back, but 190 to 245 µs, and 215 to 280 µs of CPU
with the wake-up, when the thread slept 0.1 to 3 ms between calls: a sleeping
virtual CPU comes back to cold caches). At 80% of the closed-loop peak the
loop was 88 to 90% busy and fell behind for seconds at a time; the sustained
maximum is what the soak's kind of load can actually get, and both figures are
printed.

Then an open-loop run sends at ``--share`` (80%) of the sustained maximum for
``--minutes``, each request at its scheduled time, latency counted from that
time (so a stall is not hidden by the client waiting). Every ``--window``
seconds it prints requests, errors, p50/p99, the gateway's RSS and its CPU
(share of one core). At the end
the gateway is stopped (SIGTERM: the writer flushes), the rows in ClickHouse
are counted and compared with the events the gateway accepted: page views the
visitor made while consented, beacon events answered 202.

The rate limits are switched off (bench/harness.py): all visitors share one address.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    cpu_seconds,
    fetch,
    free_port,
    gateway_process,
    loop_cpu_seconds,
    wait_for,
)
from gateway.asgi import RawHeaders
from gateway.proxy.pool import ConnectionPool
from gateway.proxy.request import encode_head

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PAGES = ["/", "/courses", "/courses/safeguarding", "/courses/first-aid", "/about", "/news"]
EVENTS_PER_BEACON = 3
MIX = (("page", 70), ("beacon", 25), ("consent", 5))
MAX_IN_FLIGHT = 1000
BACKLOG_SECONDS = 1.0
"""A request is refused (an error of the run) when this many seconds of requests, or
:data:`MAX_IN_FLIGHT` if more, are still waiting for their answers. In seconds, not a
count: 1,000 requests were 0.2 s at 5,000 req/s, and the client itself, on the same two
cores, falls that far behind its schedule now and then (its lag is printed)."""
LATE_SECONDS = 0.1
"""A step of the search keeps up when at most this many seconds of its requests are
still unanswered when it ends (and none was refused)."""
RAMP_START, RAMP_STEP = 0.5, 0.05  # shares of the closed-loop peak


@dataclass
class Visitor:
    """One browser: its cookies, CSRF token and whether it currently consents."""

    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    consented: bool = False
    busy: bool = False

    def header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def remember(self, response: Response) -> None:
        for key, raw in response.headers:
            if key.lower() != b"set-cookie":
                continue
            value = raw.decode("latin-1")
            pair = value.split(";", 1)[0]
            name, _, cookie = pair.partition("=")
            if "max-age=0" in value.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie


@dataclass
class Response:
    status: int
    headers: RawHeaders
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpStatusError(Exception):
    """An answer other than 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Client:
    """HTTP/1.1 to the gateway over the gateway's own upstream pool (gateway/proxy/pool.py).

    This client shares the two cores with the gateway and the demo site. Built on
    aiohttp it took as much CPU per request as the gateway, fell up to a quarter of a
    second behind its own schedule, and those delays showed up as the gateway's
    latency; the pool costs about a third of aiohttp's CPU per request. At most
    ``connections`` requests are on the wire at once; the rest wait here, as they
    waited for a connection in aiohttp's pool.
    """

    def __init__(self, url: str, connections: int) -> None:
        self.host = url.split("://", 1)[1]
        self.pool = ConnectionPool(url, connect_timeout=10, read_timeout=30)
        self.slots = asyncio.Semaphore(connections)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> Response:
        fields = [("Host", self.host), *headers.items()]
        if body is not None:
            fields.append(("Content-Length", str(len(body))))

        async with self.slots:
            status, answer_headers, content = await fetch(
                self.pool, method, encode_head(method, path, fields), body
            )
        if not 200 <= status < 300:
            raise HttpStatusError(status)
        return Response(status, answer_headers, content)

    def close(self) -> None:
        self.pool.close()


@dataclass
class Window:
    """What happened in one reporting window."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    # How late this client started its most belated request: when it is large, the
    # client (on the same machine) fell behind, and latencies include its own delay.
    client_lag: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Load:
    """The visitors and the counts of what the gateway accepted."""

    def __init__(self, client: Client, visitors: int) -> None:
        self.client = client
        self.visitors = [Visitor() for _ in range(visitors)]
        self.pageviews_sent = 0
        self.beacon_events_sent = 0
        self.consent_changes = 0
        # Events whose request failed on the client's side (a timeout, a cut connection):
        # the gateway may still have accepted them, so they bound the comparison.
        self.uncertain_events = 0
        self.backlog_skipped = 0
        self.window = Window()
        self.all_errors: dict[str, int] = {}
        self._actions = [name for name, weight in MIX for _ in range(weight)]

    async def consent(self, visitor: Visitor, accept: bool) -> None:
        headers = {"cookie": visitor.header(), "sec-fetch-site": "same-origin"}
        if not visitor.csrf:
            got = await self.client.request("GET", "/_consent/state", headers)
            visitor.remember(got)
            visitor.csrf = got.json()["csrf"]
            headers["cookie"] = visitor.header()
        body = json.dumps({"action": "accept_all" if accept else "reject_all"}).encode()
        headers["x-csrf-token"] = visitor.csrf
        headers["content-type"] = "application/json"
        response = await self.client.request("POST", "/_consent/state", headers, body)
        visitor.remember(response)
        visitor.consented = response.json()["categories"]["analytics"]
        self.consent_changes += 1

    async def one(self, action: str, visitor: Visitor) -> None:
        if action == "consent":
            await self.consent(visitor, accept=not visitor.consented)
            return
        headers = {"cookie": visitor.header(), "user-agent": FIREFOX}
        if action == "page":
            headers["accept"] = "text/html,application/xhtml+xml"
            response = await self.client.request("GET", random.choice(PAGES), headers)
            visitor.remember(response)
            if visitor.consented:
                self.pageviews_sent += 1
            return
        events = [
            {"type": "custom", "path": "/courses", "name": "soak", "props": {"n": n}}
            for n in range(EVENTS_PER_BEACON)
        ]
        headers["content-type"] = "application/json"
        body = json.dumps({"events": events}).encode()
        response = await self.client.request("POST", "/_consent/collect", headers, body)
        expected = 202 if visitor.consented else 204
        if response.status != expected:
            raise RuntimeError(f"beacon answered {response.status}, not {expected}")
        if response.status == 202:
            self.beacon_events_sent += EVENTS_PER_BEACON

    async def timed(self, scheduled: float) -> None:
        """One request of the mix, its latency counted from when it was due."""
        idle = [v for v in random.sample(self.visitors, 8) if not v.busy]
        visitor = idle[0] if idle else Visitor()  # all busy: a new visitor arrives
        visitor.busy = True
        window = self.window
        action = random.choice(self._actions)
        try:
            await self.one(action, visitor)
        except Exception as error:  # every failure is counted and reported, none hidden
            if visitor.consented and not isinstance(error, HttpStatusError):
                self.uncertain_events += {"page": 1, "beacon": EVENTS_PER_BEACON}.get(action, 0)
            kind = type(error).__name__
            if isinstance(error, HttpStatusError):
                kind = str(error)
            window.error(kind)
            self.all_errors[kind] = self.all_errors.get(kind, 0) + 1
        else:
            window.latencies.append(time.monotonic() - scheduled)
        finally:
            visitor.busy = False


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def probe(load: Load, seconds: float, connections: int) -> float:
    """Closed loop: ``connections`` requests always in flight; completed requests/s."""
    stop = time.monotonic() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await load.timed(time.monotonic())
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.monotonic() - started)


async def soak(
    load: Load, rate: float, minutes: float, window_s: float, pid: int, *, search: bool = False
) -> tuple[list[str], int]:
    """Open loop at ``rate`` requests/s; one report line per window, and how many
    requests were unanswered when the last one was sent.

    In a step of the ``search`` for the maximum the lines are not printed, and a
    refused request ends the search rather than counting as an error of the run.
    """
    lines = []
    start = time.monotonic()
    end = start + minutes * 60
    next_report = start + window_s
    marks = cpu_marks(pid)
    tasks: set[asyncio.Task[None]] = set()
    backlog = max(MAX_IN_FLIGHT, int(rate * BACKLOG_SECONDS))
    for number in itertools.count():
        scheduled = start + number / rate
        if scheduled >= end:
            break
        # Always yield, even when behind: the requests already started must get to run.
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        load.window.client_lag = max(load.window.client_lag, time.monotonic() - scheduled)
        if len(tasks) >= backlog:
            # The gateway is not keeping up: an error of the run, not a client meltdown.
            load.backlog_skipped += 1
            if not search:
                load.window.error("not sent: backlog")
                errors = load.all_errors
                errors["not sent: backlog"] = errors.get("not sent: backlog", 0) + 1
            continue
        task = asyncio.create_task(load.timed(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if time.monotonic() >= next_report:
            window, load.window = load.window, Window()
            elapsed = next_report - start
            busy, marks = cpu_share(pid, marks, window_s)
            lines.append(report_line(elapsed, window, window_s, rss_mb(pid), busy))
            if not search:
                print(lines[-1], flush=True)
            next_report += window_s
    behind = len(tasks)
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    last = elapsed - (next_report - window_s - start)
    last = max(last, 0.001)
    busy, _ = cpu_share(pid, marks, last)
    lines.append(report_line(elapsed, load.window, last, rss_mb(pid), busy))
    if not search:
        print(lines[-1], flush=True)
    return lines, behind


async def sustained_maximum(
    load: Load, peak: float, step_seconds: float, confirm_seconds: float, pid: int
) -> float:
    """The highest open-loop rate the gateway keeps up with, raised step by step, then
    held for ``confirm_seconds`` (and lowered a step at a time until a hold passes).

    Requests refused during the search (the backlog at a rate it cannot keep up
    with) are how the search ends, not errors of the run; any other error is.
    """
    share = RAMP_START
    while await _kept_up(load, peak, share, step_seconds, pid):
        share += RAMP_STEP
    share -= RAMP_STEP
    print(f"holding the last rate it kept up with for {confirm_seconds:.0f} s:", flush=True)
    while share > 0 and not await _kept_up(load, peak, share, confirm_seconds, pid):
        share -= RAMP_STEP
    return peak * max(share, 0.0)


async def _kept_up(load: Load, peak: float, share: float, seconds: float, pid: int) -> bool:
    """One step of the search: ``share`` of ``peak`` for ``seconds``; whether it kept up."""
    rate = peak * share
    refused = load.backlog_skipped
    marks, began = cpu_marks(pid), time.monotonic()
    lines, behind = await soak(load, rate, seconds / 60, seconds, pid, search=True)
    busy, _ = cpu_share(pid, marks, time.monotonic() - began)
    refused = load.backlog_skipped - refused
    kept_up = not refused and behind <= rate * LATE_SECONDS
    verdict = "kept up" if kept_up else f"fell behind ({refused} refused, {behind} waiting)"
    p99 = lines[0].split("p99")[1].split("ms")[0].strip()
    print(
        f"  {rate:6.0f} req/s ({share:4.0%} of the peak) for {seconds:.0f} s: p99 {p99} ms, "
        f"gateway CPU {busy[0]:4.0%} (loop {busy[1]:4.0%}): {verdict}",
        flush=True,
    )
    return kept_up


def cpu_marks(pid: int) -> tuple[float, float]:
    """The gateway's CPU seconds so far: the whole process, and its event loop's thread."""
    return cpu_seconds(pid), loop_cpu_seconds(pid)


def cpu_share(
    pid: int, marks: tuple[float, float], seconds: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Shares of one core since ``marks`` (whole process, event loop), and new marks."""
    now = cpu_marks(pid)
    return ((now[0] - marks[0]) / seconds, (now[1] - marks[1]) / seconds), now


def report_line(
    elapsed: float, window: Window, seconds: float, rss: float, busy: tuple[float, float]
) -> str:
    """One window: rate, errors, latency, the gateway's memory and CPU (shares of one
    core: the whole process, and in brackets its event loop's thread alone)."""
    count = len(window.latencies)
    errors = sum(window.errors.values())
    return (
        f"{elapsed:7.0f} s  {count / seconds:7.0f} req/s  errors {errors:4d}  "
        f"p50 {percentile(window.latencies, 0.5) * 1000:6.1f} ms  "
        f"p99 {percentile(window.latencies, 0.99) * 1000:7.1f} ms  RSS {rss:6.1f} MB  "
        f"CPU {busy[0]:4.0%} (loop {busy[1]:4.0%})  "
        f"client lag {window.client_lag * 1000:5.0f} ms"
    )


def stored(data_dir: Path) -> dict[str, int]:
    """Rows per kind once the gateway has stopped (its shutdown flushes the writer)."""
    from gateway.storage import Storage, embedded_dsn

    client = Storage(embedded_dsn(str(data_dir))).connect()
    rows = client.query("SELECT toString(kind), count() FROM events GROUP BY kind").result_rows
    return {str(kind): int(count) for kind, count in rows}


async def drive(
    args: argparse.Namespace, url: str, pid: int
) -> tuple[Load, float, float, list[str]]:
    client = Client(url, args.connections * 4)
    try:
        load = Load(client, args.visitors)
        await asyncio.gather(*(load.consent(v, accept=True) for v in load.visitors))
        print(f"machine load average (1 min) at the start: {os.getloadavg()[0]:.1f}")
        print(f"warming up for {args.warmup_seconds} s ...", flush=True)
        fresh = await probe(load, args.warmup_seconds, args.connections)
        print(f"rate while warming up: {fresh:.0f} req/s", flush=True)
        print(f"probing the peak rate for {args.probe_seconds} s ...", flush=True)
        marks, began = cpu_marks(pid), time.monotonic()
        peak = await probe(load, args.probe_seconds, args.connections)
        # With the loop near 100 % the gateway was the limit; well below, the client was.
        busy, _ = cpu_share(pid, marks, time.monotonic() - began)
        load.window = Window()
        print(
            f"peak {peak:.0f} req/s (closed loop; gateway CPU {busy[0]:.0%} of one core, "
            f"its event loop {busy[1]:.0%})\n"
            f"finding the highest rate it keeps up with, {args.step_seconds:.0f} s a step:",
            flush=True,
        )
        maximum = await sustained_maximum(load, peak, args.step_seconds, args.confirm_seconds, pid)
        load.window = Window()
        rate = maximum * args.share
        print(
            f"maximum {maximum:.0f} req/s ({maximum / peak:.0%} of the peak); "
            f"soaking at {rate:.0f} req/s for {args.minutes} min",
            flush=True,
        )
        lines, _ = await soak(load, rate, args.minutes, args.window, pid)
    finally:
        client.close()
    return load, peak, maximum, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--share", type=float, default=0.8, help="of the maximum rate")
    parser.add_argument("--warmup-seconds", type=float, default=120.0)
    parser.add_argument("--probe-seconds", type=float, default=20.0)
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--confirm-seconds", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=None, help="seconds per report line")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--visitors", type=int, default=500)
    args = parser.parse_args()
    args.window = args.window or (10.0 if args.minutes <= 3 else 30.0)

    with tempfile.TemporaryDirectory(prefix="cg-soak-") as folder:
        work = Path(folder)
        site_port = free_port()
        site = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory"),
                *("gateway.demo.site:create_demo_site", "--port", str(site_port)),
                *("--log-level", "warning", "--no-access-log", "--loop", "uvloop"),
            ]
        )
        try:
            wait_for(f"http://127.0.0.1:{site_port}/")
            with gateway_process(f"http://127.0.0.1:{site_port}", work / "data") as gateway:
                rss_start = rss_mb(gateway.pid)
                load, peak, maximum, lines = asyncio.run(drive(args, gateway.url, gateway.pid))
                rss_end = rss_mb(gateway.pid)
        finally:
            site.terminate()
            site.wait(30)
        rows = stored(work / "data")

    summarise(load, peak, maximum, lines, rows, rss_start, rss_end, args)


def summarise(
    load: Load,
    peak: float,
    maximum: float,
    lines: list[str],
    rows: dict[str, int],
    rss_start: float,
    rss_end: float,
    args: argparse.Namespace,
) -> None:
    rss_values = [float(line.rsplit("RSS", 1)[1].split()[0]) for line in lines]
    minutes = [float(line.split()[0]) / 60 for line in lines]
    third = len(rss_values) // 3
    settled = rss_values[third:] or rss_values
    growth = (settled[-1] - settled[0]) / settled[0] * 100 if settled else 0.0
    # The trend over the settled windows (least squares), less swayed than two end points.
    trend = 0.0
    if len(settled) >= 2 and len(set(minutes[third:])) >= 2:
        trend = statistics.linear_regression(minutes[third:], settled).slope
    p99s = [float(line.split("p99")[1].split()[0]) for line in lines]
    errors = sum(load.all_errors.values())
    print()
    print(f"peak rate of the mix (closed loop, {args.connections} in flight): {peak:.0f}/s")
    print(f"maximum rate it keeps up with (open loop, as in the soak): {maximum:.0f}/s")
    print(f"soak: {args.minutes} min at {args.share:.0%} of it; report windows of {args.window} s")
    print(f"errors: {errors} {load.all_errors or ''}")
    print(f"p99 per window: median {statistics.median(p99s):.1f} ms, worst {max(p99s):.1f} ms")
    print(
        f"gateway RSS: {rss_start:.1f} MB before the load, {rss_end:.1f} MB at the end; "
        f"over the last two thirds {settled[0]:.1f} -> {settled[-1]:.1f} MB ({growth:+.1f}%), "
        f"between {min(settled):.1f} and {max(settled):.1f} MB, trend {trend:+.1f} MB/min"
    )
    print(f"consent changes: {load.consent_changes}")
    print(f"machine load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    pageviews, custom = rows.get("pageview", 0), rows.get("custom", 0)
    sent = load.pageviews_sent + load.beacon_events_sent
    print(f"page views sent while consented {load.pageviews_sent}, stored {pageviews}")
    print(f"beacon events accepted (202) {load.beacon_events_sent}, stored {custom}")
    if load.uncertain_events:
        within = sent <= pageviews + custom <= sent + load.uncertain_events
        print(
            f"events sent = stored cannot be exact: {load.uncertain_events} events went out in "
            f"requests the client gave up on; stored {pageviews + custom} is "
            f"{'within' if within else 'OUTSIDE'} [{sent}, {sent + load.uncertain_events}]"
        )
    else:
        verdict = "equal" if pageviews + custom == sent else "DIFFERENT"
        print(f"events sent {sent}, stored {pageviews + custom} -> {verdict}")


if __name__ == "__main__":
    main()
