"""``consent-gateway demo``: the demo site and the gateway, in one process, one folder.

Everything the demo keeps (its secret key, later the embedded ClickHouse data)
lives under one folder, ``./demo-data`` by default, so deleting that folder
resets the demo. A secret key is generated on the first run and reused after,
so visitors' cookies survive a restart.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path

from gateway.commands import Registry
from gateway.demo.account import ensure_demo_admin
from gateway.demo.past import start_past_in_background
from gateway.demo.site import create_demo_site
from gateway.demo.traffic import start_in_background
from gateway.geo.fetch import fetch_if_missing
from gateway.geo.lookup import database_path
from gateway.server import Listener, gateway_listeners, run
from gateway.settings import load_settings


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now, for the demo site behind the gateway."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def demo_secret(data_dir: Path) -> str:
    """The demo's secret key: read from the data folder, or generated there and announced."""
    path = data_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    print(f"Generated a new secret key for the demo in {path} (set CG_SECRET_KEY in production).")
    return key


# The demo's trust: a primary school answering 127.0.0.1 and a college answering
# localhost (both loopback, no set-up), and each *.localhost name browsers resolve.
DEMO_SITES = """\
# Written by `consent-gateway demo`: two schools of one trust behind one gateway.
[sites.primary]
hosts = ["127.0.0.1", "primary.localhost"{also}]
upstream = "http://127.0.0.1:{primary}"
goals = ["/contact", "/courses/*"]

[sites.college]
hosts = ["localhost", "college.localhost"]
upstream = "http://127.0.0.1:{college}"
policy_revision = "college-1"
goals = ["/contact", "/courses/first-aid"]
banner_texts = {{ en = {{ title = "Cookies at Riverside College" }} }}
"""


def demo_sites_file(data_dir: Path, primary_port: int, college_port: int, host: str = "") -> Path:
    """The demo's sites file (docs/many-sites.md), written into its data folder; ``host``
    (the demo's ``--host``, when it is one address) is the primary school's too."""
    path = data_dir / "sites.toml"
    data_dir.mkdir(parents=True, exist_ok=True)
    loopback = ("", "0.0.0.0", "127.0.0.1", "localhost")
    also = "" if host in loopback or ":" in host else f', "{host}"'
    path.write_text(DEMO_SITES.format(primary=primary_port, college=college_port, also=also))
    return path


def run_demo(
    data_dir: str,
    host: str,
    port: int,
    site_port: int | None,
    admin_port: int = 8081,
    visits: int = 2000,
    *,
    commands: Registry,
) -> None:
    """Start the demo site and the gateway in front of it, and print where to go.

    ``visits`` synthetic visitors then browse through the gateway
    (:mod:`gateway.demo.traffic`); loopback is a trusted proxy so that their
    ``X-Forwarded-For`` addresses count. ``commands`` are what the admin
    listener runs for the CLI (``consent-gateway user add`` next to the demo).
    """
    folder = Path(data_dir).resolve()
    key = os.environ.get("CG_SECRET_KEY") or demo_secret(folder)
    site_port, college_port = site_port or free_port(), free_port()
    settings = load_settings(
        overrides={
            "sites_file": demo_sites_file(folder, site_port, college_port, host),
            "secret_key": key,
            "host": host,
            "port": port,
            "admin_port": admin_port,
            "data_dir": str(folder),
            "trusted_proxies": "127.0.0.1,::1",
        }
    )
    if settings.geolocation:  # the first run downloads the free database (CC BY 4.0)
        fetch_if_missing(database_path(settings))
    print(
        f"Demo sites (the upstreams): http://127.0.0.1:{site_port}/ (primary school), "
        f"http://127.0.0.1:{college_port}/ (college)"
    )
    print(
        f"Through the gateway:       http://127.0.0.1:{port}/ (primary school), "
        f"http://localhost:{port}/ (college)"
    )
    print(f"  what the site receives:  http://127.0.0.1:{port}/echo")
    print(f"Admin (dashboard):         http://127.0.0.1:{settings.admin_port}/")
    email, password = ensure_demo_admin(settings)
    print(f"  log in as {email} with the one-time password {password}")
    print("  (a new one at every start; add your own: consent-gateway user add EMAIL --role admin)")
    print(f"Data folder:               {folder}")
    print("Press Ctrl-C to stop.")
    sys.stdout.flush()
    if visits > 0:  # the Host names the site: 127.0.0.1 the primary school, localhost the college
        start_past_in_background(settings, "127.0.0.1", port, visits)  # the month and year
        live = max(visits // 20, 1)  # and a few now, for "right now"
        start_in_background(f"http://127.0.0.1:{port}", live)
        start_in_background(f"http://localhost:{port}", max(live // 2, 1))
    run(
        [
            Listener(
                create_demo_site("Riverside Primary School"), "127.0.0.1", site_port, "primary"
            ),
            Listener(create_demo_site("Riverside College"), "127.0.0.1", college_port, "college"),
            *gateway_listeners(settings, commands),
        ],
        background_nice=settings.background_nice,
    )
