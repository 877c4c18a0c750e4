"""The analytics feature assembled: storage, ingest steps, writer, recorder, beacon.

``create_app`` makes one :class:`Analytics`, adds :attr:`Analytics.recorder`
to the proxy's observers and the beacon route to its own routes, and runs
:meth:`open` at start-up and :meth:`close` at shutdown. ``open`` applies the
schema migrations (so an unreachable ClickHouse stops start-up with the DSN in
the message) and starts the writer and the history's rollup; ``close`` flushes or spools everything
queued. The object lives on ``app.state.analytics``.
"""

from __future__ import annotations

import asyncio

from gateway.analytics.events import Event
from gateway.analytics.pageviews import PageViewRecorder
from gateway.analytics.spool import Spool
from gateway.analytics.stale_days import StaleDays
from gateway.analytics.steps import DropReason, Pipeline, default_pipeline
from gateway.analytics.writer import EventWriter, spool_folder
from gateway.geo import GeoLookup
from gateway.settings import Settings
from gateway.sites import site_id
from gateway.stats.history_rollup import HistoryRoller
from gateway.storage import Storage, storage_from_settings
from gateway.storage.migrator import migrate


class Analytics:
    """Everything analytics needs for the gateway's lifetime."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: Storage | None = None,
        geo: GeoLookup | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage or storage_from_settings(settings)
        self.site = site_id(settings)
        self.beacon_max_bytes = settings.beacon_max_bytes
        self.beacon_max_events = settings.beacon_max_events
        self._geo = geo
        self.writer: EventWriter | None = None
        self.stale_days: StaleDays | None = None
        self.history: HistoryRoller | None = None
        # Until open() the steps exist but write nowhere: the recorder and the beacon
        # are wired before start-up, and nothing reaches them before it completes.
        self.pipeline: Pipeline = default_pipeline(self._not_open, None)
        self.recorder = PageViewRecorder(self.pipeline, self.site, settings.download_types)

    @staticmethod
    def _not_open(lines: list[bytes]) -> None:
        raise RuntimeError("analytics used before start-up")

    async def open(self) -> None:
        """Migrate the schema, open the spool and start the writer (at start-up)."""
        await asyncio.to_thread(migrate, self.storage)
        spool = await asyncio.to_thread(Spool, spool_folder(self.settings))
        # Before the writer: its first round replays what a stopped process left.
        stale_days = StaleDays(self.storage, spool.path.with_suffix(".stale-day"))
        stale_days.start()
        self.stale_days = stale_days
        writer = EventWriter(
            self.storage,
            spool,
            flush_interval=self.settings.flush_interval,
            batch_size=self.settings.flush_batch_size,
            max_queue=self.settings.queue_max_events,
            late=stale_days.note,
        )
        writer.start()
        self.writer = writer
        history = HistoryRoller(self.storage, self.settings.stats_min_visitors)
        history.start()  # the 25-month anonymous history, rolled up hourly
        self.history = history
        self.pipeline.replace(default_pipeline(writer.put_many, self._geo))

    async def close(self) -> None:
        """Flush or spool everything queued (at shutdown, SIGTERM included)."""
        self.recorder.close()  # the page views waiting for their batch, into the queue
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
            self.writer = None
        if self.stale_days is not None:
            await asyncio.to_thread(self.stale_days.close)
            self.stale_days = None
        if self.history is not None:
            await asyncio.to_thread(self.history.close)
            self.history = None

    @property
    def queued(self) -> int:
        """Events in memory: page views waiting for their batch and the writer's queue."""
        return self.recorder.waiting + (self.writer.queued if self.writer is not None else 0)

    def flush(self) -> None:
        """Write every waiting page view and queued event now, from any thread (for
        tests and benchmarks; an erasure uses
        :func:`~gateway.privacy.erasure.settle_analytics`, which also checks the spool)."""
        self.recorder.flush()
        if self.writer is not None:
            self.writer.flush()

    def count_unconsented(self, events: int) -> None:
        """Count beacon events turned away for want of consent."""
        self.pipeline.dropped[DropReason.NO_CONSENT] += events

    def process(self, event: Event) -> DropReason | None:
        """Run one event through the steps (for callers outside the proxy and beacon)."""
        return self.pipeline.process(event)
