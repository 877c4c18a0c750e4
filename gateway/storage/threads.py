"""One ClickHouse client per worker thread, for the small queries of the admin side.

A clickhouse-connect client is not meant to be shared between threads, and
making one on the embedded engine costs more than most dashboard queries.
:meth:`gateway.storage.Storage.run` runs calls in the event loop's worker
threads, which live as long as the loop, so each keeps one client per DSN here.
"""

from __future__ import annotations

import threading

from clickhouse_connect.driver.client import Client

from gateway.storage.client import Storage

_local = threading.local()

EMBEDDED_QUERY_SETTINGS = {"use_statistics": 0}
"""Settings of the admin side's queries on the embedded engine.

The embedded engine (chdb) keeps column statistics for every part and loads them
in every query to estimate selectivity, a noticeable cost on the dashboard's
many-part queries for plans that the primary keys already decide. Not sent to a
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
