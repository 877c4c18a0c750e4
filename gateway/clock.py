"""Where the gateway reads the time, so tests can move it instead of sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current Unix time in seconds."""

    def __call__(self) -> float: ...


system_clock: Clock = time.time
