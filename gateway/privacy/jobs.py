"""The running gateway's erasure jobs: one at a time, a bounded queue, a status per job.

An erasure rewrites parts, rolls days up again and waits for the old parts to
leave the disk, on the ClickHouse everyone shares. So a process runs one at a
time, in order, with at most :data:`MAX_QUEUED` waiting; past that the erase
route answers 429 with ``Retry-After`` before logging or deleting anything.
Job status (``queued``, ``running``, ``retrying``, ``done``, ``failed``) lives in
memory for the :data:`MAX_JOBS` newest.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.privacy.erasure import erase_everywhere
from gateway.storage import Storage

logger = logging.getLogger("gateway.privacy")

MAX_QUEUED = 10  # erasures waiting behind the running one; a few minutes of work at most
MAX_JOBS = 1000  # finished jobs kept for their status page; the oldest go first
ATTEMPTS = 6  # 1 + 2 + 4 + 8 + 16 s between them: about half a minute of ClickHouse away
FIRST_GUESS = 5.0  # seconds one erasure takes, until one has been timed
MAX_RETRY_AFTER = 300


@dataclass
class Job:
    """One visitor erasure, queued or running in the background, or finished."""

    id: str
    state: str = "queued"  # queued, running, retrying, done, failed
    queued: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    deleted: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """What the status endpoint shows: the state and row counts, never the visitor."""
        return {"erasure": self.id, "state": self.state, "deleted": self.deleted}


@dataclass
class _Work:
    job: Job
    storage: Storage
    consent_id: str
    before: Callable[[], None]


class ErasureJobs:
    """The erasures of one process, run one at a time from a bounded queue."""

    def __init__(self, max_queued: int = MAX_QUEUED) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.max_queued = max_queued
        # Made on the first erasure, on the loop that serves it, and let go at close.
        self._queue: asyncio.Queue[_Work] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._typical = FIRST_GUESS

    def full(self) -> bool:
        """Whether every place in the queue is taken (then :meth:`start` must not be called)."""
        return self._queue is not None and self._queue.full()

    def retry_after(self) -> int:
        """Whole seconds until a place is likely free: about one erasure's time."""
        return min(MAX_RETRY_AFTER, max(1, math.ceil(self._typical)))

    def start(
        self, storage: Storage, consent_id: str, before: Callable[[], None] = lambda: None
    ) -> Job:
        """Queue the erasure of ``consent_id``'s rows; ``before`` runs first (a writer flush).

        Raises :class:`asyncio.QueueFull` when :meth:`full`: check that first, before
        anything the erasure must not do without its job.
        """
        if self._queue is None:
            self._queue = asyncio.Queue(self.max_queued)
        job = Job(secrets.token_urlsafe(16))
        self._queue.put_nowait(_Work(job, storage, consent_id, before))
        self.jobs[job.id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(self._queue))
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def close(self) -> None:
        """Carry out the queued erasures, then stop (at shutdown): each was promised."""
        if self._queue is None or self._worker is None:
            return
        await self._queue.join()
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._queue = self._worker = None

    async def _work(self, queue: asyncio.Queue[_Work]) -> None:
        while True:
            work = await queue.get()
            try:
                await self._run(work)
            except Exception:  # never leave the queue without its worker
                logger.exception("erasure %s: unexpected error", work.job.id)
                work.job.state, work.job.finished = "failed", time.time()
            finally:
                queue.task_done()

    async def _run(self, work: _Work) -> None:
        job, storage = work.job, work.storage
        job.state, job.started = "running", time.time()
        delay = 1.0
        for attempt in range(ATTEMPTS):
            try:
                await storage.run(work.before)
                job.deleted = await storage.run(lambda: erase_everywhere(storage, work.consent_id))
            except Exception as error:  # ClickHouse away or refusing: try again shortly
                job.state = "retrying"
                logger.warning("erasure %s: attempt %d failed (%s)", job.id, attempt + 1, error)
                await asyncio.sleep(delay)
                delay *= 2
                continue
            job.state, job.finished = "done", time.time()
            # A running mean of the last few erasures' times, for Retry-After.
            self._typical += (job.finished - job.started - self._typical) / 4
            return
        job.state, job.finished = "failed", time.time()
