"""The dashboard's 12-month page over two years of anonymous history, on the embedded engine.

Run by hand with ``scripts/bench dashboard --twelve-months [--rounds N]`` (or
``scripts/bench dashboard_history``). It makes a throw-away embedded ClickHouse,
applies the real migrations and writes 730 days of ``stats_history`` rows, as the
history's rollup would keep them for a site of about 10 million events a month:
each day's totals, and per dimension its values with Zipf-like visitors (value of
rank r: 5 + 40,000 / r), 5,000 pages, 3,000 entry and exit pages, 400 sources, 300
regions, 60 countries and a few dozen of the rest, every row at or above k. Then
every query of a 12-month page (the totals, the months, each panel) runs
``--rounds`` times after a warm-up, and the whole page's ``load`` with and without
the comparison; the table gives p50 and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.admin.dashboard import PANELS, ROWS, SERIES_METRICS, TOP_METRICS, View, load
from gateway.settings import Settings, load_settings
from gateway.stats import history
from gateway.storage import Storage
from gateway.storage.migrator import migrate

SITE = "bench.example"
DAYS = 730
VALUES = {
    "page": 5000,
    "entry_page": 3000,
    "exit_page": 3000,
    "source": 400,
    "utm_source": 30,
    "utm_medium": 10,
    "utm_campaign": 60,
    "country": 60,
    "region": 300,
    "browser": 15,
    "os": 10,
    "device": 3,
}


def generate(storage: Storage) -> tuple[int, float]:
    """Two years of history rows for :data:`SITE`; how many, and the seconds it took."""
    began = time.perf_counter()
    client = storage.connect()
    try:
        columns = "site, day, dim, value, visitors, visits, pageviews, sessions, bounces, duration"
        season = "(1 + 0.5 * sin(toDayOfYear(day) / 58.0))"
        for dim in ("", "visit"):
            sessions = "visits" if dim else "0"
            client.command(
                f"INSERT INTO stats_history ({columns}) SELECT {{site:String}}, "
                f"today() - 1 - number AS day, '{dim}', '', "
                f"toUInt64(110000 * {season}) AS visitors, toUInt64(visitors * 1.2) AS visits, "
                f"toUInt64(visits * 3) AS pageviews, {sessions}, "
                f"toUInt64({sessions} * 0.4), toUInt64({sessions} * 95) "
                f"FROM numbers({DAYS})",
                parameters={"site": SITE},
            )
        for dim, count in VALUES.items():
            visit = "toUInt64(visits)" if dim in ("entry_page", "exit_page", "source",
                    "utm_source", "country", "browser", "os", "device") else "0"  # fmt: skip
            client.command(
                f"INSERT INTO stats_history ({columns}) SELECT {{site:String}}, "
                f"today() - 1 - intDiv(number, {count}) AS day, '{dim}', "
                f"concat('{dim or 'v'}-', toString(number % {count})) AS value, "
                f"toUInt64(5 + 40000 / (1 + number % {count})) AS visitors, "
                f"toUInt64(visitors * 1.2) AS visits, toUInt64(visits * 2) AS pageviews, "
                f"{visit} AS sessions, toUInt64(sessions * 0.4), toUInt64(sessions * 90) "
                f"FROM numbers({count * DAYS})",
                parameters={"site": SITE},
            )
        client.command("OPTIMIZE TABLE stats_history FINAL")
        rows = int(client.query("SELECT count() FROM stats_history").result_rows[0][0])
    finally:
        client.close()
    return rows, time.perf_counter() - began


def queries(storage: Storage, now: datetime) -> dict[str, Callable[[], Any]]:
    """Every query of the 12-month page, by panel."""
    q = history.clipped(storage, View(SITE, period="12mo").query(now))

    def by(prop: str, metrics: tuple[str, ...]) -> Callable[[], Any]:
        return lambda: history.breakdown(storage, q, prop, metrics, ROWS)

    return {
        "newest day (once a page)": lambda: history.clipped(storage, q),
        "totals (6 metrics)": lambda: history.aggregate(storage, q, TOP_METRICS),
        "time series (monthly)": lambda: history.timeseries(storage, q, SERIES_METRICS),
        **{
            f"{panel.title.lower()}": by(panel.prop, panel.metrics)
            for panel in PANELS
            if panel.prop in history.HISTORY_PROPERTIES
        },
    }


def measure(storage: Storage, settings: Settings, now: datetime, rounds: int) -> None:
    """Each query's and each whole page's p50 and p95 over ``rounds`` rounds."""
    runs = queries(storage, now)
    with asyncio.Runner() as runner:
        for compare in (False, True):
            view = View(SITE, period="12mo", compare=compare)
            name = "whole page with compare, load()" if compare else "whole page, load()"
            runs[name] = lambda view=view: runner.run(load(storage, settings, view, now))  # type: ignore[misc]
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_number in range(rounds + 1):
            for name, run in runs.items():
                began = time.perf_counter()
                run()
                if round_number:  # round 0 warms caches up
                    times[name].append(time.perf_counter() - began)
    width = max(len(name) for name in times) + 2
    print(f"{'12-month page'.ljust(width)}{'p50 ms':>9}{'p95 ms':>9}")
    for name, values in times.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"{name.ljust(width)}{statistics.median(values) * 1000:9.1f}{p95 * 1000:9.1f}")


def run(rounds: int) -> None:
    """The whole scenario, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="cg-bench-history-") as folder:
        storage = Storage(f"chdb://{Path(folder).resolve()}")
        migrate(storage)
        rows, seconds = generate(storage)
        print(
            f"{rows:,} history rows over {DAYS} days for one site, written in {seconds:.1f} s; "
            f"{rounds} rounds of the 12-month page:\n"
        )
        settings = load_settings(
            environ={
                "CG_UPSTREAM": f"http://{SITE}",
                "CG_SECRET_KEY": "b" * 40,
                "CG_CLICKHOUSE_DSN": storage.dsn,
            },
            env_file=None,
        )
        measure(storage, settings, datetime.now(UTC), rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    run(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
