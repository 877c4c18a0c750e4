"""A one-line progress bar on stderr, without a dependency.

On a terminal it redraws in place at most ten times a second; in a log (CI,
``docker build``) it writes a line at each quarter instead, so the log shows
progress without thousands of carriage returns.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

WIDTH = 30  # characters of bar


def _size(count: float) -> str:
    return f"{count / 1_000_000:.1f} MB"


class Progress:
    """Progress of ``total`` bytes (or an unknown total: then a running count and a clock)."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0
        self._quarter = 0
        if not self.live:
            self._line(self._text())

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close(ok=kind is None)

    def advance(self, count: int) -> None:
        self.done += count
        self.tick()

    def tick(self) -> None:
        """Redraw if it is time to; also called while waiting, to move the clock."""
        now = time.monotonic()
        if self.live:
            if now - self._drawn >= 0.1:
                self._drawn = now
                self.stream.write("\r" + self._text())
                self.stream.flush()
        elif self.total:
            quarter = min(4, self.done * 4 // self.total)
            if quarter > self._quarter and quarter < 4:
                self._quarter = quarter
                self._line(self._text())

    def close(self, ok: bool = True) -> None:
        end = self._text() + ("" if ok else " failed")
        if self.live:
            self.stream.write("\r" + end + "\n")
            self.stream.flush()
        else:
            self._line(end)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _text(self) -> str:
        elapsed = f"{time.monotonic() - self.started:5.1f}s"
        if not self.total:
            amount = f" {_size(self.done)}" if self.done else ""
            return f"{self.label}{amount} {elapsed}"
        share = min(1.0, self.done / self.total)
        filled = int(WIDTH * share)
        bar = "#" * filled + "-" * (WIDTH - filled)
        return (
            f"{self.label} [{bar}] {share:4.0%} {_size(self.done)} of {_size(self.total)} {elapsed}"
        )
