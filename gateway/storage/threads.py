"""One ClickHouse client per worker thread, for the small queries of the admin side.

A clickhouse-connect client is not meant to be shared between threads, and
making one costs tens of milliseconds on the embedded engine, more than most
dashboard queries. :meth:`gateway.storage.Storage.run` runs calls in the event
loop's worker threads, which live as long as the loop, so each of them keeps
one client per DSN here. The dashboard pages, the stats queries,
the accounts and the audit log all take their clients from here.
"""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from gateway.storage.client import Storage

_local = threading.local()

EMBEDDED_QUERY_SETTINGS = {"use_statistics": 0}
"""Settings of the admin side's queries on the embedded engine.

The embedded engine (chdb, ClickHouse 26.9) keeps column statistics for every part
and loads them in every query to estimate selectivity: on the dashboard's 30-day
questions, over a part per day, that was 5 to 9 ms of each query (about a tenth of
the navigation panel) for plans that the primary keys already decide. Not sent to a
ClickHouse server, whose version may not know the setting.
"""


def thread_client(storage: Storage) -> Client:
    """This thread's client on ``storage``, made on first use."""
    # Keyed by the DSN (which names the database), not by the object: an id() is
    # reused once its object is gone, and would hand out a client on another database.
    clients: dict[str, Client] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    client = clients.get(storage.dsn)
    if client is None:
        settings = EMBEDDED_QUERY_SETTINGS if storage.embedded else {}
        client = clients[storage.dsn] = storage.connect(**settings)
    return client
