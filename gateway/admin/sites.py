"""Which sites have statistics: the dashboard's first page lists them."""

from __future__ import annotations

from gateway.storage import Storage
from gateway.storage.threads import thread_client


def known_sites(storage: Storage, fallback: str) -> list[str]:
    """Every site with events (they live one month), or ``fallback`` when there is none yet."""
    rows = (
        thread_client(storage)
        .query("SELECT DISTINCT site FROM events WHERE site != '' ORDER BY site")
        .result_rows
    )
    sites = [str(row[0]) for row in rows]
    return sites or [fallback]
