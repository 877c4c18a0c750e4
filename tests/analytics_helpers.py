"""Building events for the analytics tests: a consented visitor, a browser, a clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.analytics.events import Event, Kind
from gateway.context import NO_CONSENT, ConsentView, RequestContext

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


@dataclass(frozen=True)
class Consented:
    """A visitor who accepted analytics: what the consent feature will hand us."""

    consent_id: str | None = "c0ffee00c0ffee00c0ffee00c0ffee00"

    def allows(self, category: str) -> bool:
        return category in ("necessary", "analytics")


def make_event(
    path: str = "/",
    *,
    kind: Kind = Kind.PAGEVIEW,
    at: float | None = None,
    session: str | None = "session-1",
    consent: ConsentView | None = None,
    ip: str = "203.0.113.77",
    user_agent: str = FIREFOX,
    **fields: object,
) -> Event:
    """An event as the beacon or the page-view recorder would build it."""
    event = Event(
        kind=kind,
        time=time.time() if at is None else at,
        site="test",
        session=session,
        consent=Consented() if consent is None else consent,
        ip=ip,
        user_agent=user_agent,
        host="gateway.test",
        path=path,
    )
    for name, value in fields.items():
        setattr(event, name, value)
    return event


def make_context(
    client_ip: str = "192.0.2.1", consent: ConsentView | None = None
) -> RequestContext:
    """A request of the consented visitor (or ``consent``) over HTTPS, with its session."""
    return RequestContext(
        client_ip=client_ip,
        scheme="https",
        host="gateway.test",
        cookies=[],
        session_id="s",
        consent=Consented() if consent is None else consent,
    )


__all__ = ["FIREFOX", "IPHONE", "NO_CONSENT", "Consented", "make_context", "make_event"]
