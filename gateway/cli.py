"""The ``consent-gateway`` command: one subcommand per job, each with ``--help``.

Every subcommand is declared once, as a :class:`~gateway.commands.Command` (its
package's ``commands`` module; ``serve`` and ``demo`` here), and :data:`COMMANDS`
lists them all: the parser is built from it, and ``serve`` and ``demo`` hand it
to the admin listener, whose local-commands route runs its actions.

Settings errors are printed as the sentence the settings module wrote and end
the command with exit status 2, before anything listens.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.admin.commands import USER
from gateway.commands import Command, Registry, folder_in_use
from gateway.consent.commands import CONSENT, COOKIES
from gateway.exceptions import SettingsError
from gateway.geo.commands import GEO
from gateway.privacy.commands import ERASE, EXPORT, NOTICE, RETENTION
from gateway.reports.commands import REPORT
from gateway.settings import Settings
from gateway.stats.commands import TOKEN
from gateway.storage.commands import MIGRATE


def _serve(args: argparse.Namespace) -> int:
    from gateway.geo.fetch import fetch_if_missing
    from gateway.geo.lookup import database_path
    from gateway.ops.logging import configure_logging
    from gateway.server import gateway_listeners, run
    from gateway.settings import load_settings
    from gateway.workers import check_workers, serve_workers

    settings = load_settings(
        env_file=args.env_file,
        overrides={
            "upstream": args.upstream,
            "host": args.host,
            "port": args.port,
            "admin_host": args.admin_host,
            "admin_port": args.admin_port,
            "workers": args.workers,
        },
    )
    configure_logging(settings.log_format, args.log_level)
    check_workers(settings, settings.workers)
    if settings.geolocation:  # the first start fetches the free database, as demo does
        fetch_if_missing(database_path(settings))
    in_use = folder_in_use(settings)
    if in_use is not None:
        print(f"consent-gateway serve: {in_use}", file=sys.stderr)
        return 1
    if not settings.allowed_hosts and not settings.sites_file:  # the sites name their hosts
        logging.getLogger("gateway").warning(
            "CG_ALLOWED_HOSTS is empty: any Host header is answered; list the names the "
            "site is served under so a forged Host cannot poison redirects and links."
        )
    print(
        f"consent-gateway {__version__}: http://{settings.host}:{settings.port}/ -> "
        f"{_upstreams(settings)}; admin on http://{settings.admin_host}:{settings.admin_port}/; "
        f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    )
    sys.stdout.flush()
    if settings.workers > 1:
        return serve_workers(settings, settings.workers, args.log_level, commands=COMMANDS)
    # A start-up that failed (ClickHouse unreachable, a port taken) was logged; exit 1.
    listeners = gateway_listeners(settings, COMMANDS)
    return 0 if run(listeners, args.log_level, settings.background_nice) else 1


def _upstreams(settings: Settings) -> str:
    """Where ``serve`` forwards: CG_UPSTREAM, or each site of the sites file."""
    if not settings.sites_file:
        return settings.upstream
    from gateway.sites_file import load_sites

    return ", ".join(f"{site.id} ({site.settings.upstream})" for site in load_sites(settings))


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo.runner import run_demo

    run_demo(
        args.data_dir,
        args.host,
        args.port,
        args.site_port,
        args.admin_port,
        args.visits,
        commands=COMMANDS,
    )
    return 0


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--upstream", help="the site to protect, e.g. http://127.0.0.1:8000")
    serve.add_argument("--host", help="address of the public listener (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port of the public listener (default 8080)")
    serve.add_argument("--admin-host", help="address of the admin listener (default 127.0.0.1)")
    serve.add_argument("--admin-port", type=int, help="port of the admin listener (default 8081)")
    serve.add_argument(
        "--workers",
        type=int,
        help="gateway processes sharing the ports (default 1, or CG_WORKERS); more than 1 "
        "needs a ClickHouse server DSN",
    )
    serve.add_argument("--env-file", default=".env", help="a .env file to read (default .env)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def _demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--data-dir", default="./demo-data", help="folder for all demo data")
    demo.add_argument("--host", default="127.0.0.1", help="address of the gateway listener")
    demo.add_argument("--port", type=int, default=8080, help="port of the gateway (default 8080)")
    demo.add_argument("--admin-port", type=int, default=8081, help="port of the admin listener")
    demo.add_argument("--site-port", type=int, help="port of the demo site (default: a free one)")
    demo.add_argument(
        "--visits",
        type=int,
        default=2000,
        help="synthetic visits of the past month, a twentieth of them sent live through the "
        "gateway at start, and a year of history (default 2000; 0: none)",
    )


SERVE = Command(
    "serve",
    help="run the gateway in front of a site",
    description="Run the gateway in front of the site at --upstream (or CG_UPSTREAM). "
    "Every other setting comes from CG_* environment variables, .env or CG_CONFIG_FILE.",
    arguments=_serve_arguments,
    handler=_serve,
)
DEMO = Command(
    "demo",
    help="run the gateway in front of a bundled demo site",
    description="Start a small demo website and the gateway in front of it, keep all data "
    "under --data-dir, and print the URLs to open.",
    arguments=_demo_arguments,
    handler=_demo,
)

# Every command, in the order --help lists them.
COMMANDS = Registry(
    [
        SERVE,
        DEMO,
        GEO,
        MIGRATE,
        USER,
        TOKEN,
        ERASE,
        EXPORT,
        RETENTION,
        NOTICE,
        CONSENT,
        COOKIES,
        REPORT,
    ]
)


def build_parser() -> argparse.ArgumentParser:
    """The ``consent-gateway`` parser: one subcommand per command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="consent-gateway",
        description="A reverse proxy that makes cookie consent and privacy-first analytics true.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.arguments(sub)
        sub.set_defaults(handler=command.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from gateway.ops.logging import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging("text")  # serve switches to CG_LOG_FORMAT once settings are read
    try:
        code: int = args.handler(args)
    except SettingsError as error:
        print(f"consent-gateway: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return code
