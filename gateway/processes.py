"""Whether another process is still running, from its id alone."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists: signal 0 checks without sending anything.

    A process owned by another user answers ``PermissionError``: it exists.
    Used for the files running gateways leave in the data folder (the admin
    announcement, per-worker metrics), to tell a live owner from a stale file.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
