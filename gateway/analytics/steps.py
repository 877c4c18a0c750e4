"""Ingestion as a list of named steps; any step may drop an event with a reason.

Every event, server-side page view or beacon event, goes through the same
steps in order (like Plausible's ``ingestion/event.ex``):

    truncate_ip        /24 or /48, before any other step sees the address
    validate           a path that starts with "/", a known kind, sane sizes
    consent            analytics consent and a consent id, or drop
    drop_bots          crawlers, monitors, scripts, headless browsers
    session            the essential session cookie's id, hashed
    geolocate          country, region, city of the truncated IP (or empty), with
                       the region's ISO 3166-2 code and the city's GeoNames id
    parse_user_agent   browser and major version, OS and version, device
    visitor_key        a hash of the consent id
    write              encode to one line for the writer

A step returns ``None`` to pass the event on, or a :class:`DropReason`; drops
are counted per reason in :attr:`Pipeline.dropped`. The steps run on the event
loop, so they stay cheap; :meth:`Pipeline.process_all` hands a batch's lines to
the sink (the writer's ``put_many``) in one call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from enum import StrEnum

from gateway.analytics.bots import is_bot
from gateway.analytics.events import MAX_PATH, Event, Kind, encode, session_number, visitor_key
from gateway.analytics.useragent import parse_user_agent
from gateway.geo import GeoLookup
from gateway.iptools import truncate_ip


class DropReason(StrEnum):
    """Why an event was not stored: the label of the drop counters."""

    INVALID = "invalid"  # fails validation (no path, wrong kind, out of range)
    NO_CONSENT = "no_consent"  # the visitor has not consented to analytics
    BOT = "bot"  # a crawler, monitor, script or headless browser
    NO_SESSION = "no_session"  # no essential session cookie to tie the event to


Step = Callable[[Event], DropReason | None]


def step_truncate_ip(event: Event) -> DropReason | None:
    event.ip = truncate_ip(event.ip)
    return None


def step_validate(event: Event) -> DropReason | None:
    if not event.path.startswith("/") or len(event.path) > MAX_PATH:
        return DropReason.INVALID
    if not isinstance(event.kind, Kind) or not 0 <= event.engagement_ms <= 86_400_000:
        return DropReason.INVALID
    if event.kind is Kind.CUSTOM and not event.name:
        return DropReason.INVALID
    return None


def step_consent(event: Event) -> DropReason | None:
    if not event.consent.allows("analytics") or not event.consent.consent_id:
        return DropReason.NO_CONSENT
    return None


def step_drop_bots(event: Event) -> DropReason | None:
    return DropReason.BOT if is_bot(event.user_agent) else None


def step_session(event: Event) -> DropReason | None:
    if not event.session:
        return DropReason.NO_SESSION
    event.session_id = session_number(event.session)
    return None


def step_parse_user_agent(event: Event) -> DropReason | None:
    event.agent = parse_user_agent(event.user_agent)
    return None


def step_visitor_key(event: Event) -> DropReason | None:
    consent_id = event.consent.consent_id
    if not consent_id:
        return DropReason.NO_CONSENT
    event.visitor_key = visitor_key(consent_id)
    return None


def geolocate_step(geo: GeoLookup | None) -> Step:
    """The geolocate step over ``geo``; with no database, location stays empty."""

    def step_geolocate(event: Event) -> DropReason | None:
        if geo is not None and event.ip:
            location = geo.lookup(event.ip)
            event.country, event.region, event.city = (
                location.country,
                location.region,
                location.city,
            )
            event.region_code, event.city_id = location.region_code, location.city_id
        return None

    return step_geolocate


def step_write(event: Event) -> DropReason | None:
    event.line = encode(event)
    return None


Sink = Callable[[list[bytes]], None]
"""Where a pipeline's lines go: the writer's ``put_many``."""


class Pipeline:
    """The named steps, in order, with a counter per drop reason, and the sink that
    takes the lines of the events that came through them."""

    def __init__(self, steps: list[tuple[str, Step]], sink: Sink) -> None:
        self.steps = steps
        self.sink = sink
        self._run = tuple(step for _, step in steps)
        self.accepted = 0
        self.dropped: Counter[DropReason] = Counter()

    def replace(self, other: Pipeline) -> None:
        """Take ``other``'s steps and sink, keeping the counters (the gateway does so at
        start-up, once the writer runs)."""
        self.steps = other.steps
        self.sink = other.sink
        self._run = other._run

    @property
    def names(self) -> list[str]:
        """The steps' names, in order."""
        return [name for name, _ in self.steps]

    def process(self, event: Event) -> DropReason | None:
        """Run ``event`` through every step and hand on its line; the reason it was
        dropped, or ``None``."""
        reason = self._through(event)
        if reason is None:
            self.sink([event.line])
        return reason

    def process_all(self, events: Iterable[Event]) -> None:
        """Run each of ``events`` through every step, and hand the lines of those that
        came through to the sink in one call. When a step raises, the lines before
        it are handed on all the same and the exception goes to the caller, which
        may go on with the rest of an iterator."""
        lines: list[bytes] = []
        try:
            for event in events:
                if self._through(event) is None:
                    lines.append(event.line)
        finally:
            if lines:
                self.sink(lines)

    def _through(self, event: Event) -> DropReason | None:
        for step in self._run:
            reason = step(event)
            if reason is not None:
                self.dropped[reason] += 1
                return reason
        self.accepted += 1
        return None


def default_pipeline(sink: Sink, geo: GeoLookup | None) -> Pipeline:
    """The gateway's ingest steps, writing to ``sink`` and locating with ``geo``."""
    return Pipeline(
        [
            ("truncate_ip", step_truncate_ip),
            ("validate", step_validate),
            ("consent", step_consent),
            ("drop_bots", step_drop_bots),
            ("session", step_session),
            ("geolocate", geolocate_step(geo)),
            ("parse_user_agent", step_parse_user_agent),
            ("visitor_key", step_visitor_key),
            ("write", step_write),
        ],
        sink,
    )
