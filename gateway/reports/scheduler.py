"""Scheduled reports: a task in each gateway process, one sender per report however many.

Every ``CHECK_EVERY`` seconds (and at start-up) the task looks at the recipient
lists of the sites this deployment serves and of the trust (all of them). A list's
report for its last whole week or month is due from ``CG_REPORT_HOUR`` (UTC) on the
Monday or the 1st after it, if the list existed when that period ended. Before sending, the task
claims it in ClickHouse (``report_claims``: site, list, period): it writes its
own claim, waits for other writers' claims to land, reads them back, and sends
only if its claim is the earliest. Every worker and machine on one database
sees the same claims, so exactly one sends, and a report once claimed is never
sent again, even after a restart. A failed send is logged and audited, not
retried: ``consent-gateway report send`` sends it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta

from gateway.clock import Clock
from gateway.exceptions import GatewayError, ReportError, SettingsError
from gateway.reports.figures import Period, last_complete
from gateway.reports.lists import TRUST, ReportList, list_report_lists
from gateway.reports.sending import send_report
from gateway.reports.unsubscribe import Unsubscribe, public_address
from gateway.settings import Settings
from gateway.sites import site_ids
from gateway.storage import Storage
from gateway.storage.threads import thread_client

logger = logging.getLogger("gateway.reports")

CHECK_EVERY = 300.0  # seconds between two looks at the lists
SETTLE = 3.0  # seconds a claim waits for the claims of other machines to land
_COLUMNS = ["site", "list_id", "period_start", "claimant", "claimed"]


def due(one: ReportList, now: datetime, hour: int) -> Period | None:
    """The period whose report ``one`` should have by ``now``, or ``None``."""
    period = last_complete(one.period, now)
    if one.created >= period.end or now < period.end + timedelta(hours=hour):
        return None
    return period


def claimed(storage: Storage, one: ReportList, period: Period) -> bool:
    """Whether some sender has claimed the list's report for ``period``."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT count() FROM report_claims WHERE site = {site:String} "
            "AND list_id = {id:String} AND period_start = {start:Date}",
            parameters={"site": one.site, "id": one.id, "start": period.first.isoformat()},
        )
        .result_rows
    )
    return bool(rows[0][0])


def claim(
    storage: Storage, one: ReportList, period: Period, claimant: str, now: datetime, settle: float
) -> bool:
    """Write a claim for the list's report, wait ``settle`` seconds, and say whether it is
    the earliest (by time, then claimant): the one that sends."""
    client = thread_client(storage)
    row = [one.site, one.id, period.first, claimant, now]
    # On a cluster, the insert returns once every shard has the row, not when it is queued.
    synchronous = {"insert_distributed_sync": 1} if storage.cluster else None
    client.insert("report_claims", [row], column_names=_COLUMNS, settings=synchronous)
    time.sleep(settle)
    first = client.query(
        "SELECT claimant FROM report_claims WHERE site = {site:String} AND list_id = {id:String} "
        "AND period_start = {start:Date} ORDER BY claimed, claimant LIMIT 1",
        parameters={"site": one.site, "id": one.id, "start": period.first.isoformat()},
    ).result_rows
    return bool(first) and first[0][0] == claimant


class ReportScheduler:
    """The task of one gateway process; ``start`` and ``stop`` are its lifespan hooks."""

    def __init__(self, settings: Settings, storage: Storage, clock: Clock) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.links = Unsubscribe(settings, clock)
        self.claimant = secrets.token_hex(8)
        # One process owns an embedded folder, so nobody else can claim there.
        self.settle = 0.0 if storage.embedded else SETTLE
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.settings.smtp_url is not None and bool(self.settings.report_from)

    async def start(self) -> None:
        """Start the task when reports are configured; a report could not link to its
        unsubscribe page without the site's public address, so that stops start-up."""
        if self.enabled:
            try:
                public_address(self.settings)
            except ReportError as error:
                raise SettingsError(str(error)) from None
            self._task = asyncio.create_task(self._loop(), name="report-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.storage.run(self.run_once)
            except Exception:  # a mail server or ClickHouse away: try again next time
                logger.exception("scheduled reports failed; trying again in %d s", CHECK_EVERY)
            await asyncio.sleep(CHECK_EVERY)

    def run_once(self) -> int:
        """Send every report that is due and unclaimed (blocking); how many were sent."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        sites = {*site_ids(self.settings), TRUST}
        sent = 0
        for one in list_report_lists(self.storage):
            period = due(one, now, self.settings.report_hour)
            if one.site not in sites or period is None or not one.recipients:
                continue
            if claimed(self.storage, one, period):
                continue
            if not claim(self.storage, one, period, self.claimant, now, self.settle):
                continue
            try:
                send_report(
                    self.storage,
                    self.settings,
                    self.links,
                    one.site,
                    period,
                    one.recipients,
                    list_id=one.id,
                )
            except GatewayError as error:
                logger.error("report of %s for %s not sent: %s", one.site, period.label, error)
                continue
            sent += 1
            logger.info("sent the %s report of %s for %s", one.name, one.site, period.label)
        self.sent += sent
        return sent
