"""A histogram made of plain counters, cheap enough for the proxy's hot path.

``prometheus_client``'s own ``Histogram`` takes a lock per observation; this
one is a list of integers that only the event loop (or one writer thread)
touches, and is turned into cumulative Prometheus buckets at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

# Seconds; a proxied answer usually starts within milliseconds, a slow upstream's within
# CG_READ_TIMEOUT (60 s by default).
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Events per ClickHouse insert: CG_FLUSH_BATCH_SIZE is 5,000 by default, up to 50,000 under
# a backlog.
BATCH_BOUNDS = (1.0, 10.0, 100.0, 1000.0, 5000.0, 10000.0, 50000.0)


class Buckets:
    """Counts of observations per bucket; ``bounds`` are the buckets' upper limits."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the first bucket whose bound is at least ``value``."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def snapshot(self) -> dict[str, Any]:
        """The counts and sum as JSON-able data, for another process to add up."""
        return {"counts": list(self.counts), "sum": self.total}


def cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, int]]:
    """Prometheus ``le`` buckets from per-bucket counts: running totals, ``+Inf`` last."""
    running = 0
    out: list[tuple[str, int]] = []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        running += count
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
    return out
