"""What recording a page view adds, measured on two gateways at once, at a steady rate.

Run by hand with ``scripts/bench analytics_paired`` (never by the tests).
``bench/analytics`` measures "on" and "off" one after the other at full speed,
and on a shared two-core machine the same code's CPU per request moves 10-20%
between runs, more than the 15% being judged. Here two identical gateways
(``consent-gateway serve``, one worker, each with its own embedded ClickHouse)
run side by side in front of one nginx origin: in each round one serves a
visitor who accepted everything and the other one who rejected everything,
both at the same time, so a slow spell of the machine falls on both; the
roles swap every round, so neither gateway's own luck (where its threads
landed, what its engine was merging) stays on one side.

``--flush-interval`` sets both gateways' ``CG_FLUSH_INTERVAL`` (and a batch size
large enough that the interval, not the count, decides when the writer inserts),
and waits a second longer than that past each round: each insert costs the engine tens
of milliseconds of CPU whatever its size, so at a steady rate the interval
decides much of what recording costs a page view.

By default each wrk connection waits between requests (``--rate`` page views
per second per gateway, well below saturation): a site's proxy spends most of
its life below its limit, and at a steady rate neither gateway takes CPU time
from the other by being faster. ``--rate 0`` drives both as fast as they go.
Visitors are made anew before their session cookie would be re-issued on
every request, and CPU per request is counted, as in ``bench/analytics`` (the
whole process, and the event loop's share), including :data:`~bench.analytics.SETTLE_SECONDS` after
wrk stops, so the writer's insert and merges are charged to the round.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.analytics import (
    PAGE_HEADERS,
    SETTLE_SECONDS,
    aged,
    make_visitors,
    visitor_cookie,
    visitors_script,
)
from bench.harness import (
    CONNECTIONS,
    Gateway,
    cpu_seconds,
    gateway_process,
    html_page,
    loop_cpu_seconds,
    nginx_origin,
    spread,
    wrk_command,
    wrk_result,
)

MODES = {"on": "accept_all", "off": "reject_all"}


def paced_command(gateway: Gateway, work: Path, mode: str, args: argparse.Namespace) -> list[str]:
    """The wrk command line for ``mode``'s visitors on ``gateway``, paced to ``--rate``."""
    script = work / f"{gateway.pid}-{mode}.lua"
    headers: list[str] = []
    if args.visitors > 1:
        visitors = make_visitors(gateway, MODES[mode], args.visitors)
        visitors_script(script, gateway.url, visitors, args.pages, None)
    else:
        script.write_text("")
        headers = [*PAGE_HEADERS, visitor_cookie(gateway, MODES[mode])]
    if args.rate:
        # Each connection waits this long after an answer: 32 connections at a few
        # milliseconds per answer give about --rate requests per second.
        with script.open("a") as lua:
            lua.write(f"delay = function() return {1000 * CONNECTIONS // args.rate} end\n")
    return wrk_command(gateway.url + "/", args.seconds, headers, script)


def one_round(
    plan: list[tuple[Gateway, list[str]]], settle: float
) -> list[tuple[float, float, int]]:
    """Run every wrk command of ``plan`` at once and wait ``settle`` seconds; per gateway
    (CPU us per request, the event loop's us per request, requests)."""
    before = [(cpu_seconds(g.pid), loop_cpu_seconds(g.pid)) for g, _ in plan]
    runs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for _, c in plan]
    outputs = [run.communicate()[0] for run in runs]
    time.sleep(settle)
    measured = []
    for (gateway, _), (cpu, loop), output in zip(plan, before, outputs, strict=True):
        requests = wrk_result(gateway.url, output).requests
        if not requests:
            raise RuntimeError(f"{gateway.url}: no requests answered\n{output}")
        spent = cpu_seconds(gateway.pid) - cpu
        looped = loop_cpu_seconds(gateway.pid) - loop
        measured.append((spent / requests * 1e6, looped / requests * 1e6, requests))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of each round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds after a warm-up one")
    parser.add_argument(
        "--rate",
        type=int,
        default=2000,
        help="page views/s each connection's pause aims at, per gateway (0: no pause); "
        "each answer's own time comes on top, so the rate reached is printed",
    )
    parser.add_argument("--visitors", type=int, default=1, help="visitors on each side")
    parser.add_argument("--pages", type=int, default=4, help="page views per visitor in a row")
    parser.add_argument(
        "--flush-interval",
        type=float,
        default=None,
        help="seconds between the writer's inserts (default: the gateway's own, 5)",
    )
    args = parser.parse_args()
    env: dict[str, str] = {}
    settle = SETTLE_SECONDS
    if args.flush_interval is not None:
        env = {"CG_FLUSH_INTERVAL": str(args.flush_interval), "CG_FLUSH_BATCH_SIZE": "1000000"}
        settle = max(SETTLE_SECONDS, args.flush_interval + 1)
    added: list[float] = []
    added_us: list[float] = []
    added_loop: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cg-bench-paired-") as folder:
        work = Path(folder)
        with (
            nginx_origin(work, html_page(10 * 1024)) as origin,
            gateway_process(origin.url, work / "a", env) as first,
            gateway_process(origin.url, work / "b", env) as second,
        ):
            commands: dict[tuple[int, str], list[str]] = {}
            made_at = float("-inf")
            for number in range(args.rounds + 1):
                if aged(made_at, args.seconds + settle):  # see bench/analytics
                    commands = {
                        (g.pid, mode): paced_command(g, work, mode, args)
                        for g in (first, second)
                        for mode in MODES
                    }
                    made_at = time.monotonic()
                on, off = (first, second) if number % 2 else (second, first)
                plan = [(on, commands[on.pid, "on"]), (off, commands[off.pid, "off"])]
                (cpu_on, loop_on, done_on), (cpu_off, loop_off, done_off) = one_round(plan, settle)
                line = (
                    f"round {number}/{args.rounds}: on {cpu_on:.0f} us/req "
                    f"({done_on / args.seconds:.0f}/s), off {cpu_off:.0f} us/req "
                    f"({done_off / args.seconds:.0f}/s)"
                )
                if number:  # round 0 warms up
                    added.append(100 * (cpu_on / cpu_off - 1))
                    added_us.append(cpu_on - cpu_off)
                    added_loop.append(loop_on - loop_off)
                    line += f": recording adds {added[-1]:+.1f}%"
                print(line, file=sys.stderr)
    pace = f"paced for {args.rate:,} page views/s each" if args.rate else "as fast as they go"
    if args.flush_interval is not None:
        pace += f", inserting every {args.flush_interval:g} s"
    print(f"\npage views, two gateways side by side, {pace}, {args.rounds} rounds:")
    print(f"  recording adds {spread(added, '%')} CPU per request")
    print(f"  in microseconds: {spread(added_us, ' us')}")
    print(f"  of which the event loop: {spread(added_loop, ' us')}")


if __name__ == "__main__":
    main()
