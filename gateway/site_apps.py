"""A gateway with a sites file: one public app per site, the request's Host picks it.

Each site's app is the single-site app (:func:`gateway.app.create_app`) over its own
services (:mod:`gateway.site_services`); :class:`SiteRouter` sends a request to the
app of the site that lists its ``Host`` and refuses any other host with the 400 that
``CG_ALLOWED_HOSTS`` gives. :class:`Sites` opens and closes the sites' apps and
reloads the file (``serve`` on SIGHUP): a file that does not load, or a site that
does not build, keeps the sites in service and logs why in one line. A reloaded site
whose settings did not change keeps its app, connections and consent log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from time import perf_counter

from gateway.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.caching import DateHeader, with_date
from gateway.errors import refuse_websocket, send_error
from gateway.exceptions import SettingsError
from gateway.hosts import host_name, request_host
from gateway.ops.metrics import RequestMetrics
from gateway.services import Hook, Services
from gateway.settings import Settings
from gateway.site_services import build_site_services
from gateway.sites_file import Site, load_sites

logger = logging.getLogger("gateway")

# Seconds a replaced site's app keeps its parts open for the requests it is answering
# (uvicorn's graceful shutdown gives requests as long).
RETIRE_AFTER = 10.0
_CACHE_SIZE = 1024


@dataclass(frozen=True)
class SiteApp:
    """One site's public app, as :func:`gateway.app.create_app` returns it, and its parts."""

    site: Site
    services: Services
    app: ASGIApp
    startup: list[Hook]
    shutdown: list[Hook]


# A site's public app over its services, with its start-up and shutdown hooks
# (create_app's, passed in by gateway/app.py).
BuildApp = Callable[[Services], tuple[ASGIApp, list[Hook], list[Hook]]]


class SiteRouter:
    """ASGI: the app of the site whose hosts name the request's ``Host``, else a 400.

    Answers are cached by the raw ``Host`` value in a bounded map emptied when full, as
    :class:`~gateway.hosts.AllowedHosts` does; :meth:`route` replaces the whole map.
    """

    def __init__(self, metrics: RequestMetrics) -> None:
        self.by_host: dict[str, ASGIApp] = {}
        self._cache: dict[str, ASGIApp | None] = {}
        self.metrics = metrics  # the refusals, beside the sites' own counts
        self.date = DateHeader()

    def route(self, apps: list[SiteApp]) -> None:
        self.by_host = {host: item.app for item in apps for host in item.site.hosts}
        self._cache = {}

    def _app(self, value: str) -> ASGIApp | None:
        try:
            return self._cache[value]
        except KeyError:
            pass
        name = host_name(value) if value else None
        app = self.by_host.get(name) if name else None
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[value] = app
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = request_host(scope["headers"])
        app = self._app(host) if host is not None else None
        if app is not None:
            await app(scope, receive, send)
            return
        if host is None:
            code, message = "bad_host", "A request may carry one Host header only."
        else:
            code = "host_not_allowed"
            message = "The Host header does not name a site this gateway serves."
        if scope["type"] == "websocket":
            await refuse_websocket(scope, send, 400, code, message)
            return
        start = perf_counter()

        async def send_out(event: Message) -> None:
            if event["type"] == "http.response.start":  # as the front door answers
                self.metrics.count(False, event["status"], perf_counter() - start)
                event["headers"] = with_date(event.get("headers", []), self.date)
            await send(event)

        await send_error(send_out, 400, code, message, request_id=None, as_json=True)


class Sites:
    """The sites a gateway serves now: built from the sites file, opened, reloaded, closed.

    ``shared`` are the process's services (storage, writer, geolocation); ``build`` makes
    a site's app. The file is read and every site built here, so a bad file stops
    start-up before the gateway listens.
    """

    def __init__(self, settings: Settings, shared: Services, build: BuildApp) -> None:
        self.settings = settings
        self.shared = shared
        self.build = build
        self.router = SiteRouter(shared.request_metrics)
        self._reloading = asyncio.Lock()  # one reload at a time, however fast the SIGHUPs
        self.apps = [self._build(site) for site in load_sites(settings)]
        self._retiring: set[asyncio.Task[object]] = set()
        self._signals = False

    def _build(self, site: Site) -> SiteApp:
        try:
            services = build_site_services(self.shared, site.settings)
            return SiteApp(site, services, *self.build(services))
        except SettingsError as error:
            raise SettingsError(f"{self.settings.sites_file}: [sites.{site.id}]: {error}") from None

    def _publish(self) -> None:
        """Route to the sites in service and list them in the shared services."""
        self.router.route(self.apps)
        self.shared.sites.clear()
        self.shared.sites.update((item.site.id, item.services) for item in self.apps)

    async def open(self) -> None:
        """Open every site's parts, route to them, and reload on SIGHUP from now on."""
        for item in self.apps:
            for hook in item.startup:
                await hook()
        self._publish()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only the main thread's loop takes signals (not a test's server thread).
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_hangup)
            self._signals = True

    def _on_hangup(self) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(self.reload())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def reload(self) -> bool:
        """Read the sites file again and serve what it says; ``False`` (and one log line
        saying why) when it does not load, and the sites in service stay as they were."""
        async with self._reloading:
            return await self._reload()

    async def _reload(self) -> bool:
        kept = {item.site.id: item for item in self.apps}
        fresh: list[SiteApp] = []
        try:
            for site in load_sites(self.settings):
                old = kept.get(site.id)
                same = old is not None and _same(old.site, site)
                fresh.append(old if old is not None and same else self._build(site))
        except SettingsError as error:
            logger.error("sites file not reloaded, the sites in service stay: %s", error)
            return False
        except Exception:  # a bug, not the file: say so, and keep serving
            logger.exception("sites file not reloaded, the sites in service stay")
            return False
        started = [item for item in fresh if item not in self.apps]
        retired = [item for item in self.apps if item not in fresh]
        for item in retired:  # a site's consent log written up to now, in order
            await asyncio.to_thread(item.services.consent.log.flush)
        try:
            for item in started:
                for hook in item.startup:
                    await hook()
        except Exception as error:
            logger.error("sites file not reloaded, the sites in service stay: %s", error)
            for item in started:
                await _shut_down(item)
            return False
        self.apps = fresh
        self._publish()
        for item in retired:
            task: asyncio.Task[object] = asyncio.create_task(_shut_down(item, RETIRE_AFTER))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        logger.info(
            "sites file reloaded: %s", ", ".join(item.site.id for item in fresh) or "no sites"
        )
        return True

    async def close(self) -> None:
        """Close every site's parts, those of replaced sites included."""
        if self._signals:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signals = False
        waiting = list(self._retiring)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for item in self.apps:
            await _shut_down(item)


def _same(old: Site, new: Site) -> bool:
    """Whether a reloaded site is the one in service (keys compared as text: a
    :class:`~starlette.datastructures.Secret` equals only itself)."""
    return (
        old.hosts == new.hosts
        and old.settings.secret_keys == new.settings.secret_keys
        and replace(old.settings, secret_key=()) == replace(new.settings, secret_key=())
    )


async def _shut_down(item: SiteApp, after: float = 0.0) -> None:
    try:
        if after:
            await asyncio.sleep(after)
    finally:  # cancelled (the gateway stops): close now
        for hook in reversed(item.shutdown):
            try:
                await hook()
            except Exception:
                logger.exception("closing site %s failed", item.site.id)
