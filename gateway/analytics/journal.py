"""The write-ahead journal of the writer's memory queue: accepted means on disk.

The writer answers a beacon with 202 before ClickHouse has the event, so every
line it queues is first written here, into the kernel's page cache (a shared
memory map, or one ``pwritev`` for a batch of :data:`WRITE_FROM` bytes or more).
Once ``put_many`` returns, SIGKILL or a crash lose nothing; only a power cut can.
The file grows by :data:`GROW` bytes reserved with ``posix_fallocate``, so a full
disk is an error while growing, never a SIGBUS; readers take only complete lines.

Invariant: the queue and the journal hold the same lines. Whenever the writer
empties the queue it *seals* the journal (renames it ``<stem>.journal.<id>``);
a sealed file is deleted once every line is in ClickHouse or the spool, and its
id gives each chunk an insert deduplication token, so a replay after a crash
stores lines once. At start-up, journals left by a dead process are written
first; they sit next to the spool and belong to whoever holds its lock.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.analytics.spool import Spool

logger = logging.getLogger("gateway.analytics")

GROW = 1 << 20  # bytes added to the current file when it is full: about 4,000 events
WRITE_FROM = 1024  # batches this long go in with one system call rather than a copy


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
        (it was never acknowledged: ``append`` had not returned), and so are the
        zero bytes a crash leaves after the last line of a grown file."""
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        return [line for line in complete.split(b"\n") if line]


class Journal:
    """The append-only file beside ``spool`` that mirrors the writer's memory queue.

    Not thread-safe: the writer calls it under its own lock.
    """

    _fd: int
    _map: mmap.mmap | None  # the current file, shared with the page cache
    _mapped: int  # bytes of the file reserved and mapped
    _used: int  # bytes of lines written
    _can_map: bool

    def __init__(self, spool: Spool) -> None:
        self.folder = spool.folder
        self.stem = spool.path.stem  # "events-0" for events-0.spool
        self.path = self.folder / f"{self.stem}.journal"
        if self.path.exists():  # the current file of a process that died
            self._seal_file()
        self.leftovers: list[Sealed] = sorted(
            self._sealed_files(), key=lambda sealed: sealed.path.stat().st_mtime_ns
        )
        self._open()

    def append(self, lines: Sequence[bytes]) -> None:
        """Put ``lines`` in the page cache, each ended by a newline, in one copy or one
        system call; never raises into the request path."""
        data = b"\n".join(lines)
        start = self._used
        end = start + len(data) + 1
        if len(data) < WRITE_FROM and (end <= self._mapped or self._grow(end)):
            view = self._map
            assert view is not None
            view[start : end - 1] = data
            view[end - 1] = 10  # b"\n"
            self._used = end
            return
        try:
            written = os.pwritev(self._fd, (data, b"\n"), start)
        except OSError as error:  # a full disk: the lines are still queued in memory
            logger.warning("journal write failed (%s); the events are only in memory", error)
            return
        self._used = start + written

    def seal(self) -> Sealed:
        """Close the current file to new lines and start the next one."""
        self._finish()
        sealed = self._seal_file()
        self._open()
        return sealed

    def discard(self, sealed: Sealed) -> None:
        """Forget a sealed file whose lines are all in ClickHouse or in the spool."""
        sealed.path.unlink(missing_ok=True)

    def close(self) -> None:
        """At shutdown, after the last drain: the current file is empty, remove it."""
        self._finish()
        if self.path.stat().st_size == 0:
            self.path.unlink()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._map = None
        self._mapped = 0
        self._used = 0
        self._can_map = True

    def _grow(self, needed: int) -> bool:
        """Reserve and map at least ``needed`` bytes; ``False`` to fall back to ``pwrite``."""
        if not self._can_map:
            return False
        size = max(needed, self._mapped + GROW)
        try:
            os.posix_fallocate(self._fd, self._mapped, size - self._mapped)
            if self._map is None:
                self._map = mmap.mmap(self._fd, size)
            else:
                self._map.resize(size)
        except (OSError, ValueError) as error:
            # A full disk or a file system without shared maps: write batch by batch
            # after the lines already mapped (pwrite goes past the zero bytes).
            logger.warning("journal map failed (%s); writing it batch by batch", error)
            self._unmap()
            self._can_map = False
            return False
        self._mapped = size
        return True

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        self._mapped = 0

    def _finish(self) -> None:
        """Unmap and cut the current file to its lines, then close it."""
        self._unmap()
        try:
            os.ftruncate(self._fd, self._used)
        finally:
            os.close(self._fd)

    def _seal_file(self) -> Sealed:
        sealed_id = uuid.uuid4().hex
        target = self.folder / f"{self.stem}.journal.{sealed_id}"
        os.replace(self.path, target)
        return Sealed(target, sealed_id)

    def _sealed_files(self) -> Iterator[Sealed]:
        for path in self.folder.glob(f"{self.stem}.journal.*"):
            yield Sealed(path, path.name.rsplit(".", 1)[1])
