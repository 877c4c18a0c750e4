"""``serve --workers N``: N gateway processes sharing the public and admin ports.

Safe because every per-visitor fact lives in signed cookies and the only shared
store is ClickHouse, so any process can answer any request. The supervisor
checks settings, migrates once, binds both sockets and forks N workers that
accept on them (the pre-fork model of gunicorn and nginx). Each worker has its
own spool and writer; SIGTERM or SIGINT reaches every worker, each drains and
flushes, and a dead worker is replaced, but a failed start-up stops them all.
The embedded engine (``chdb://``) allows one process only, so more workers are
refused there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from gateway.app import GatewayApp
from gateway.commands import Registry
from gateway.exceptions import SettingsError, StorageError
from gateway.ops.metrics import publish
from gateway.server import gateway_listeners, serve_all, tune_process
from gateway.settings import Settings
from gateway.storage import storage_from_settings
from gateway.storage.migrator import migrate

logger = logging.getLogger("gateway.workers")

STARTUP_FAILED = 3  # a worker's exit status when its start-up failed (as uvicorn's)
PUBLISH_SECONDS = 1.0  # how often a worker writes its counters for /metrics


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse ``workers`` above 1 on the embedded engine, saying why and what to do."""
    if workers < 1:
        raise SettingsError(f"--workers must be 1 or more, not {workers}.")
    dsn = settings.clickhouse_dsn
    if workers > 1 and (not dsn or dsn.startswith("chdb:")):
        where = dsn or f"the default, {settings.data_dir}/clickhouse"
        raise SettingsError(
            f"--workers {workers} needs a ClickHouse server: the embedded engine "
            f"(CG_CLICKHOUSE_DSN: {where}) keeps its data in a folder that only one process "
            "can open. Run one worker (it serves thousands of requests a second), or set "
            "CG_CLICKHOUSE_DSN=http://user:password@host:8123/database to a ClickHouse server "
            "and run several workers, or several machines, against it (docs/deployment.md)."
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` that forked workers inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SettingsError(
            f"Cannot listen on {host}:{port} ({error.strerror}); free the port or choose "
            "another with --port / --admin-port."
        ) from None
    sock.set_inheritable(True)
    return sock


def _worker(
    settings: Settings,
    commands: Registry,
    sockets: tuple[socket.socket, socket.socket],
    folder: Path,
    level: str,
) -> int:
    """Run one worker's listeners on the inherited sockets; its exit status."""
    import uvloop

    listeners = gateway_listeners(settings, commands, sockets=sockets, metrics_dir=folder)
    public = listeners[0].app
    assert isinstance(public, GatewayApp)
    services = public.services

    async def main() -> bool:
        import asyncio

        async def publisher() -> None:
            while True:
                await asyncio.sleep(PUBLISH_SECONDS)
                publish(services, folder)

        task = asyncio.create_task(publisher())
        try:
            return await serve_all(listeners, level)
        finally:
            task.cancel()
            publish(services, folder)  # the final counters, after the writer's last flush

    tune_process(settings.background_nice)
    started = uvloop.run(main())
    return 0 if started else STARTUP_FAILED


def serve_workers(
    settings: Settings, workers: int, log_level: str = "info", *, commands: Registry
) -> int:
    """Migrate, bind both ports and supervise ``workers`` gateway processes; the exit status.

    ``commands`` are the CLI's, for each worker's admin listener.
    """

    check_workers(settings, workers)
    try:
        migrate(storage_from_settings(settings))
    except StorageError as error:
        print(f"consent-gateway: {error}", file=sys.stderr)
        return 1
    sockets = (bind(settings.host, settings.port), bind(settings.admin_host, settings.admin_port))
    folder = Path(tempfile.mkdtemp(prefix="cg-metrics-"))
    try:
        return supervise(
            workers, lambda number: _worker(settings, commands, sockets, folder, log_level)
        )
    finally:
        for sock in sockets:
            sock.close()
        shutil.rmtree(folder, ignore_errors=True)


def supervise(workers: int, run_worker: Callable[[int], int]) -> int:
    """Fork ``workers`` children that each return ``run_worker(number)`` as their exit status.

    SIGTERM or SIGINT is passed on to every child (and SIGHUP, which reloads a sites
    file), and this returns once all
    have exited: 0, or 1 when a child failed its start-up (exit status
    :data:`STARTUP_FAILED`), which stops the others. A child that exits for
    any other reason while no stop was asked for is replaced. Sockets bound
    before the call are inherited by every child.
    """
    children: dict[int, int] = {}  # pid -> worker number
    stopping = False

    def spawn(number: int) -> int:
        pid = os.fork()
        if pid == 0:
            for sig in _SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            # Until its app reloads the sites file on SIGHUP, a worker lets one pass.
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            code = 1
            try:
                code = run_worker(number)
            except BaseException:
                logger.exception("worker %d failed", number)
            finally:
                os._exit(code)
        children[pid] = number
        return pid

    def stop(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def reload(sig: int, frame: FrameType | None) -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    previous = {sig: signal.signal(sig, stop) for sig in _SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
    status = 0
    try:
        for number in range(workers):
            spawn(number)
        if stopping:  # a signal came while forking: make sure every child hears it
            stop(signal.SIGTERM, None)
        logger.info("supervising %d workers: %s", workers, sorted(children))
        while children:
            try:
                pid, raw = os.wait()
            except ChildProcessError:
                break
            number = children.pop(pid)
            code = os.waitstatus_to_exitcode(raw)
            if stopping:
                continue
            if code == STARTUP_FAILED:
                logger.error("worker %d failed to start; stopping the others", number)
                status = 1
                stop(signal.SIGTERM, None)
                continue
            logger.warning("worker %d (pid %d) exited with %d; starting another", number, pid, code)
            time.sleep(0.5)  # no tight loop if something kills workers as they come
            logger.info("worker %d is now pid %d", number, spawn(number))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


_SIGNALS = (signal.SIGTERM, signal.SIGINT)
