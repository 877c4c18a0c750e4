"""The admin side's per-thread ClickHouse clients: see :mod:`gateway.storage.threads`.

They live with the storage code so that :mod:`gateway.stats`, which the admin
pages import, does not import the admin package back.
"""

from __future__ import annotations

from gateway.storage.threads import thread_client

__all__ = ["thread_client"]
