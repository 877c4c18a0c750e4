"""ClickHouse storage: one client factory for every backend, and versioned migrations.

``client`` builds clients from ``CG_CLICKHOUSE_DSN`` (embedded chdb, a server,
or a cluster node); ``migrator`` applies the ``.sql`` files in
``migrations/``; ``folder_lock`` keeps an embedded folder to one process;
``threads`` keeps a client per worker thread; ``commands`` declares
``consent-gateway migrate``.
"""

from __future__ import annotations

from gateway.settings import Settings
from gateway.storage.client import Storage, embedded_dsn


def storage_from_settings(settings: Settings) -> Storage:
    """The :class:`Storage` that ``settings`` name (the embedded engine by default)."""
    dsn = settings.clickhouse_dsn or embedded_dsn(settings.data_dir)
    return Storage(dsn, settings.clickhouse_cluster)


__all__ = ["Storage", "embedded_dsn", "storage_from_settings"]
