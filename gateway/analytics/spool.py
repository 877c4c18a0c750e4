"""The append-only spool: batches kept on disk while ClickHouse cannot take them.

One file per target table, ``<table>-N.spool``, of records written one after another:

    CGS1 <token: 32 hex> <body length> <event count>\\n
    <body: the batch's JSONCompactEachRow lines>\\n

The token is the batch's insert deduplication token, so a batch replayed after
ClickHouse already stored it is dropped, not written twice. Replay goes oldest
first from the offset in ``<table>-N.spool.pos`` (replaced atomically after each
record). Each record is synced before it counts as spooled, so only the last one
can be cut short by a crash, and it is cut off. Each process ``flock``s its own
file; a file left by a stopped process is replayed by the next one to lock it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.exceptions import StorageError

logger = logging.getLogger("gateway.analytics")

MAGIC = b"CGS1"
_HEADER = re.compile(rb"^CGS1 ([0-9a-f]{32}) (\d{1,12}) (\d{1,9})\n$")
MAX_FILES = 64


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled batch."""

    token: str
    body: bytes
    count: int
    end: int  # the offset just past this record


class Spool:
    """One locked spool file: append batches, replay them in order.

    ``name`` is the file name's stem, by convention the table the batches are
    for, so each writer of one folder replays only its own table's batches.
    """

    def __init__(self, folder: str | Path, name: str = "events") -> None:
        self.folder = Path(folder)
        self.name = name
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file, self.path = self._claim()
        self._pos_path = self.path.with_suffix(".spool.pos")
        self._repair()

    def _claim(self) -> tuple[BinaryIO, Path]:
        for number in range(MAX_FILES):
            path = self.folder / f"{self.name}-{number}.spool"
            handle = open(path, "a+b")  # noqa: SIM115 - held open for the spool's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return handle, path
        raise StorageError(
            f"All {MAX_FILES} spool files in {self.folder} are locked by other processes; "
            "run fewer workers per spool folder or set CG_SPOOL_DIR per worker."
        )

    def close(self) -> None:
        """Release the file (and its lock) for another process."""
        with self._lock:
            self._file.close()

    @property
    def pending(self) -> bool:
        """Whether some spooled batch is still waiting for replay."""
        with self._lock:
            return self._size() > self._position()

    def pending_events(self) -> int:
        """How many events wait in the spool (reads the headers only)."""
        return sum(record.count for record in self._records(read_body=False))

    def append(self, token: str, lines: list[bytes]) -> None:
        """Add one batch at the end and sync it to disk before returning."""
        body = b"\n".join(lines)
        header = b"%s %s %d %d\n" % (MAGIC, token.encode(), len(body), len(lines))
        with self._lock:
            self._file.seek(0, os.SEEK_END)
            self._file.write(header + body + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def replay(self) -> Iterator[Record]:
        """The records not yet replayed, oldest first.

        Call :meth:`done` after storing each; stop iterating at the first failure
        (the same record would come again).
        """
        return self._records(read_body=True)

    def done(self, record: Record) -> None:
        """Note that ``record`` is stored; empty the files once all are."""
        with self._lock:
            if record.end >= self._size():
                self._file.truncate(0)
                self._file.flush()
                os.fsync(self._file.fileno())
                self._pos_path.unlink(missing_ok=True)
                return
            temporary = self._pos_path.with_suffix(".tmp")
            temporary.write_text(str(record.end))
            os.replace(temporary, self._pos_path)

    def _records(self, read_body: bool) -> Iterator[Record]:
        # Replay re-reads the position before every record: ``done`` may have emptied
        # the file, and appends may have started it again, meanwhile.
        offset = -1
        while True:
            with self._lock:
                if read_body or offset < 0:
                    offset = self._position()
                self._file.seek(offset)
                header = self._file.readline(128)
                match = _HEADER.match(header)
                if not match:
                    return
                length, count = int(match.group(2)), int(match.group(3))
                body = self._file.read(length) if read_body else b""
            end = offset + len(header) + length + 1
            yield Record(match.group(1).decode(), body, count, end)
            offset = end

    def _size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def _position(self) -> int:
        try:
            return int(self._pos_path.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def _repair(self) -> None:
        """Cut a record left half-written by a crash, so appends continue a whole file."""
        offset = self._position()
        size = self._size()
        while offset < size:
            self._file.seek(offset)
            header = self._file.readline(128)
            match = _HEADER.match(header)
            end = offset + len(header) + (int(match.group(2)) + 1 if match else 0)
            if not match or end > size:
                logger.warning(
                    "spool %s: cutting an unfinished record at byte %d (%d bytes)",
                    self.path,
                    offset,
                    size - offset,
                )
                self._file.truncate(offset)
                return
            offset = end
