"""The row writer: a bounded in-memory queue, a background thread, and the spool.

One writer serves one table (``events``, ``consent_log``, ``consent_counts``), so
every table the request path fills gets the same guarantees: the request never
waits on ClickHouse, and nothing accepted is lost. ``put_many`` only appends to
the :class:`~gateway.analytics.journal.Journal` and a deque; a thread inserts
what waits every ``flush_interval`` seconds or at ``batch_size`` lines.

A failed insert goes to the :class:`~gateway.analytics.spool.Spool`, and while
the spool holds anything new batches queue behind it, so replay keeps the order
events were accepted in. Each batch keeps one insert deduplication token through
every retry, so ClickHouse stores it once. Batches inserted late go to the
``late`` callback: their days may already be rolled up
(:mod:`gateway.analytics.stale_days`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from gateway.analytics.events import COLUMNS
from gateway.analytics.journal import Journal, Sealed
from gateway.analytics.spool import Spool
from gateway.histograms import BATCH_BOUNDS, Buckets
from gateway.settings import Settings
from gateway.storage import Storage

logger = logging.getLogger("gateway.analytics")

INSERT_SETTINGS = {
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # A line spooled or journaled before an upgrade added columns (at the end) still
    # inserts: the columns it lacks take their defaults.
    "input_format_json_compact_allow_variable_number_of_columns": 1,
}
# Under a backlog, queued events go in inserts of up to this many (or batch_size if
# larger): every insert costs ClickHouse new parts in two tables, so large inserts
# are what lets a backlog drain fast.
MAX_INSERT = 50_000
MIN_BACKOFF = 1.0
MAX_BACKOFF = 30.0


class EventWriter:
    """Queues encoded rows and writes them to ``table`` from a background thread.

    ``columns`` names the columns each ``JSONCompactEachRow`` line fills, in order.
    """

    def __init__(
        self,
        storage: Storage,
        spool: Spool,
        *,
        flush_interval: float = 1.0,
        batch_size: int = 5000,
        max_queue: int = 50_000,
        table: str = "events",
        columns: tuple[str, ...] = COLUMNS,
        late: Callable[[list[bytes] | bytes], None] | None = None,
    ) -> None:
        self.storage = storage
        self.spool = spool
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_queue = max(max_queue, batch_size)
        self.table = table
        self.columns = list(columns)
        self.late = late
        self.written = 0  # events inserted straight from the queue
        self.spooled = 0  # events that went to the spool
        self.replayed = 0  # events inserted from the spool
        self.batches = Buckets(BATCH_BOUNDS)  # events per successful insert, for /metrics
        self._queue: deque[bytes] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._retry_at = 0.0
        self._backoff = MIN_BACKOFF
        self._draining = threading.Lock()  # one drain at a time: thread, flush or close
        self._overflow = threading.Lock()
        # Held while a line goes into the journal and the queue, and while both are
        # cut, so the queue always holds exactly the current journal file's lines.
        self._cutting = threading.Lock()
        self._journal = Journal(spool)

    @property
    def queued(self) -> int:
        """Events waiting in memory."""
        return len(self._queue)

    def put(self, line: bytes) -> None:
        """Journal and queue one encoded event; never blocks on ClickHouse."""
        self.put_many((line,))

    def put_many(self, lines: Sequence[bytes]) -> None:
        """Journal and queue encoded events, in one journal write; never blocks on
        ClickHouse. The ingest steps hand over each batch of page views, and each
        beacon's events, this way."""
        queue = self._queue
        with self._cutting:
            self._journal.append(lines)
            queue.extend(lines)
            size = len(queue)
        if size >= self.batch_size:
            if size >= self.max_queue:
                self._spool_overflow()
            self._wake.set()

    def start(self) -> None:
        """Start the background thread."""
        self._thread = threading.Thread(target=self._run, name=f"writer-{self.table}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread after a last flush; whatever cannot be inserted is spooled."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._drain(final=True)  # anything put after the thread's last look
        if self._client is not None:
            self._client.close()
            self._client = None
        self._journal.close()
        self.spool.close()

    def flush(self) -> None:
        """Write everything queued now, in the caller's thread (for tests and benchmarks)."""
        self._drain(final=False, ignore_backoff=True)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._drain(final=False)
            except Exception:  # the thread must outlive any surprise; the data is spooled
                logger.exception("event writer cycle failed")
        self._drain(final=True)

    def _drain(self, final: bool, ignore_backoff: bool = False) -> None:
        with self._draining:
            available = ignore_backoff or time.monotonic() >= self._retry_at
            if available and self.spool.pending:
                available = self._replay()
            # Left by a process that died: older than anything queued now.
            while self._journal.leftovers:
                sealed = self._journal.leftovers[0]
                available = self._write(sealed.lines(), sealed, available, leftover=True)
                self._journal.leftovers.pop(0)
            # Only what is queued now, except at the end: events arriving during the
            # inserts wait for the next cycle, so a busy site gets one insert per
            # interval rather than a stream of small ones back to back (each insert
            # has a fixed cost to the engine, whatever its size).
            while True:
                lines, journal_file = self._cut()
                if journal_file is not None:
                    available = self._write(lines, journal_file, available)
                if not final or not self._queue:
                    break
            if final and self.spool.pending:
                logger.warning(
                    "event writer stopped with %d events spooled in %s; they are replayed "
                    "at the next start",
                    self.spool.pending_events(),
                    self.spool.path,
                )

    def _cut(self) -> tuple[list[bytes], Sealed | None]:
        """Everything queued, and the journal file that holds exactly those lines."""
        with self._cutting:
            if not self._queue:
                return [], None
            lines = list(self._queue)
            self._queue.clear()
            return lines, self._journal.seal()

    def _write(
        self, lines: list[bytes], sealed: Sealed, available: bool, leftover: bool = False
    ) -> bool:
        """Insert ``lines`` in batches, or spool them once an insert fails; then forget
        their journal file. Returns whether ClickHouse is still taking inserts.
        ``leftover``: the lines are a dead process's, so they go in late."""
        size = max(self.batch_size, MAX_INSERT)
        for chunk, start in enumerate(range(0, len(lines), size)):
            batch = lines[start : start + size]
            token = sealed.token(chunk)
            if available and not self.spool.pending and self._insert(token, batch):
                self.written += len(batch)
                if leftover:
                    self._inserted_late(batch)
                continue
            available = False
            self.spool.append(token, batch)
            self.spooled += len(batch)
        self._journal.discard(sealed)
        return available

    def _spool_overflow(self) -> None:
        """The queue is full: move it to the spool from the caller's thread."""
        if not self._overflow.acquire(blocking=False):
            return  # another caller is moving the queue to the spool right now
        try:
            lines, sealed = self._cut()
            if sealed is not None:
                self._write(lines, sealed, available=False)
        finally:
            self._overflow.release()

    def _replay(self) -> bool:
        """Insert spooled batches in order; whether the spool is now empty."""
        for record in self.spool.replay():
            if not self._insert(record.token, record.body):
                return False
            self.spool.done(record)
            self.replayed += record.count
            self._inserted_late(record.body)
            logger.info("replayed %d spooled events", record.count)
        return True

    def _inserted_late(self, lines: list[bytes] | bytes) -> None:
        """Tell :attr:`late` of a batch inserted after its events were accepted by more
        than a flush interval (its days may be rolled up already)."""
        if self.late is not None:
            try:
                self.late(lines)
            except Exception:  # the writer must go on; the rows are in ClickHouse
                logger.exception("reporting a late batch failed")

    def _insert(self, token: str, lines: list[bytes] | bytes) -> bool:
        body = lines if isinstance(lines, bytes) else b"\n".join(lines)
        settings: dict[str, Any] = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        try:
            if self._client is None:
                self._client = self.storage.connect()
            self._client.raw_insert(
                self.table, self.columns, body, settings=settings, fmt="JSONCompactEachRow"
            )
        except Exception as error:
            self._failed(error)
            return False
        self._backoff = MIN_BACKOFF
        self._retry_at = 0.0
        self.batches.observe(len(lines) if isinstance(lines, list) else body.count(b"\n") + 1)
        return True

    def _failed(self, error: Exception) -> None:
        logger.warning(
            "ClickHouse insert failed (%s); spooling, next try in %.0f s",
            type(error).__name__,
            self._backoff,
        )
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                logger.debug("closing a failed ClickHouse client failed", exc_info=True)
            self._client = None
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)


def spool_folder(settings: Settings) -> Path:
    """Where rows wait on disk while ClickHouse is away: ``CG_SPOOL_DIR``, else
    ``<CG_DATA_DIR>/spool``."""
    return Path(settings.spool_dir or Path(settings.data_dir) / "spool")


def table_writer(
    storage: Storage, settings: Settings, table: str, columns: tuple[str, ...]
) -> EventWriter:
    """A started writer of ``table`` (not the events) with the deployment's batching
    settings, spooling beside the events: the consent log, the inventories."""
    writer = EventWriter(
        storage,
        Spool(spool_folder(settings), table),
        flush_interval=settings.flush_interval,
        batch_size=settings.flush_batch_size,
        max_queue=settings.queue_max_events,
        table=table,
        columns=columns,
    )
    writer.start()
    return writer
