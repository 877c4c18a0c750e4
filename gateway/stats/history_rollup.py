"""Writing the anonymous history: each finished day of ``stats_daily`` as plain counts.

:func:`roll_history` appends to ``stats_history`` (migration ``0018_stats_history.sql``)
every day that ``stats_daily`` holds and the history does not yet, with the k rule
applied before anything is stored: a value that fewer than ``k`` visitors saw that
day is folded into its dimension's ``(other)`` row (its visitors counted once, from
the day's sketches), and a row still under ``k`` is left out. :class:`HistoryRoller`
runs it in every gateway process, at start-up and then hourly: a gateway's own task
rather than a refreshable view because ``k`` is a setting, and because writing the
same day twice (two workers, two machines) is harmless, as the table keeps one row of
each key. Days whose events came late are taken out (:func:`forget_from`) and rolled
again once ``stats_daily`` holds them whole.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date

from gateway.stats.rollup import refreshing
from gateway.storage import Storage

logger = logging.getLogger("gateway.stats")

HISTORY_DIMS = (
    "",
    "visit",
    "page",
    "entry_page",
    "exit_page",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "country",
    "region",
    "browser",
    "os",
    "device",
)
"""The dimensions kept: the dashboard's panels, less cities (finer than anyone needs a
year on) and the page-to-page navigation."""

TOTALS = ("", "visit")
"""The whole-site rows, which are never folded (a day under ``k`` is left out whole)."""

_ROLL = """
INSERT INTO stats_history (site, day, dim, value, visitors, visits, pageviews, sessions,
    bounces, duration)
WITH
    (SELECT max(day) FROM stats_daily) AS rolled,
    (SELECT max(day) FROM stats_history) AS written
SELECT
    site, day, dim, folded,
    uniqCombined64Merge(visitor_states) AS visitors,
    uniqCombined64Merge(visit_states) AS visits,
    sum(pageviews), sum(sessions), sum(bounces), sum(duration)
FROM (
    SELECT
        site, day, dim, value,
        uniqCombined64MergeState(visitors) AS visitor_states,
        uniqCombined64MergeState(visits) AS visit_states,
        finalizeAggregation(visitor_states) AS own,
        if(own < {k:UInt64} AND dim NOT IN {totals:Array(String)}, '(other)', value) AS folded,
        sum(pageviews) AS pageviews, sum(sessions) AS sessions,
        sum(bounces) AS bounces, sum(duration) AS duration
    FROM stats_daily
    WHERE day > written AND day <= rolled AND dim IN {dims:Array(String)}
    GROUP BY site, day, dim, value
)
GROUP BY site, day, dim, folded
HAVING visitors >= {k:UInt64}
"""


def roll_history(storage: Storage, k: int, wait: float = 60) -> bool:
    """Append every day ``stats_daily`` holds after the history's newest; whether it ran.

    A running ``stats_daily`` refresh (which appends as it goes) is waited for, up to
    ``wait`` seconds; past that this call gives up and the next one, an hour later,
    rolls what it left.
    """
    client = storage.connect()
    try:
        deadline = time.monotonic() + wait
        while refreshing(client):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        client.command(
            _ROLL,
            parameters={"k": max(k, 1), "dims": list(HISTORY_DIMS), "totals": list(TOTALS)},
        )
    finally:
        client.close()
    return True


def forget_from(storage: Storage, first: date) -> None:
    """Take the days from ``first`` on out of the history, for the next roll to write again.

    For late events (:mod:`gateway.analytics.stale_days`): ``stats_daily`` rolls those
    days up again with them, and the history must follow. Never for an erasure, which
    has nothing to take from here. Only days ``stats_daily`` still holds may be passed.
    """
    suffix = "_local" if storage.cluster else ""
    on_cluster = f" ON CLUSTER {storage.cluster}" if storage.cluster else ""
    client = storage.connect()
    try:
        client.command(
            f"DELETE FROM stats_history{suffix}{on_cluster} WHERE day >= {{first:Date}}",  # noqa: S608
            parameters={"first": first},
        )
    finally:
        client.close()


class HistoryRoller:
    """A thread that rolls the history up at start-up and every ``interval`` seconds."""

    def __init__(self, storage: Storage, k: int, interval: float = 3600) -> None:
        self.storage = storage
        self.k = k
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="history-rollup", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; a roll in progress finishes in the engine or is redone later."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                roll_history(self.storage, self.k, wait=0)  # busy: the next round rolls it
            except Exception as error:  # ClickHouse away: the next round tries again
                logger.warning("rolling up the anonymous history failed (%s)", error)
            self._stop.wait(self.interval)
