"""What each ingest step costs a page view, back to back, beside the plain way to encode it.

Run with ``scripts/bench ingest``. The paired page-view benchmark measures what
recording adds to a whole request, but a change of a microsecond in one step is
lost in its noise of several; here each step runs alone over a prepared list of
page views (best of several rounds), so a change to one step shows in its line.
In a busy gateway the same code costs about two to three times as much: between
batches everything else the proxy does evicts it from the processor's caches.

Then the hand-over of the encoded lines to a real writer's journal and queue
(:meth:`~gateway.analytics.writer.EventWriter.put_many`), one line at a time and
in the recorder's batches of :data:`~gateway.analytics.pageviews.BATCH_EVENTS`.

The last line sets :func:`~gateway.analytics.events.encode` beside ``json.dumps``
of the same row with each column computed on its own, the slow and obvious way
the encoding tests check it against.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from bench.analytics import BROWSERS, Consented
from gateway.analytics.events import (
    MAX_PATH,
    MAX_TITLE,
    Event,
    Kind,
    encode,
    split_referrer,
    utm_only,
)
from gateway.analytics.pageviews import BATCH_EVENTS
from gateway.analytics.spool import Spool
from gateway.analytics.steps import Pipeline, default_pipeline
from gateway.analytics.useragent import parse_user_agent
from gateway.analytics.writer import EventWriter
from gateway.storage import Storage

EVENTS = 20_000
ROUNDS = 7
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def page_views(number: int) -> list[Event]:
    """``number`` page views of a few visitors moving between four pages."""
    consent = Consented()
    return [
        Event(
            Kind.PAGEVIEW,
            time.time(),
            "bench",
            f"session-{index % 50}",
            consent,
            f"198.51.100.{index % 50}",
            BROWSERS[index % len(BROWSERS)],
            "bench.test",
            f"/courses/{index % 4}",
            "",
            "",
            f"https://bench.test/courses/{(index - 1) % 4}" if index % 4 else "",
            200,
        )
        for index in range(number)
    ]


def best_us(run: Callable[[list[Event]], object], prepare: Callable[[], list[Event]]) -> float:
    """The least time per event of ``run`` over fresh events, in microseconds."""
    best = float("inf")
    for _ in range(ROUNDS):
        events = prepare()
        start = time.perf_counter()
        run(events)
        best = min(best, (time.perf_counter() - start) / len(events))
    return best * 1e6


def main() -> None:
    lines: list[bytes] = []
    pipeline = default_pipeline(lines.extend, None)
    print(f"{EVENTS:,} page views, microseconds per event, best of {ROUNDS}:")
    total = 0.0
    for number, (name, step) in enumerate(pipeline.steps):
        before = Pipeline(pipeline.steps[:number], lambda lines: None)

        def prepare(before: Pipeline = before) -> list[Event]:
            events = page_views(EVENTS)
            for event in events:
                before.process(event)
            return events

        def run(events: list[Event], step: Callable[[Event], object] = step) -> None:
            for event in events:
                step(event)

        spent = best_us(run, prepare)
        total += spent
        print(f"  {name:<18} {spent:5.2f}")
    print(f"  {'all steps':<18} {total:5.2f}")

    done = page_views(EVENTS)
    pipeline.process_all(done)
    one, batched = hand_over_us(lines, 1), hand_over_us(lines, BATCH_EVENTS)
    print(
        f"handing the lines to the writer's journal: {one:.2f} us a line one by one, "
        f"{batched:.2f} in batches of {BATCH_EVENTS}"
    )
    encoded = best_us(lambda events: [encode(event) for event in events], lambda: done)
    plain = best_us(lambda events: [_plain(event) for event in events], lambda: done)
    print(
        f"encode {encoded:.2f} us, json.dumps of the same row {plain:.2f} us, "
        f"ratio {encoded / plain:.2f}"
    )


def hand_over_us(lines: list[bytes], batch: int) -> float:
    """The least time per line of putting ``lines`` into a writer (its journal file
    and queue, as the steps do), ``batch`` at a time. Each round's writer has no
    ClickHouse to reach (a closed port), so closing it spools the lines."""
    best = float("inf")
    logging.disable(logging.WARNING)  # each close's "insert failed, spooling"
    with tempfile.TemporaryDirectory(prefix="cg-bench-ingest-") as folder:
        for round_number in range(ROUNDS):
            writer = EventWriter(
                Storage(NOWHERE, connect_timeout=1.0),
                Spool(Path(folder) / str(round_number)),
                max_queue=len(lines),
            )
            start = time.perf_counter()
            for first in range(0, len(lines), batch):
                writer.put_many(lines[first : first + batch])
            best = min(best, (time.perf_counter() - start) / len(lines))
            writer.close()
    logging.disable(logging.NOTSET)
    return best * 1e6


def plain_columns(event: Event) -> dict[str, object]:
    """The columns of ``event`` by name, each computed on its own, the slow and obvious
    way (the encoding tests hold :func:`~gateway.analytics.events.encode` to it)."""
    query, source, medium, campaign = utm_only(event.query)
    referrer_host, referrer_path, prev_path = split_referrer(event.referrer, event.host)
    agent = parse_user_agent(event.user_agent)
    return {
        "time": round(event.time, 3),
        "site": event.site,
        "kind": event.kind.value,
        "session_id": event.session_id,
        "visitor_key": event.visitor_key,
        "path": event.path[:MAX_PATH],
        "query": query,
        "title": event.title[:MAX_TITLE],
        "referrer_host": referrer_host,
        "referrer_path": referrer_path,
        "prev_path": prev_path,
        "utm_source": source,
        "utm_medium": medium,
        "utm_campaign": campaign,
        "ip": event.ip,
        "country": event.country,
        "region": event.region,
        "city": event.city,
        "browser": agent.browser,
        "browser_version": agent.browser_version,
        "os": agent.os,
        "os_version": agent.os_version,
        "device": agent.device,
        "status": event.status,
        "engagement_ms": event.engagement_ms,
        "name": event.name,
        "props": event.props,
        "region_code": event.region_code,
        "city_id": event.city_id,
        "hostname": (urlsplit("//" + event.host).hostname or "").rstrip(".").removeprefix("www."),
    }


def _plain(event: Event) -> bytes:
    """The row as ``json.dumps`` writes it, from :func:`plain_columns`."""
    row = list(plain_columns(event).values())
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


if __name__ == "__main__":
    main()
