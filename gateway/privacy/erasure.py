"""Erasing one visitor: the consent log entry, the deletes, and the wait until they are on disk.

Two ways in, one piece of work. The visitor's ``POST /_consent/privacy/erase``
chains the erasure entry from the head in their cookie and runs the deletes as a
background job (:class:`gateway.privacy.jobs.ErasureJobs`), after flushing the
analytics writer so no waiting event lands after the delete. The operator's
``consent-gateway erase`` (:func:`operator_erase`) chains from the newest stored
entry and deletes again once writers have written what they held. Either way the
rows end up gone from the data folder (:mod:`gateway.privacy.purge`). The entry
records the fact and time only: no IP, browser or country.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway.analytics.events import visitor_key
from gateway.analytics.service import Analytics
from gateway.analytics.writer import EventWriter
from gateway.clock import system_clock
from gateway.commands import Context
from gateway.consent import build_consent
from gateway.consent.log import COUNT_COLUMNS, ConsentLog
from gateway.consent.proof import COLUMNS, LogEntry
from gateway.consent.state import Choice, check_consent_id
from gateway.exceptions import StorageError
from gateway.privacy.purge import erasure_tables, wait_until_gone
from gateway.privacy.store import erase_rows, last_entry
from gateway.stats.funnel_days import forget_funnel_days
from gateway.stats.rollup import rebuild_from, visitor_first_day
from gateway.storage import Storage

logger = logging.getLogger("gateway.privacy")


def settle_writer(writer: EventWriter | None) -> None:
    """Write every queued and spooled event now; :class:`StorageError` if some stay spooled.

    An erasure must not run while the visitor's events wait in memory or in the
    spool: written after the delete, they would bring the visitor back.
    """
    if writer is None:
        return
    writer.flush()
    if writer.spool.pending:
        raise StorageError("analytics events are still spooled; ClickHouse is not taking them")


def settle_analytics(analytics: Analytics) -> None:
    """:func:`settle_writer`, once the page views waiting for their batch are queued."""
    analytics.recorder.flush()
    settle_writer(analytics.writer)


def erasure_entry(log: ConsentLog, consent_id: str, previous: Choice | None) -> LogEntry:
    """The ``erase`` entry, following ``previous`` in the chain; no personal data."""
    return log.entry(consent_id, "erase", int(log.clock()), frozenset(), previous)


def choice_of(entry: LogEntry | None) -> Choice | None:
    """The chain head a stored entry stands for, as a cookie's choice would carry it."""
    if entry is None:
        return None
    return Choice(entry.consent_id, entry.revision, frozenset(), entry.time, entry.seq, entry.hash)


def erase_everywhere(storage: Storage, consent_id: str) -> dict[str, int]:
    """Delete the visitor's rows (:func:`erase_rows`), roll up again the days they were in,
    and return once none of it is left on disk; the rows each table held.

    The daily rollups (``stats_daily``, ``stats_window``) and the funnels' stored
    days (``funnel_days``) hold no visitor key but uniq sketches of visitor keys,
    which could confirm that a known visitor was counted, and the paths they
    viewed; so every rolled day from the visitor's first one on is rolled up again
    from the cleaned events, and the funnels' days from then on are dropped. Every part this
    replaced is then waited for until ClickHouse has removed it
    (:func:`gateway.privacy.purge.wait_until_gone`).
    """
    first = visitor_first_day(storage, visitor_key(consent_id))
    deleted = erase_rows(storage, consent_id)
    if first is not None:
        forget_funnel_days(storage, first)  # the funnels' stored days: computed again when asked
        rebuild_from(storage, first)
    client = storage.connect()
    try:
        tables = erasure_tables(client, storage.cluster)
    finally:
        client.close()
    wait_until_gone(storage, tables)
    return deleted


def operator_erase(context: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """The ``erase`` action: log the erasure, delete the rows, report what went."""
    storage = context.storage
    consent_id = check_consent_id(payload.get("consent_id"))
    log = build_consent(context.settings, system_clock).log
    if context.flush_events is not None:
        context.flush_events()  # inside the gateway: its newest choices are stored first
    client = storage.connect()
    try:
        entry = erasure_entry(log, consent_id, choice_of(last_entry(client, consent_id)))
        settings_ = {"insert_deduplication_token": entry.hash}
        client.raw_insert(
            "consent_log", list(COLUMNS), entry.line(), settings=settings_, fmt="JSONCompactEachRow"
        )
        client.raw_insert(
            "consent_counts",
            list(COUNT_COLUMNS),
            log.count_line("erase"),
            fmt="JSONCompactEachRow",
        )
    finally:
        client.close()
    deleted = erase_everywhere(storage, consent_id)
    late = erase_everywhere(storage, consent_id) if _await_writers(context) else {}
    return {
        "consent_id": consent_id,
        "deleted": {table: deleted.get(table, 0) + late.get(table, 0) for table in deleted},
        "logged": {"seq": entry.seq, "hash": entry.hash},
    }


def _await_writers(context: Context) -> bool:
    """Wait until the events that writers held at the first delete are written; whether
    any writer may have held one (then the deletes run again).

    Inside the gateway its own writer is flushed (:attr:`Context.flush_events`).
    The embedded engine has one process, so a CLI that runs this action on it
    holds the folder with no writer in it: nothing can land late. Other
    processes writing to a ClickHouse server cannot be asked from here, so their
    flush interval is waited out.
    """
    if context.flush_events is not None:
        context.flush_events()
    if not context.storage.embedded:
        time.sleep(context.settings.flush_interval + 0.5)
        return True
    return context.flush_events is not None
