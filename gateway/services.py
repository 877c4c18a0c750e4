"""The long-lived parts of one gateway process, built once and shared by both listeners.

:func:`build_services` makes them in the order they depend on each other, in
one place: the geolocation reader, analytics (storage, ingest, writer), consent
(its policy reads the geolocation), the upstream's connections, the request
metrics and the rate limiters. The public app's lifespan opens and closes them
(:meth:`Services.startup`, :meth:`Services.shutdown`); the admin app reads the
same object. Nothing is added to it after it is built, but for the sites of a sites
file, which a reload replaces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.analytics.service import Analytics
from gateway.audit import record_audit
from gateway.clock import Clock
from gateway.consent import Consent, build_consent
from gateway.geo import GeoLookup
from gateway.geo.lookup import open_geo
from gateway.ops.metrics import RequestMetrics
from gateway.proxy.upstream import Upstream
from gateway.ratelimit import RateLimiter
from gateway.settings import Settings
from gateway.stats.goals import seed_goals
from gateway.storage import Storage

Hook = Callable[[], Awaitable[None]]


def seed_settings_goals(storage: Storage, site: str, settings: Settings) -> None:
    """Add the goals of ``CG_GOALS`` the site lacks, each written to the audit log."""
    for stored in seed_goals(storage, site, settings.goals):
        record_audit(storage, "settings", "goal.add", f"{site}/{stored.name}", detail="CG_GOALS")


@dataclass(frozen=True)
class Lifecycle:
    """A part's start-up and shutdown hooks, for parts that need the services open first."""

    start: Hook
    stop: Hook


@dataclass(frozen=True)
class Services:
    """What a gateway process keeps for its lifetime, typed, for both listeners."""

    settings: Settings
    clock: Clock
    geo: GeoLookup
    analytics: Analytics
    consent: Consent
    upstream: Upstream
    request_metrics: RequestMetrics
    rate_limits: dict[str, RateLimiter]
    # Where each process of `serve --workers` publishes its counters for /metrics.
    metrics_dir: Path | None = None
    # With a sites file, each site's own services by site id, in the file's order
    # (gateway/site_services.py); the one mapping a SIGHUP reload updates in place.
    sites: dict[str, Services] = field(default_factory=dict)

    @property
    def storage(self) -> Storage:
        return self.analytics.storage

    def startup(self) -> list[Hook]:
        """What the public app's lifespan opens, in order: the consent log's writers
        start once analytics has migrated the schema."""

        async def open_consent_log() -> None:
            await self.consent.log.open(self.storage)
            await self.consent.inventory.open(self.storage)

        async def seed_goals() -> None:  # CG_GOALS, once the schema is in place
            if self.settings.goals:
                await self.storage.run(
                    lambda: seed_settings_goals(self.storage, self.analytics.site, self.settings)
                )

        return [self.analytics.open, open_consent_log, seed_goals]

    def shutdown(self) -> list[Hook]:
        """What the lifespan closes, run in reverse order of this list (the upstream's
        connections are made when first needed, and closed last)."""
        return [
            self.upstream.close,
            self.analytics.close,
            self.consent.log.close,
            self.consent.inventory.close,
        ]


def own_rate_limits(settings: Settings, clock: Clock) -> dict[str, RateLimiter]:
    """The rate-limited paths of the reserved prefix; a rate set to ``off`` is left out.

    The erase route shares the consent API's rate (a budget of its own): an
    erasure is a consent change, and its jobs are bounded by their queue besides.
    """
    rates = {
        f"{settings.prefix}state": settings.rate_limit_consent,
        f"{settings.prefix}collect": settings.rate_limit_beacon,
        f"{settings.prefix}csp-report": settings.rate_limit_beacon,  # as many as beacons
        f"{settings.prefix}privacy/erase": settings.rate_limit_consent,
        f"{settings.prefix}reports/unsubscribe": settings.rate_limit_consent,
    }
    return {path: RateLimiter(rate, clock=clock) for path, rate in rates.items() if rate}


def build_services(
    settings: Settings, clock: Clock, *, metrics_dir: Path | None = None
) -> Services:
    """Build a process's services from ``settings``, checking them as it goes.

    The geolocation database opens here, not on the first request: a missing or
    corrupt one stops start-up with a sentence saying how to fetch one.
    """
    geo = open_geo(settings)
    return Services(
        settings=settings,
        clock=clock,
        geo=geo,
        analytics=Analytics(settings, geo=geo),
        consent=build_consent(settings, clock, geo),
        upstream=Upstream(settings),
        request_metrics=RequestMetrics(),
        rate_limits=own_rate_limits(settings, clock),
        metrics_dir=metrics_dir,
    )
