"""Every dashboard panel's query over 30 days of 10 million events, on the embedded engine.

Run by hand with ``scripts/bench dashboard [--events N] [--rounds N]`` (never by
the tests). It makes a throw-away embedded ClickHouse in a temporary folder,
applies the real migrations, and generates the events with one
``INSERT ... SELECT FROM numbers()`` whose distributions are drawn in SQL
(Python would take minutes for 10 million rows):

* visits over the last 30 days, busier by day than by night, of 1 to 20 pages
  (geometric, about 3 on average), 10 to 300 seconds apart, by about 1.5
  million returning visitors; 5 % of the later events are engagement beacons;
* 20,000 pages under a few sections, picked with Zipf-like popularity
  (rank r with probability proportional to 1/r);
* the entry page's referrer: direct for 45 %, then Google, Bing, DuckDuckGo,
  social sites, and a long tail of 2,000 hosts; 10 % of visits carry UTM tags;
* 40 countries (skewed towards GB, US, DE, FR), a few regions and dozens of
  cities each; browsers, operating systems and devices in web-like shares;
* after 4 % of page views, a custom event: a download (one in five of them the
  prospectus), a booking or a 404; three goals (a section's pages, the
  prospectus, a booking) and a funnel of the three, whose panels are measured too.

The newest events are stamped up to :data:`TAIL_MINUTES` minutes ahead of the
clock, so that some are later than the recent rollup's cut when it is
refreshed (the header says how many): between two refreshes the panels read
those raw, scanning today's events for them. Then ``OPTIMIZE ... FINAL``
merges the parts, as a month of background merges would, the rollups are
brought up to date (``stats_daily``, the merged windows of ``stats_window`` and
``stats_recent``, as their scheduled refreshes would; with ``--keep`` on a folder
made before migration 0007, this is the migration's backfill), and
every panel the dashboard shows for a 30-day range runs
``--rounds`` times in turn (after one warm-up round); the table gives each
panel's p50 and p95, and the same for the whole dashboard (all panels one
after another, and the dashboard page's own ``load``, which runs them two at a
time on one event loop kept for every round, as the gateway keeps its own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import dashboard_history
from gateway.admin.dashboard import (
    PANELS,
    ROWS,
    SERIES_METRICS,
    TOP_METRICS,
    Panel,
    View,
    load,
)
from gateway.admin.marketing import load_marketing
from gateway.settings import Settings, load_settings
from gateway.settings_analytics import parse_goal
from gateway.stats import (
    aggregate,
    breakdown,
    consent_figures,
    next_pages,
    realtime,
    timeseries,
)
from gateway.stats.conversions import broken_links, custom_events, downloads, goal_figures
from gateway.stats.funnels import add_funnel, funnel_figures, list_funnels
from gateway.stats.goals import add_goal, list_goals
from gateway.stats.rollup import marked, refresh
from gateway.storage import Storage
from gateway.storage.migrator import migrate

SITE = "bench.example"
K = 5
TAIL_MINUTES = 10
"""How far ahead of the clock the newest events are stamped (see the docstring)."""

_COUNTRIES = (
    "['GB','US','DE','FR','NL','IE','ES','IT','SE','PL','BE','CH','AT','DK','NO','FI','PT',"
    "'CZ','RO','HU','GR','CA','AU','NZ','IN','JP','BR','MX','ZA','NG','KE','EG','TR','UA',"
    "'SG','HK','KR','AR','CL','CO']"
)
_BROWSERS = "['Chrome','Chrome','Chrome','Mobile Safari','Mobile Safari','Safari','Edge','Firefox','Samsung Internet','Opera']"  # noqa: E501
_OSES = (
    "['Windows','Windows','Android','Android','iOS','iOS','Mac OS X','Linux','Chrome OS','Windows']"
)
_DEVICES = "['desktop','desktop','mobile','mobile','mobile','mobile','desktop','desktop','tablet','desktop']"  # noqa: E501
_SOURCES = (
    "['','','','','','','','','','','www.google.com','www.google.com','www.google.com',"
    "'www.google.com','www.google.com','www.google.com','www.bing.com','duckduckgo.com',"
    "'www.facebook.com','t.co','www.linkedin.com','news.ycombinator.com','www.reddit.com',"
    "'tail','tail']"
)
_SECTIONS = "['/blog/','/courses/','/news/','/events/','/docs/','/about/','/p/','/shop/']"

# One row per session (number s), expanded into its events with arrayJoin.
_GENERATE = f"""
INSERT INTO events (time, site, kind, session_id, visitor_key, path, query, referrer_host,
    referrer_path, prev_path, utm_source, utm_medium, utm_campaign, ip, country, region, city,
    browser, browser_version, os, os_version, device, status, engagement_ms)
SELECT
    start + toIntervalSecond(i * gap) AS time,
    '{SITE}',
    if(i > 0 AND sipHash64(s, i, 'k') % 20 = 0, 'engagement', 'pageview') AS kind,
    sipHash64(s, 'session') AS session_id,
    reinterpretAsUUID(concat(reinterpretAsString(sipHash64(v, 'a')),
                             reinterpretAsString(sipHash64(v, 'b')))) AS visitor_key,
    page(s, i) AS path,
    if(utm AND i = 0, 'utm_source=' || utm_src, '') AS query,
    if(i = 0, source, '') AS referrer_host,
    if(i = 0 AND source != '', '/', '') AS referrer_path,
    if(i = 0, '', page(s, i - 1)) AS prev_path,
    if(utm AND i = 0, utm_src, '') AS utm_source,
    if(utm AND i = 0, ['email','social','cpc'][1 + sipHash64(s, 'm') % 3], '') AS utm_medium,
    if(utm AND i = 0, 'campaign-' || toString(sipHash64(s, 'c') % 50), '') AS utm_campaign,
    '203.0.113.0' AS ip,
    country,
    country || '-region-' || toString(toUInt32(pow(u(v, 'r'), 2) * 8)) AS region,
    country || '-city-' || toString(toUInt32(pow(u(v, 'y'), 2) * 60)) AS city,
    {_BROWSERS}[1 + ua] AS browser,
    toString(100 + sipHash64(v, 'bv') % 30) AS browser_version,
    {_OSES}[1 + ua] AS os,
    '' AS os_version,
    {_DEVICES}[1 + ua] AS device,
    200,
    if(kind = 'engagement', toUInt32(gap * 1000), 0) AS engagement_ms
FROM (
    SELECT
        number AS s,
        sipHash64(number, 'visitor') % {{visitors:UInt64}} AS v,
        -- busier by day: the hour of day is drawn from a triangle peaking at 14:00
        toDateTime({{now:DateTime}}, 'UTC') - toIntervalSecond(
            (sipHash64(number, 'day') % 30) * 86400
            + toUInt32(86400 - (u(number, 'h') + u(number, 'h2')) * 43200)
        ) AS start,
        least(20, 1 + toUInt32(floor(-log(1 - u(number, 'len') * 0.999999) * 2.1))) AS pages,
        10 + sipHash64(number, 'gap') % 290 AS gap,
        {_COUNTRIES}[1 + toUInt32(pow(u(v, 'cc'), 2.5) * 40)] AS country,
        toUInt32(sipHash64(v, 'ua') % 10) AS ua,
        {_SOURCES}[1 + sipHash64(number, 'ref') % 25] AS picked,
        if(picked = 'tail', 'site' || toString(sipHash64(number, 't') % 2000) || '.example',
           picked) AS source,
        u(number, 'utm') < 0.1 AS utm,
        ['newsletter','twitter','facebook','google'][1 + sipHash64(number, 'us') % 4] AS utm_src,
        arrayJoin(range(pages)) AS i
    FROM numbers({{sessions:UInt64}})
)
LIMIT {{events:UInt64}}
"""

_FUNCTIONS = [
    # a uniform [0, 1) draw from a hash, and a Zipf-like page of a session's i-th view
    "CREATE FUNCTION IF NOT EXISTS u AS (x, salt) -> sipHash64(x, salt) / 18446744073709551616",
    # the page of rank r keeps its section: 20,000 pages in all
    f"CREATE FUNCTION IF NOT EXISTS ranked AS (r) -> {_SECTIONS}[1 + r % 8] || toString(r)",
    "CREATE FUNCTION IF NOT EXISTS page AS (s, i) -> "
    "ranked(toUInt32(exp(u(sipHash64(s, i), 'rank') * log(20000))))",
]


def generate(storage: Storage, events: int, now: datetime) -> float:
    """Fill the events (and, through the view, the sessions); seconds taken."""
    client = storage.connect()
    began = time.perf_counter()
    for statement in _FUNCTIONS:
        client.command(statement)
    sessions = events * 10 // 26 + 1000  # about 2.8 events per session; LIMIT cuts the rest
    client.command(
        _GENERATE,
        parameters={
            "now": now.strftime("%Y-%m-%d %H:%M:%S"),
            "visitors": max(1, sessions * 45 // 100),
            "sessions": sessions,
            "events": events,
        },
    )
    client.command(_CUSTOM)
    client.command("OPTIMIZE TABLE events FINAL")
    client.command("OPTIMIZE TABLE sessions_agg FINAL")
    return time.perf_counter() - began


# About 4 % of page views are followed, a second later, by a custom event: a download of
# one of 50 files (one in five the prospectus), a booking or a 404 (Plausible's names).
_CUSTOM = f"""
INSERT INTO events (time, site, kind, session_id, visitor_key, path, prev_path, ip, country,
    region, city, browser, browser_version, os, os_version, device, status, name, props)
SELECT time + toIntervalSecond(1), site, 'custom', session_id, visitor_key, path, prev_path, ip,
    country, region, city, browser, browser_version, os, os_version, device,
    if(pick = 2, 404, 200),
    ['File Download', 'Booking made', '404'][pick + 1] AS name,
    [map('url', 'https://{SITE}/files/' || if(h % 5 = 0, 'prospectus', toString(h % 50))
         || '.pdf'), map('evening', toString(h % 4)), map('path', path || '-old')][pick + 1]
FROM (SELECT *, sipHash64(session_id, time, 'custom') AS h, toUInt8(h % 3) AS pick
      FROM events WHERE kind = 'pageview' AND sipHash64(session_id, time, 'c') % 25 = 0)
"""
GOALS = ("/courses/*", "File Download [url=*prospectus*]", "Booking made")
"""The goals the bench measures, and its three-step funnel, in this order."""


def panels(storage: Storage, settings: Settings, now: datetime) -> dict[str, Callable[[], Any]]:
    """Every query the dashboard page runs for the last 30 days, by panel.

    The panel list and metrics are the page's own (gateway.admin.dashboard), so
    this measures what a page load asks for, with the rollups' marks read once
    first, as the page reads them.
    """
    unmarked = View(SITE, period="30d").query(now)
    q = marked(storage, unmarked)  # as the page does, once for all its queries
    k = settings.stats_min_visitors
    top_page = breakdown(storage, q, "page", ["visitors"], 1, k=k)[0]["page"]

    def by(panel: Panel) -> Callable[[], Any]:
        return lambda: breakdown(storage, q, panel.prop, panel.metrics, ROWS, k=k)

    goals = [parse_goal(text) for text in GOALS]
    funnel = list_funnels(storage, SITE)[0]  # its finished days are kept (funnel_days)
    return {
        "rollup marks (once a page)": lambda: marked(storage, unmarked),
        "totals (6 metrics)": lambda: aggregate(storage, q, TOP_METRICS, k=k),
        "time series (daily)": lambda: timeseries(storage, q, SERIES_METRICS, k=k),
        **{f"{panel.title.lower()} ({', '.join(panel.metrics)})": by(panel) for panel in PANELS},
        "next pages": lambda: next_pages(storage, q, top_page, ROWS, k=k),
        "consent": lambda: consent_figures(storage, q, settings.consent_categories),
        "realtime": lambda: realtime(storage, SITE, now, k=k),
        "goals (3)": lambda: goal_figures(storage, q, goals, k=k),
        "custom events": lambda: custom_events(storage, q, k=k, limit=ROWS),
        "downloads": lambda: downloads(storage, q, k=k, limit=ROWS),
        "broken links": lambda: broken_links(storage, q, k=k, limit=ROWS),
        "funnel (3 steps)": lambda: funnel_figures(
            storage, q, funnel.steps, k=k, funnel_id=funnel.id
        ),
    }


def pages(
    storage: Storage, settings: Settings, now: datetime, runner: asyncio.Runner
) -> dict[str, Callable[[], Any]]:
    """The whole page's queries as the page runs them: two at a time, off the event loop.

    One event loop serves every round, as in the running gateway, whose worker
    threads (and their ClickHouse clients, tens of ms each to make) outlive a page.
    """

    def page(compare: bool) -> Callable[[], Any]:
        view = View(SITE, period="30d", compare=compare)

        async def whole() -> None:  # as gateway/admin/pages.py: the panels, then marketing
            board = await load(storage, settings, view, now)
            await load_marketing(storage, board.query, settings.stats_min_visitors)

        return lambda: runner.run(whole())

    return {
        "whole page, load()": page(False),
        "whole page with compare, load()": page(True),
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(storage: Storage, settings: Settings, now: datetime, rounds: int) -> None:
    with asyncio.Runner() as runner:
        _measure(storage, settings, now, rounds, runner)


def _measure(
    storage: Storage, settings: Settings, now: datetime, rounds: int, runner: asyncio.Runner
) -> None:
    queries = panels(storage, settings, now)
    whole = pages(storage, settings, now, runner)
    first = _first_loads(storage, queries, whole)
    times: dict[str, list[float]] = {name: [] for name in queries}
    totals: list[float] = []
    for round_number in range(rounds + 1):
        total = 0.0
        for name, run in queries.items():
            began = time.perf_counter()
            run()
            took = time.perf_counter() - began
            total += took
            if round_number:  # round 0 warms caches up
                times[name].append(took)
        if round_number:
            totals.append(total)
        for name, run in whole.items():
            began = time.perf_counter()
            run()
            if round_number:
                times.setdefault(name, []).append(time.perf_counter() - began)
    width = max(len(name) for name in times) + 2
    print(f"{'panel'.ljust(width)}{'p50 ms':>9}{'p95 ms':>9}")
    for name, values in times.items():
        if name in whole:
            continue
        p50, p95 = statistics.median(values) * 1000, _percentile(values, 0.95) * 1000
        flag = "  over 150 ms" if p95 > 150 else ""
        print(f"{name.ljust(width)}{p50:9.1f}{p95:9.1f}{flag}")
    p50, p95 = statistics.median(totals) * 1000, _percentile(totals, 0.95) * 1000
    print(f"{'whole dashboard, one by one'.ljust(width)}{p50:9.1f}{p95:9.1f}")
    for name in whole:
        values = times[name]
        p50, p95 = statistics.median(values) * 1000, _percentile(values, 0.95) * 1000
        print(f"{name.ljust(width)}{p50:9.1f}{p95:9.1f}")
    print(
        "\nFirst loads (cold: a process's first page, the funnel's finished days computed "
        "and stored;\nafter that they are read, so the rounds above are warm loads, what a "
        "returning reader sees,\nand what the targets of 1 s a page and 150 ms a panel are "
        "judged on):"
    )
    for name, took in first.items():
        print(f"{name.ljust(width)}{took * 1000:9.1f}")
    load1, load5, _ = os.getloadavg()
    print(f"\n(load average {load1:.1f} / {load5:.1f} on {os.cpu_count()} CPUs while measuring)")


def _first_loads(
    storage: Storage,
    queries: dict[str, Callable[[], Any]],
    whole: dict[str, Callable[[], Any]],
) -> dict[str, float]:
    """The page's and the funnel panel's first (cold) loads, each with no funnel day stored."""
    times = {}
    for name, run in (
        ("whole page, load(), first", whole["whole page, load()"]),
        ("funnel (3 steps), first", queries["funnel (3 steps)"]),
    ):
        client = storage.connect()
        client.command("TRUNCATE TABLE funnel_days")
        client.close()
        began = time.perf_counter()
        run()
        times[name] = time.perf_counter() - began
    return times


def twelve_months(rounds: int) -> None:
    """The 12-month scenario: the page over two years of daily aggregates, not events."""
    dashboard_history.run(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--keep",
        metavar="FOLDER",
        help="keep the generated data in FOLDER, and reuse it when it is already there",
    )
    parser.add_argument(
        "--twelve-months",
        action="store_true",
        help="the 12-month page over two years of anonymous history (bench/dashboard_history.py)",
    )
    args = parser.parse_args()
    if args.twelve_months:
        twelve_months(args.rounds)
        return
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=TAIL_MINUTES)
    with tempfile.TemporaryDirectory(prefix="cg-bench-dashboard-") as temporary:
        storage = Storage(f"chdb://{Path(args.keep or temporary).resolve()}")
        migrate(storage)
        client = storage.connect()
        seconds = 0.0
        if not client.query("SELECT count() FROM events").result_rows[0][0]:
            seconds = generate(storage, args.events, now)
        else:  # reused: measure at the time the data was made for
            latest = client.query("SELECT max(time) FROM events").result_rows[0][0]
            now = latest.replace(tzinfo=UTC) + timedelta(seconds=1)
        began = time.perf_counter()
        refresh(storage)  # the hourly refresh would do this; the first page load should not wait
        rolled = time.perf_counter() - began
        counts = client.query(
            "SELECT (SELECT count() FROM events), (SELECT count() FROM sessions_agg), "
            "(SELECT uniq(visitor_key) FROM events), (SELECT uniq(path) FROM events), "
            "(SELECT count() FROM events WHERE time >= (SELECT max(upto) FROM stats_recent))"
        ).result_rows[0]
        print(
            f"{counts[0]:,} events, {counts[1]:,} sessions, ~{counts[2]:,} visitors, "
            f"{counts[3]:,} pages, generated and merged in {seconds:.1f} s, rolled up "
            f"in {rolled:.1f} s, {counts[4]:,} events after the recent rollup's cut (read raw); "
            f"{args.rounds} rounds of every panel for 30 days, k = {K}:\n"
        )
        settings = load_settings(
            environ={
                "CG_UPSTREAM": f"http://{SITE}",
                "CG_SECRET_KEY": "b" * 40,
                "CG_CLICKHOUSE_DSN": storage.dsn,
                "CG_STATS_MIN_VISITORS": str(K),
            },
            env_file=None,
        )
        goals = [stored.name for stored in list_goals(storage, SITE)]
        if not goals:  # the dashboard's goals and its three-step funnel
            goals = [add_goal(storage, SITE, text, "bench").name for text in GOALS]
            add_funnel(storage, SITE, "Courses to booking", list(GOALS), "bench")
        print(f"goals: {', '.join(goals)}; a funnel of the three\n")
        measure(storage, settings, now, args.rounds)


if __name__ == "__main__":
    main()
