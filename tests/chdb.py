"""The embedded ClickHouse for the test process: one folder, one database per test.

chdb opens one data folder per process (a second folder raises), so every
test in this pytest process shares the folder made here, and each test (each
``make_settings`` call, each ``storage`` fixture) gets a database of its own,
named in the DSN (``chdb:///folder?database=test_...``). The folder is removed
when the process ends.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid

from gateway.storage import Storage
from gateway.storage.migrator import migrate

_FOLDER = tempfile.mkdtemp(prefix="cg-chdb-")
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)


def fresh_dsn() -> str:
    """A DSN on the process's embedded engine, naming a database no test used before."""
    return f"chdb://{_FOLDER}?database=test_{uuid.uuid4().hex[:12]}"


def migrated_storage() -> Storage:
    """A :class:`Storage` on a fresh database of the test engine, with the schema in place."""
    storage = Storage(fresh_dsn())
    migrate(storage)
    return storage
