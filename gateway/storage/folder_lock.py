"""One process per embedded ClickHouse folder, held by a lock of our own.

The embedded engine (chdb) lets a second process open a data folder that one
already has open, and two engines writing one folder damage it. So a process's
first connection to an embedded folder takes an exclusive ``flock`` on
``<folder>/gateway.lock`` and keeps it for the process's life, as the engine
keeps the folder; any other process is refused with a sentence naming the
holder. The lock is the process's, like the engine, so its record is too.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from gateway.exceptions import StorageUnavailable

LOCK_NAME = "gateway.lock"

# Folder -> the descriptor holding its lock, for the process's life (the engine's is
# process-wide too); closing the descriptor would let the lock go.
_held: dict[Path, int] = {}
_guard = threading.Lock()


def hold(folder: Path) -> None:
    """Take ``folder``'s lock for this process, once; :class:`StorageUnavailable` naming
    the holder when another process has it."""
    folder = folder.resolve()
    with _guard:
        if folder in _held:
            return
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise StorageUnavailable(
                f"{holder(folder)} holds the embedded ClickHouse in {folder}, and one process "
                "owns an embedded folder. Stop that process, or run this one on another "
                "CG_DATA_DIR; several processes on one database need a ClickHouse server."
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())  # for a person looking
        _held[folder] = descriptor


def held_elsewhere(folder: Path) -> bool:
    """Whether another process holds ``folder`` (this process's own hold does not count)."""
    folder = folder.resolve()
    if folder in _held:
        return False
    try:
        descriptor = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False  # never opened by a gateway: nobody has it
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False
    finally:
        os.close(descriptor)


def holder(folder: Path) -> str:
    """ "Process <pid> (<its command line>)" holding ``folder``'s lock, from
    ``/proc/locks`` (Linux), or "Another process" where that cannot be told."""
    try:
        inode = (folder / LOCK_NAME).stat().st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            # "1: FLOCK  ADVISORY  WRITE 4242 fe:01:1234567 0 EOF": the pid, then dev:inode
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
                pid = int(fields[4])
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                command = " ".join(raw.decode(errors="replace").split("\0")).strip()
                return f"Process {pid} ({command[:120]})" if command else f"Process {pid}"
    except (OSError, ValueError):
        pass
    return "Another process"
