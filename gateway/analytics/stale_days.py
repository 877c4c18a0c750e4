"""Rolled-up days that some of their events reached late: roll them up again.

``stats_daily`` rolls a day up by 03:00 UTC the next day, and queries then read
that day from the rollup only. Events replayed from the spool or a dead
process's journal after that would be left out of every answer about their day.
So the writer hands each late batch to :meth:`StaleDays.note`; a thread checks
whether its first day is rolled up already and, if so, rolls up every day from
it again (:func:`~gateway.stats.rollup.rebuild_from`), after any refresh in
progress. The pending day is kept in a small file beside the spool, so a stop
in between does not forget it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gateway.analytics.events import earliest_time
from gateway.stats.funnel_days import forget_funnel_days
from gateway.stats.history_rollup import forget_from
from gateway.stats.rollup import rebuild_from, refreshing
from gateway.storage import Storage

logger = logging.getLogger("gateway.stats")

RETRY_SECONDS = 60.0  # after a failed check or rebuild (ClickHouse away again)
POLL_SECONDS = 0.2  # while a refresh that may have missed the batch still runs


class StaleDays:
    """Rolls up again the days that late batches of events belong to, in a thread.

    ``marker`` is the file that keeps the first such day across a stop.
    """

    def __init__(self, storage: Storage, marker: Path, retry_seconds: float = RETRY_SECONDS):
        self.storage = storage
        self.marker = marker
        self.retry_seconds = retry_seconds
        self.rebuilds = 0  # days rolled up again, counted per rebuild (for tests and logs)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._working: date | None = None  # the day a check or rebuild started from
        self._pending = self._read_marker()
        if self._pending is not None:
            self._wake.set()

    @property
    def settled(self) -> bool:
        """Whether no day waits to be checked or rolled up again."""
        with self._lock:
            return self._pending is None and self._working is None

    def note(self, lines: list[bytes] | bytes) -> None:
        """A batch of encoded events went in late; safe from any thread, never raises."""
        try:
            earliest = earliest_time(lines)
        except Exception:
            logger.exception("reading a late batch's first day failed")
            return
        if earliest is None:
            return
        day = datetime.fromtimestamp(earliest, UTC).date()
        with self._lock:
            if self._pending is None or day < self._pending:
                self._pending = day
                self._keep()
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stale-days", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; a rebuild still running is left to the engine, and its first
        day stays in the marker for the next start."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                day, self._pending, self._working = self._pending, None, self._pending
            if day is None:
                continue
            try:
                done = self._settle(day)
            except Exception as error:
                logger.warning(
                    "rolling up again the days from %s, which events reached late, failed "
                    "(%s); next try in %.0f s",
                    day,
                    error,
                    self.retry_seconds,
                )
                done = False
            with self._lock:
                self._working = None
                if not done:
                    self._pending = day if self._pending is None else min(day, self._pending)
                self._keep()
                again = self._pending is not None
            if not done and not self._stopping:
                self._wake.wait(self.retry_seconds)  # or sooner: close() or a new note
            if again:
                self._wake.set()

    def _settle(self, day: date) -> bool:
        """Roll up again from ``day`` if a refresh rolled it up without the late rows;
        whether that is settled (``False``: stopped first)."""
        client = self.storage.connect()
        try:
            while refreshing(client):
                if self._stopping:
                    return False
                time.sleep(POLL_SECONDS)
            first, last = client.query("SELECT min(day), max(day) FROM stats_daily").result_rows[0]
        finally:
            client.close()
        if day > last:  # not rolled up yet (an empty table's max is 1970-01-01)
            return True
        if self._stopping:
            return False
        day = max(day, first)  # the days before expired, or were never rolled up
        logger.info("events of %s arrived after it was rolled up; rolling up again from it", day)
        rebuild_from(self.storage, day)
        forget_from(self.storage, day)  # the history rolls those days up again too
        # A funnel counts a visit on its first step's day: one begun the day before too.
        forget_funnel_days(self.storage, day - timedelta(days=1))
        self.rebuilds += 1
        return True

    def _read_marker(self) -> date | None:
        try:
            return date.fromisoformat(self.marker.read_text().strip())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:  # unreadable: check every rolled day
            logger.warning("%s is unreadable (%s); checking every rolled day", self.marker, error)
            return date(1970, 1, 1)

    def _keep(self) -> None:
        """Write the first day still to do to the marker, or remove it; under the lock."""
        first = min((d for d in (self._pending, self._working) if d is not None), default=None)
        try:
            if first is None:
                self.marker.unlink(missing_ok=True)
                return
            partial = self.marker.with_name(self.marker.name + ".tmp")
            partial.write_text(first.isoformat() + "\n")
            os.replace(partial, self.marker)
        except OSError as error:  # a full disk: still done in this process's lifetime
            logger.warning("could not keep %s (%s)", self.marker, error)
