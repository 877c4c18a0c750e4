"""The write-ahead journal of the writer's memory queue: accepted means on disk.

The writer answers a beacon with 202 (and lets a page view go) before
ClickHouse has the event, so the event must survive the process being
killed before the next insert. Every line the writer queues is first
appended here, with one unbuffered ``write`` (a few microseconds: it goes to
the page cache, not the disk), so once ``put`` returns the line outlives the
process: SIGKILL, an out-of-memory kill or a crash lose nothing. Only a power
cut can take the last seconds, as it can from any file the OS has not yet
written out; the spool, which holds batches for longer, syncs every record.

The queue and the journal always hold the same lines: whenever the writer
takes lines out of the queue it takes all of them and *seals* the journal in
the same step (the file is renamed ``<stem>.journal.<id>`` and a new one is
started). The sealed file is deleted only once each of its lines is in
ClickHouse or in the spool. Each chunk of a sealed file has an insert
deduplication token derived from the file's id, so lines inserted just before
a crash, and inserted again from the journal after it, are stored once.

At start-up, journal files left by a process that died (its current file and
any sealed ones) are picked up and written the same way, before anything new.
The files sit next to the spool and are named after it, so they belong to the
process that holds the spool's lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.analytics.spool import Spool

logger = logging.getLogger("gateway.analytics")


@dataclass(frozen=True)
class Sealed:
    """A journal file that takes no more lines: its lines, and how to name their batches."""

    path: Path
    id: str

    def token(self, chunk: int) -> str:
        """The deduplication token of the ``chunk``-th batch cut from this file."""
        digest = hashlib.blake2b(f"{self.id}:{chunk}".encode(), digest_size=16)
        return digest.hexdigest()

    def lines(self) -> list[bytes]:
        """The complete lines in the file; a last line cut short by a crash is left out
        (it was never acknowledged: ``write`` had not returned)."""
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        return [line for line in complete.split(b"\n") if line]


class Journal:
    """The append-only file beside ``spool`` that mirrors the writer's memory queue."""

    def __init__(self, spool: Spool) -> None:
        self.folder = spool.folder
        self.stem = spool.path.stem  # "events-0" for events-0.spool
        self.path = self.folder / f"{self.stem}.journal"
        if self.path.exists():  # the current file of a process that died
            self._seal_file()
        self.leftovers: list[Sealed] = sorted(
            self._sealed_files(), key=lambda sealed: sealed.path.stat().st_mtime_ns
        )
        self._fd = self._open()

    def append(self, line: bytes) -> None:
        """Write one line through to the OS; never raises into the request path."""
        try:
            os.write(self._fd, line + b"\n")
        except OSError as error:  # a full disk: the line is still queued in memory
            logger.warning("journal write failed (%s); the event is only in memory", error)

    def seal(self) -> Sealed:
        """Close the current file to new lines and start the next one."""
        os.close(self._fd)
        sealed = self._seal_file()
        self._fd = self._open()
        return sealed

    def discard(self, sealed: Sealed) -> None:
        """Forget a sealed file whose lines are all in ClickHouse or in the spool."""
        sealed.path.unlink(missing_ok=True)

    def close(self) -> None:
        """At shutdown, after the last drain: the current file is empty, remove it."""
        os.close(self._fd)
        if self.path.stat().st_size == 0:
            self.path.unlink()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _seal_file(self) -> Sealed:
        sealed_id = uuid.uuid4().hex
        target = self.folder / f"{self.stem}.journal.{sealed_id}"
        os.replace(self.path, target)
        return Sealed(target, sealed_id)

    def _sealed_files(self) -> Iterator[Sealed]:
        for path in self.folder.glob(f"{self.stem}.journal.*"):
            yield Sealed(path, path.name.rsplit(".", 1)[1])
