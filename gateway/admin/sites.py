"""Which sites the dashboard lists: its first page, the trust view and the audit log ask."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.storage import Storage
from gateway.storage.threads import thread_client


def known_sites(storage: Storage, served: Sequence[str], scope: Sequence[str] = ()) -> list[str]:
    """The sites an account of ``scope`` (empty: every site) sees listed.

    An account of named sites sees those. An account of every site sees the sites
    a multi-site deployment serves (``served``, in their order), then any other site
    with events in the database (events live one month); a single-site gateway lists
    the sites with events, or its own site before the first event.
    """
    if scope:
        return list(scope)
    rows = (
        thread_client(storage)
        .query("SELECT DISTINCT site FROM events WHERE site != '' ORDER BY site")
        .result_rows
    )
    with_events = [str(row[0]) for row in rows]
    if len(served) == 1:
        return with_events or list(served)
    return [*served, *(site for site in with_events if site not in served)]
