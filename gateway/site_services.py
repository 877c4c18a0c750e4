"""One site's own parts beside the process's shared ones, for a gateway with a sites file.

A site gets what a visitor of it meets: its consent (cookie, filter, log and its proof
chain, inventory), its upstream's connections, its rate limiters, its request counts,
and a page-view recorder that writes its site id. The storage, the event writer and
the geolocation reader stay the process's (:class:`~gateway.services.Services`): a
site's :class:`~gateway.services.Services` shares them and opens only its own parts.
"""

from __future__ import annotations

from gateway.analytics.pageviews import PageViewRecorder
from gateway.analytics.service import Analytics
from gateway.analytics.stale_days import StaleDays
from gateway.analytics.writer import EventWriter
from gateway.consent import build_consent
from gateway.ops.metrics import RequestMetrics
from gateway.proxy.upstream import Upstream
from gateway.services import Services, own_rate_limits
from gateway.settings import Settings
from gateway.sites import site_id


class SiteAnalytics(Analytics):
    """A site's view of the process's analytics: the shared steps, writer and storage,
    its own site id and page-view recorder. Opening it opens nothing (the process's
    analytics did); closing it hands its waiting page views to the writer."""

    def __init__(self, shared: Analytics, settings: Settings) -> None:  # no super(): shares
        self.shared = shared
        self.settings = settings
        self.storage = shared.storage
        self.site = site_id(settings)
        self.beacon_max_bytes = settings.beacon_max_bytes
        self.beacon_max_events = settings.beacon_max_events
        self._geo = shared._geo
        self.pipeline = shared.pipeline
        self.recorder = PageViewRecorder(self.pipeline, self.site, settings.download_types)

    @property
    def writer(self) -> EventWriter | None:
        return self.shared.writer

    @writer.setter
    def writer(self, value: EventWriter | None) -> None:
        self.shared.writer = value

    @property
    def stale_days(self) -> StaleDays | None:
        return self.shared.stale_days

    @stale_days.setter
    def stale_days(self, value: StaleDays | None) -> None:
        self.shared.stale_days = value

    async def open(self) -> None:
        """Nothing: the process's analytics opened the schema and the writer."""

    async def close(self) -> None:
        self.recorder.close()


def build_site_services(shared: Services, settings: Settings) -> Services:
    """A site's services from its settings (a sites file's table over the deployment's),
    in the order :func:`~gateway.services.build_services` makes them."""
    return Services(
        settings=settings,
        clock=shared.clock,
        geo=shared.geo,
        analytics=SiteAnalytics(shared.analytics, settings),
        consent=build_consent(settings, shared.clock, shared.geo),
        upstream=Upstream(settings),
        request_metrics=RequestMetrics(),
        rate_limits=own_rate_limits(settings, shared.clock),
        metrics_dir=shared.metrics_dir,
    )
