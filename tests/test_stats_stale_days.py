"""Events that reach ClickHouse after their day was rolled up are rolled up again.

The scripted visits are written and rolled up; then one more visit on the day
before day D (always rolled up: it ended more than 24 hours ago) arrives late,
as it does after an outage past 03:00 UTC: spooled by a writer that could not
reach ClickHouse and replayed by the next, or left in the journal of a process
that died. The whole day's answer, read from the rollup, must count it, as
the raw events do. A late batch of today's events rolls nothing up again, and
a day still to be rolled up again when the process stops is rolled up by the
next start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.analytics.service import Analytics
from gateway.analytics.spool import Spool
from gateway.analytics.stale_days import StaleDays
from gateway.analytics.writer import EventWriter
from gateway.stats import StatsQuery, aggregate
from gateway.stats.rollup import refresh
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.chdb import migrated_storage
from tests.conftest import make_settings
from tests.servers import free_port
from tests.stats_visits import LONDON, SITE, _e, day_d, encode_events, write_scripted_visits

FIGURES = ["visitors", "visits", "pageviews"]
BEFORE_LATE = {"visitors": 1, "visits": 1, "pageviews": 1}  # visitor E on D-1
AFTER_LATE = {"visitors": 2, "visits": 2, "pageviews": 3}  # and G's two page views


def _late_day() -> datetime:
    return day_d() - timedelta(days=1)


def _late_visit(day: datetime) -> list[bytes]:
    return encode_events(
        [
            _e("s7", "G", FIREFOX, "/", day, "15:00", LONDON),
            _e("s7", "G", FIREFOX, "/blog", day, "15:01", LONDON, referrer="http://x.test/"),
        ]
    )


def _answer(storage: Storage, day: datetime) -> dict[str, float]:
    """The whole day's figures: read from the rollup once the day is rolled up."""
    return aggregate(storage, StatsQuery(SITE, day, day + timedelta(days=1)), FIGURES)


def _raw_answer(storage: Storage, day: datetime) -> dict[str, float]:
    """The same figures from the raw events (a part-day question is never rolled up)."""
    return aggregate(storage, StatsQuery(SITE, day, day + timedelta(hours=23)), FIGURES)


def _settle(stale: StaleDays, rebuilds: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (stale.settled and stale.rebuilds >= rebuilds):
        assert time.monotonic() < deadline, "the late day was not rolled up again"
        time.sleep(0.1)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    storage = migrated_storage()
    write_scripted_visits(storage, tmp_path / "first")
    refresh(storage)
    assert _answer(storage, _late_day()) == BEFORE_LATE
    return storage


def _outage(spool: Path, late: list[bytes]) -> None:
    """A writer that cannot reach ClickHouse spools ``late`` and stops."""
    down = Storage(f"http://127.0.0.1:{free_port()}/db", connect_timeout=0.5)
    writer = EventWriter(down, Spool(spool), flush_interval=3600)
    writer.start()
    for line in late:
        writer.put(line)
    writer.close()
    assert writer.spooled == len(late)


@contextmanager
def _next_start(
    storage: Storage, spool: Path, tmp_path: Path
) -> Iterator[tuple[EventWriter, StaleDays]]:
    """The gateway's analytics start-up on ``spool`` (:meth:`Analytics.open`), with the
    writer's first round run at once: it replays what the stopped process left."""
    settings = make_settings("http://127.0.0.1:9", tmp_path, spool_dir=spool)
    analytics = Analytics(settings, storage=storage)
    asyncio.run(analytics.open())
    try:
        analytics.flush()
        assert analytics.writer is not None and analytics.stale_days is not None
        yield analytics.writer, analytics.stale_days
    finally:
        asyncio.run(analytics.close())


def test_a_replayed_batch_of_a_rolled_day_is_rolled_up_again(
    storage: Storage, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    _outage(spool, _late_visit(_late_day()))
    with _next_start(storage, spool, tmp_path) as (writer, stale):
        _settle(stale, rebuilds=1)
        assert writer.replayed == 2
        assert _raw_answer(storage, _late_day()) == AFTER_LATE
        assert _answer(storage, _late_day()) == AFTER_LATE
        assert not (spool / "events-0.stale-day").exists()


def test_a_dead_process_journal_of_a_rolled_day_is_rolled_up_again(
    storage: Storage, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    dead = EventWriter(storage, Spool(spool), flush_interval=3600)
    for line in _late_visit(_late_day()):
        dead.put(line)  # acknowledged, never inserted: the process dies here
    dead.spool.close()  # what the kernel does to a dead process's lock
    with _next_start(storage, spool, tmp_path) as (_writer, stale):
        _settle(stale, rebuilds=1)
        assert _answer(storage, _late_day()) == AFTER_LATE


def test_a_late_batch_of_today_rolls_nothing_up_again(storage: Storage, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    _outage(spool, _late_visit(today))
    with _next_start(storage, spool, tmp_path) as (writer, stale):
        _settle(stale, rebuilds=0)
        assert writer.replayed == 2
        assert stale.rebuilds == 0
        assert _answer(storage, _late_day()) == BEFORE_LATE


def test_a_day_left_to_roll_up_again_at_a_stop_is_rolled_up_by_the_next_start(
    storage: Storage, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    # The late rows went in, and the process stopped before rolling their day up again.
    writer = EventWriter(storage, Spool(spool), flush_interval=3600)
    writer.start()
    for line in _late_visit(_late_day()):
        writer.put(line)
    writer.close()
    (spool / "events-0.stale-day").write_text(_late_day().date().isoformat() + "\n")
    assert _answer(storage, _late_day()) == BEFORE_LATE  # the rollup lacks them

    with _next_start(storage, spool, tmp_path) as (_writer, stale):
        _settle(stale, rebuilds=1)
        assert _answer(storage, _late_day()) == AFTER_LATE
        assert not (spool / "events-0.stale-day").exists()
