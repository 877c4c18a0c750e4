"""The event loop first: every other thread of a serving process runs at a lower CPU priority.

A serving process has one thread that answers visitors, the event loop's, and
many that do work nobody waits for: the event writers, the embedded ClickHouse
engine's query and merge threads, the loop's worker threads. On a two-core
machine they take turns on the same cores as the loop. Measured here
(a pure-Python loop beside an embedded ``INSERT ... SELECT`` in another
thread), the loop lost 70 % of its throughput to the engine; with the
inserting thread at nice 19 it ran as fast as on an idle machine, while the
inserts took the CPU the loop left over. In the gateway that is the difference
between a beacon or a page view waiting behind a batch insert and the insert
waiting a moment instead: the events it writes are safe in the journal
meanwhile.

Linux gives each thread its own nice value, and a thread inherits it from the
thread that starts it; but the engine starts its pool threads from whichever
thread first needs them, the loop's worker threads among them. So rather than
setting the value where threads start, :class:`PriorityKeeper` looks at every
thread of the process once a second and renices any but the loop's that still
runs at a better priority. An unprivileged process can lower its threads'
priority but never raise it again, so this is one-way, and it is skipped where
``/proc`` is missing (not Linux).
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
