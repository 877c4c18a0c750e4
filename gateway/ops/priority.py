"""The event loop first: every other thread of a serving process runs at a lower CPU priority.

Only the event loop's thread answers visitors; the writers, the embedded
ClickHouse engine's threads and the loop's worker threads do work nobody waits
for, and on a small machine they would take the loop's cores. Linux gives each
thread its own nice value, inherited from the thread that starts it, and the
engine starts threads from wherever it first needs them, so
:class:`PriorityKeeper` checks every thread once a second and renices any but
the loop's. This is one-way (an unprivileged process cannot raise priority
again) and skipped where ``/proc`` is missing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

logger = logging.getLogger("gateway.ops")

TASKS = Path("/proc/self/task")
SWEEP_SECONDS = 1.0


def renice_others(keep: int, nice: int) -> None:
    """Set every thread of this process but ``keep`` (a native thread id) to at
    least ``nice``."""
    try:
        names = os.listdir(TASKS)
    except OSError:
        return
    for name in names:
        tid = int(name)
        if tid == keep:
            continue
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:
            continue  # the thread ended between the listing and now


class PriorityKeeper:
    """A daemon thread that keeps every thread but ``loop_thread`` at ``nice``."""

    def __init__(self, loop_thread: int, nice: int) -> None:
        self.loop_thread = loop_thread
        self.nice = nice
        self._thread = threading.Thread(target=self._run, name="priority-keeper", daemon=True)

    def start(self) -> None:
        if self.nice <= 0 or not TASKS.is_dir():
            return
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                renice_others(self.loop_thread, self.nice)
            except Exception:  # a keeper that dies must not take the process along
                logger.exception("lowering background threads' priority failed")
                return
            time.sleep(SWEEP_SECONDS)
