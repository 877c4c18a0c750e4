"""Prometheus metrics: plain counters on the hot path, text exposition at scrape time.

Nothing calls ``prometheus_client`` per request: :class:`RequestMetrics` and the
pipeline, writer and consent log keep plain counters, which :func:`snapshot`
reads and :func:`render` turns into Prometheus families at scrape time. With
``serve --workers N`` each worker publishes its snapshot to a file
(:func:`publish`) and ``GET /metrics`` adds them up (:func:`gather`); exited
workers' counters stay in the sums, so totals never go backwards. Metric names
are listed in ``docs/operations.md``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from gateway.analytics.service import Analytics
from gateway.analytics.steps import DropReason
from gateway.consent import Consent
from gateway.histograms import BATCH_BOUNDS, LATENCY_BOUNDS, Buckets, cumulative
from gateway.processes import process_alive

# Consent outcomes always exported, at zero too: the banner shown, and each choice.
CONSENT_OUTCOMES = ("shown", "accept_all", "reject_all", "custom", "object", "withdraw")
# Snapshot keys whose values are levels, not running totals.
GAUGES = ("in_flight", "queued", "spool_events")


class RequestMetrics:
    """Responses counted by status, and the proxied ones timed.

    The front door (``gateway/front_door.py``) calls :meth:`count` as each
    response starts and keeps ``in_flight``; the cost per request is a dict
    increment and a bucket search.
    """

    def __init__(self) -> None:
        self.proxied: dict[int, int] = {}
        self.own: dict[int, int] = {}
        self.latency = Buckets(LATENCY_BOUNDS)
        self.in_flight = 0

    def count(self, own: bool, status: int, seconds: float) -> None:
        """One response of ``status``, started ``seconds`` after its request arrived."""
        counts = self.own if own else self.proxied
        counts[status] = counts.get(status, 0) + 1
        if not own:
            self.latency.observe(seconds)


class MetricsSources(Protocol):
    """Where one process's counters live (:class:`gateway.services.Services` is one)."""

    @property
    def request_metrics(self) -> RequestMetrics: ...

    @property
    def analytics(self) -> Analytics: ...

    @property
    def consent(self) -> Consent: ...

    @property
    def metrics_dir(self) -> Path | None: ...

    @property
    def sites(self) -> Mapping[str, MetricsSources]: ...


def snapshot(sources: MetricsSources) -> dict[str, Any]:
    """Every counter of one process."""
    requests = sources.request_metrics
    analytics = sources.analytics
    pipeline = analytics.pipeline
    data: dict[str, Any] = {
        "pid": os.getpid(),
        "time": time.time(),
        **_front(requests, sources.consent.log.outcomes),
        "events_accepted": pipeline.accepted,
        "events_dropped": {str(k): v for k, v in pipeline.dropped.items()},
    }
    if sources.sites:  # a sites file: each site counts its own, the totals add them up
        fronts = {
            site: _front(part.request_metrics, part.consent.log.outcomes)
            for site, part in sources.sites.items()
        }
        for front in fronts.values():
            _add(data, front)
        data["sites"] = {
            site: {"responses": front["responses"], "consent": front["consent"]}
            for site, front in fronts.items()
        }
    writer = analytics.writer
    if writer is not None:
        data["writer"] = {"written": writer.written, "spooled": writer.spooled}
        data["writer"]["replayed"] = writer.replayed
        data["queued"] = analytics.queued
        data["spool_events"] = writer.spool.pending_events()
        data["batches"] = writer.batches.snapshot()
    return data


def _front(requests: RequestMetrics, outcomes: Mapping[str, int]) -> dict[str, Any]:
    """What a site's front door and consent API counted."""
    return {
        "responses": {
            "proxy": {str(k): v for k, v in requests.proxied.items()},
            "own": {str(k): v for k, v in requests.own.items()},
        },
        "latency": requests.latency.snapshot(),
        "in_flight": requests.in_flight,
        "consent": dict(outcomes),
    }


def _add(total: dict[str, Any], item: dict[str, Any]) -> None:
    for key, value in item.items():
        if key in ("pid", "time"):
            continue
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif isinstance(value, list):
            old = total.setdefault(key, [0] * len(value))
            total[key] = [a + b for a, b in zip(old, value, strict=True)]
        else:
            total[key] = total.get(key, 0) + value


def merge(live: list[dict[str, Any]], exited: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up snapshots; of the ``exited`` processes only the counters count."""
    total: dict[str, Any] = {}
    for item in live:
        _add(total, item)
    for item in exited:
        _add(total, {k: v for k, v in item.items() if k not in GAUGES})
    total["processes"] = len(live)
    return total


def families(data: dict[str, Any]) -> list[Metric]:
    """The Prometheus metric families of a (merged) snapshot."""
    responses = CounterMetricFamily(
        "cg_http_responses",
        "Responses of the public listener, by route (proxy or own) and status.",
        labels=["route", "status"],
    )
    for route, counts in sorted(data.get("responses", {}).items()):
        for status, count in sorted(counts.items()):
            responses.add_metric([route, status], count)
    latency = data.get("latency", {"counts": [0] * (len(LATENCY_BOUNDS) + 1), "sum": 0.0})
    upstream = HistogramMetricFamily(
        "cg_upstream_latency_seconds",
        "Seconds from a proxied request's arrival to its response starting (time to first "
        "byte through the gateway, upstream included).",
        buckets=cumulative(LATENCY_BOUNDS, latency["counts"]),
        sum_value=latency["sum"],
    )
    batches = data.get("batches", {"counts": [0] * (len(BATCH_BOUNDS) + 1), "sum": 0.0})
    batch = HistogramMetricFamily(
        "cg_writer_batch_events",
        "Events per successful ClickHouse insert of the event writer.",
        buckets=cumulative(BATCH_BOUNDS, batches["counts"]),
        sum_value=batches["sum"],
    )
    dropped = CounterMetricFamily(
        "cg_events_dropped",
        "Analytics events not stored, by the ingest step's reason.",
        labels=["reason"],
    )
    drops = data.get("events_dropped", {})
    for reason in DropReason:
        dropped.add_metric([reason.value], drops.get(reason.value, 0))
    writer = CounterMetricFamily(
        "cg_writer_events",
        "Events the writer handled: written straight to ClickHouse, spooled to disk while "
        "ClickHouse was away, or replayed from the spool.",
        labels=["outcome"],
    )
    for outcome in ("written", "spooled", "replayed"):
        writer.add_metric([outcome], data.get("writer", {}).get(outcome, 0))
    consent = CounterMetricFamily(
        "cg_consent_outcomes",
        "Consent outcomes: shown (the consent API told the banner to show) and each choice "
        "made (accept_all, reject_all, custom, withdraw).",
        labels=["outcome"],
    )
    outcomes = data.get("consent", {})
    for outcome in sorted({*CONSENT_OUTCOMES, *outcomes}):
        consent.add_metric([outcome], outcomes.get(outcome, 0))
    return [
        responses,
        GaugeMetricFamily(
            "cg_http_requests_in_flight",
            "Requests being answered now.",
            value=data.get("in_flight", 0),
        ),
        upstream,
        CounterMetricFamily(
            "cg_events_accepted",
            "Analytics events that passed every ingest step and were queued for ClickHouse.",
            value=data.get("events_accepted", 0),
        ),
        dropped,
        writer,
        batch,
        GaugeMetricFamily(
            "cg_writer_queue_events",
            "Events waiting in memory for the next insert.",
            value=data.get("queued", 0),
        ),
        GaugeMetricFamily(
            "cg_spool_events",
            "Events waiting in the on-disk spool for ClickHouse to come back.",
            value=data.get("spool_events", 0),
        ),
        consent,
        GaugeMetricFamily(
            "cg_processes",
            "Gateway processes whose counters these are.",
            value=data.get("processes", 1),
        ),
        *_site_families(data.get("sites", {})),
    ]


def _site_families(sites: dict[str, Any]) -> list[Metric]:
    """With a sites file, the responses and consent outcomes by site as well."""
    if not sites:
        return []
    responses = CounterMetricFamily(
        "cg_site_http_responses",
        "Responses of the public listener by site (a sites file), route and status.",
        labels=["site", "route", "status"],
    )
    consent = CounterMetricFamily(
        "cg_site_consent_outcomes",
        "Consent outcomes by site (a sites file), as cg_consent_outcomes counts them.",
        labels=["site", "outcome"],
    )
    for site, counts in sorted(sites.items()):
        for route, statuses in sorted(counts.get("responses", {}).items()):
            for status, count in sorted(statuses.items()):
                responses.add_metric([site, route, status], count)
        outcomes = counts.get("consent", {})
        for outcome in sorted({*CONSENT_OUTCOMES, *outcomes}):
            consent.add_metric([site, outcome], outcomes.get(outcome, 0))
    return [responses, consent]


class _Families(Collector):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def collect(self) -> list[Metric]:
        return families(self.data)


def render(data: dict[str, Any]) -> bytes:
    """The Prometheus text exposition of a (merged) snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(data))
    return generate_latest(registry)


def publish(sources: MetricsSources, folder: Path) -> None:
    """Write this process's snapshot to ``folder/<pid>.json``, atomically."""
    path = folder / f"{os.getpid()}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(snapshot(sources)))
    os.replace(temporary, path)


def gather(sources: MetricsSources) -> dict[str, Any]:
    """This process's live counters plus, with workers, every other worker's last file."""
    own = snapshot(sources)
    folder = sources.metrics_dir
    live: list[dict[str, Any]] = [own]
    exited: list[dict[str, Any]] = []
    if folder is not None:
        for path in sorted(folder.glob("*.json")):
            try:
                item = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being replaced just now: the next scrape reads it
            if item.get("pid") == own["pid"]:
                continue
            (live if process_alive(int(item.get("pid", 0))) else exited).append(item)
    return merge(live, exited)


def metrics_endpoint(sources: MetricsSources) -> Callable[[Request], Awaitable[Response]]:
    """``GET /metrics`` on the admin listener: Prometheus text format 0.0.4."""

    async def endpoint(request: Request) -> Response:
        data = gather(sources)
        return Response(render(data), media_type="text/plain; version=0.0.4; charset=utf-8")

    return endpoint
