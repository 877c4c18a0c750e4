"""Synthetic visitors for ``consent-gateway demo``, driven through the real gateway.

So that a newcomer's first dashboard has numbers, locations and consent rates,
the demo sends visits through its own public listener as browsers would: each
visitor has a cookie jar, a user agent, a referrer or campaign, and a public
address in ``X-Forwarded-For`` (the demo trusts loopback as a proxy). Each
answers the banner through the real consent API, then browses and sends
engagement beacons. :func:`plan_visits` is pure (seeded), so the mix is
reproducible; :func:`drive` performs the visits with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from gateway.demo.browser import Browser
from gateway.exceptions import UpstreamError
from gateway.proxy.pool import ConnectionPool

PREFIX = "/_consent/"

# Entry pages and, per page, where visitors go next; weights are relative.
ENTRIES = {
    "/": 45,
    "/courses": 15,
    "/courses/safeguarding": 12,
    "/courses/first-aid": 10,
    "/news": 10,
    "/about": 5,
    "/contact": 3,
}
NEXT = {
    "/": {"/courses": 40, "/news": 20, "/about": 20, "/contact": 10, "/courses/first-aid": 10},
    "/courses": {"/courses/safeguarding": 45, "/courses/first-aid": 40, "/contact": 15},
    "/courses/safeguarding": {"/contact": 40, "/courses": 35, "/courses/first-aid": 25},
    "/courses/first-aid": {"/contact": 45, "/courses": 35, "/": 20},
    "/news": {"/": 50, "/courses": 30, "/about": 20},
    "/about": {"/contact": 60, "/": 40},
    "/contact": {"/": 100},
}
LEAVE_CHANCE = 0.4  # after each page

# (referrer, campaign query, weight): direct visits have neither.
ARRIVALS = [
    ("", "", 38),
    ("https://www.google.com/", "", 24),
    ("https://www.bing.com/", "", 5),
    ("https://duckduckgo.com/", "", 4),
    ("https://m.facebook.com/", "", 5),
    ("https://www.linkedin.com/", "", 3),
    ("https://www.oxfordshire.gov.uk/schools", "", 5),
    ("", "utm_source=newsletter&utm_medium=email&utm_campaign=spring-term", 10),
    ("https://m.facebook.com/", "utm_source=facebook&utm_medium=social&utm_campaign=open-day", 6),
]

USER_AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        34,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        14,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        20,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        14,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 8),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        7,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        3,
    ),
]

# Public networks of large access providers (/24s picked so that each city gets
# enough visitors to pass the k rule), mostly in the UK like the demo's school trust.
NETWORKS = [
    ("81.130.12", 14), ("2.30.4", 10), ("5.64.1", 8), ("31.48.2", 8), ("109.150.3", 6),
    ("62.30.1", 6), ("212.159.5", 5), ("86.150.3", 4),
    ("84.150.20", 5), ("93.200.1", 3),
    ("90.10.20", 5), ("86.200.5", 2),
    ("73.15.8", 5), ("24.5.6", 3),
    ("77.170.3", 3), ("83.40.5", 3), ("86.42.3", 3), ("151.20.3", 2),
]  # fmt: skip

CATEGORIES = ("preferences", "analytics", "marketing")


@dataclass(frozen=True)
class Visit:
    """One synthetic visitor's whole visit, decided before it starts."""

    ip: str
    user_agent: str
    referrer: str
    pages: tuple[str, ...]
    query: str
    choice: dict[str, Any]
    gpc: bool
    pauses: tuple[float, ...]
    engaged_ms: tuple[int, ...]


def _pick(rng: random.Random, weighted: dict[str, int] | list[tuple[Any, ...]]) -> Any:
    items = list(weighted.items()) if isinstance(weighted, dict) else weighted
    values = [item[:-1] if len(item) > 2 else item[0] for item in items]
    return rng.choices(values, weights=[item[-1] for item in items])[0]


def plan_visits(count: int, rng: random.Random) -> list[Visit]:
    """``count`` visits with realistic mixes of pages, arrivals, devices, places and choices."""
    visits = []
    for _ in range(count):
        pages = [_pick(rng, ENTRIES)]
        while len(pages) < 6 and rng.random() > LEAVE_CHANCE:
            pages.append(_pick(rng, NEXT[pages[-1]]))
        referrer, query = _pick(rng, ARRIVALS)
        gpc = rng.random() < 0.08
        roll = rng.random()
        choice: dict[str, Any]
        if roll < (0.15 if gpc else 0.55):
            choice = {"action": "accept_all"}
        elif roll < (0.85 if gpc else 0.82):
            choice = {"action": "reject_all"}
        else:
            choice = {"categories": {c: rng.random() < 0.6 for c in CATEGORIES}}
        visits.append(
            Visit(
                ip=f"{_pick(rng, NETWORKS)}.{rng.randint(1, 254)}",
                user_agent=_pick(rng, USER_AGENTS),
                referrer=referrer,
                pages=tuple(pages),
                query=query,
                choice=choice,
                gpc=gpc,
                pauses=tuple(rng.uniform(0.1, 1.0) for _ in pages),
                engaged_ms=tuple(int(rng.lognormvariate(10.3, 0.9)) for _ in pages),
            )
        )
    return visits


@dataclass
class Tally:
    """What happened, for the closing line."""

    visits: int = 0
    pageviews: int = 0
    choices: Counter[str] = field(default_factory=Counter)
    failures: int = 0


async def _one(browser: Browser, visit: Visit, tally: Tally) -> None:
    # Like a returning visitor, the choice comes first (the banner shows, it is
    # answered), so that the entry page, its referrer and campaign are recorded.
    _, answer = await browser.request("GET", f"{PREFIX}state")
    state = json.loads(answer)
    status, _ = await browser.request(
        "POST", f"{PREFIX}state", {"X-CSRF-Token": state["csrf"]}, json_body=visit.choice
    )
    if status >= 400:
        tally.failures += 1
        return
    tally.choices[visit.choice.get("action", "custom")] += 1
    first = visit.pages[0] + (f"?{visit.query}" if visit.query else "")
    await browser.request("GET", first, {"Referer": visit.referrer} if visit.referrer else None)
    tally.pageviews += 1
    previous = browser.base + first
    for index, path in enumerate(visit.pages):
        await asyncio.sleep(visit.pauses[index])
        beacon = {"events": [{"type": "engagement", "path": path,
                              "engagement_ms": visit.engaged_ms[index]}]}  # fmt: skip
        await browser.request("POST", f"{PREFIX}collect", json_body=beacon)
        if index + 1 < len(visit.pages):
            following = visit.pages[index + 1]
            await browser.request("GET", following, {"Referer": previous})
            previous = browser.base + following
            tally.pageviews += 1


def _headers(visit: Visit) -> dict[str, str]:
    headers = {
        "User-Agent": visit.user_agent,
        "X-Forwarded-For": visit.ip,
        "Accept": "text/html,application/xhtml+xml",
        "Accept-Language": "en-GB,en;q=0.9",
    }
    if visit.gpc:
        headers["Sec-GPC"] = "1"
    return headers


async def drive(
    base: str, visits: list[Visit], *, concurrency: int = 200, out: TextIO = sys.stdout
) -> Tally:
    """Perform ``visits`` against the gateway at ``base``, showing progress on ``out``."""
    tally = Tally()
    gate = asyncio.Semaphore(concurrency)
    total = len(visits)
    shown = -1
    started = time.monotonic()

    def progress() -> None:
        nonlocal shown
        percent = 100 * tally.visits // max(total, 1)
        if percent != shown and (percent % 10 == 0 or out.isatty()):
            shown = percent
            end = "\n" if not out.isatty() or percent == 100 else ""
            bar = "#" * (percent // 5)
            print(f"\rSynthetic visits: [{bar:<20}] {tally.visits}/{total}", end=end, file=out)
            out.flush()

    # One pool of connections to the gateway; each visitor has its own cookies.
    pool = ConnectionPool(base, connect_timeout=10, read_timeout=60)

    async def run(visit: Visit) -> None:
        async with gate:
            try:
                await _one(Browser(pool, base, _headers(visit)), visit, tally)
            except (UpstreamError, ValueError, KeyError):
                tally.failures += 1
        tally.visits += 1
        progress()

    try:
        await asyncio.gather(*(run(visit) for visit in visits))
    finally:
        pool.close()
    seconds = time.monotonic() - started
    choices = ", ".join(f"{name} {count}" for name, count in sorted(tally.choices.items()))
    print(
        f"Sent {total} synthetic visits in {seconds:.0f} s: {tally.pageviews} page views; "
        f"banner choices: {choices}" + (f"; {tally.failures} failed" if tally.failures else ""),
        file=out,
    )
    return tally


def run_traffic(
    base: str, count: int, *, seed: int | None = None, out: TextIO = sys.stdout
) -> Tally:
    """Plan and perform ``count`` visits (blocking; runs its own event loop)."""
    visits = plan_visits(count, random.Random(seed))
    return asyncio.run(drive(base, visits, out=out))


def listening(host: str, port: int, wait: float) -> bool:
    """Whether ``host:port`` accepts a connection within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def start_in_background(base: str, count: int, *, wait: float = 60.0) -> threading.Thread:
    """Send ``count`` visits from a daemon thread once ``base`` accepts connections."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    def work() -> None:
        if not listening(host, port, wait):
            print(f"The gateway at {base} did not start; no synthetic visits sent.")
            return
        time.sleep(0.5)  # the admin listener and the writer start beside it
        run_traffic(base, count)
        print("Refresh the dashboard to see them.")
        sys.stdout.flush()

    thread = threading.Thread(target=work, name="demo-traffic", daemon=True)
    thread.start()
    return thread
