"""One way to reach ClickHouse, whatever runs it: a client built from a DSN.

The DSN picks the backend, and the SQL is the same for all of them:

    chdb:///abs/path[?database=name]     the real ClickHouse engine, in-process
    http(s)://user:pass@host:8123/name   a ClickHouse server (or a cluster node)

The embedded engine allows one data folder per process, so the gateway opens
exactly one (tests share one and each gets its own ``?database=``), and one
process per folder (:mod:`gateway.storage.folder_lock`). Calls may
block, and the chdb backend has no async client, so callers on the event loop
go through :meth:`Storage.run`, which runs the call in a worker thread.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from gateway.exceptions import StorageUnavailable
from gateway.storage.folder_lock import hold

T = TypeVar("T")

DEFAULT_DATABASE = "default"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def embedded_dsn(data_dir: str) -> str:
    """The DSN of the embedded engine kept in ``<data_dir>/clickhouse``."""
    return "chdb://" + str((Path(data_dir) / "clickhouse").resolve())


def dsn_database(dsn: str) -> str:
    """The database a DSN names: ``?database=`` or, for a server, the URL's path."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    if "database" in query:
        name = query["database"]
    elif parts.scheme in ("http", "https") and parts.path.strip("/"):
        name = parts.path.strip("/").split("/")[0]
    else:
        name = DEFAULT_DATABASE
    if not _NAME.match(name):
        raise StorageUnavailable(
            f"The ClickHouse database name {name!r} in CG_CLICKHOUSE_DSN is not a plain "
            "identifier; use letters, digits and underscores."
        )
    return name


def _without_database(dsn: str) -> str:
    """The DSN less its database part, which :class:`Storage` passes explicitly."""
    parts = urlsplit(dsn)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "database"])
    path = parts.path if parts.scheme == "chdb" else ""
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{query}" if query else "")


def _redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    parts = urlsplit(dsn)
    if parts.password:
        return dsn.replace(f":{parts.password}@", ":***@", 1)
    return dsn


class Storage:
    """A ClickHouse target: makes clients, knows its database and cluster.

    Each long-lived user (the event writer's thread, the migrations, later the
    dashboard) takes its own client from :meth:`connect`: a clickhouse-connect
    client is not meant to be shared between threads.
    """

    def __init__(self, dsn: str, cluster: str = "", *, connect_timeout: float = 5.0) -> None:
        if cluster and not _NAME.match(cluster):
            raise StorageUnavailable(
                f"CG_CLICKHOUSE_CLUSTER {cluster!r} is not a plain identifier; fix it."
            )
        self.dsn = dsn
        self.cluster = cluster
        self.database = dsn_database(dsn)
        self.embedded = dsn.startswith("chdb:")
        self.connect_timeout = connect_timeout
        self._created = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Storage({_redact(self.dsn)!r}, cluster={self.cluster!r})"

    def connect(self, **settings: Any) -> Client:
        """A new client on this target's database, creating the database the first time.

        Raises :class:`StorageUnavailable` with a sentence naming the DSN when
        ClickHouse cannot be reached.
        """
        try:
            with self._lock:
                if not self._created:
                    if self.embedded:
                        hold(Path(urlsplit(self.dsn).path))
                    self._create_database()
                    self._created = True
            return self._client(self.database, settings)
        except StorageUnavailable:
            raise
        except Exception as error:
            raise StorageUnavailable(
                f"ClickHouse at {_redact(self.dsn)} is not usable ({error}); check "
                "CG_CLICKHOUSE_DSN and that the server is running."
            ) from error

    def _client(self, database: str, settings: dict[str, Any]) -> Client:
        extra: dict[str, Any] = {}
        if not self.embedded:
            extra = {"connect_timeout": self.connect_timeout, "send_receive_timeout": 30}
        return clickhouse_connect.get_client(
            dsn=_without_database(self.dsn), database=database, settings=settings or None, **extra
        )

    def _create_database(self) -> None:
        if self.database == DEFAULT_DATABASE:
            return
        bootstrap = self._client(DEFAULT_DATABASE, {})
        try:
            on_cluster = f" ON CLUSTER {self.cluster}" if self.cluster else ""
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}{on_cluster}")
        finally:
            bootstrap.close()

    async def run(self, call: Callable[[], T]) -> T:
        """Run a blocking ClickHouse call in a worker thread, off the event loop."""
        return await asyncio.to_thread(call)
