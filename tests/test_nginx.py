"""docs/deployment.md's nginx configuration, run by Debian's nginx in front of a real gateway.

The configuration is read from the doc, so the doc is what is tested: only the addresses,
the certificate and the log folder change (a loopback port, a certificate made here, files
under the test's folder). nginx runs as this module's own process (``daemon off``). One
test-only addition, outside the doc's block: the visitor's address may come from an
``X-Test-Visitor`` header (nginx's realip module), so the access log can be shown what it
does with addresses from anywhere, not only loopback's.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from gateway.iptools import truncate_ip
from gateway.privacy.notice import OPERATOR_NOTE
from tests.conftest import TEST_KEY, make_settings
from tests.servers import free_port, run_gateway, run_server
from tests.test_upstream_client import self_signed
from tests.upstreams import create_upstream

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
VISITORS = {  # the address a visitor comes from, and what the log may show of it
    "203.0.113.77": "203.0.113.0",
    "2001:db8:85a3:8d3:1319:8a2e:370:7348": "2001:db8:85a3::",
    "2001:db8::5": "2001:db8::",
    "2001::1:2": "2001::",
    "fe80::1": "fe80::",
}

_TEST_ONLY = """
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/startup.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {work}/temp/body;
    proxy_temp_path {work}/temp/proxy;
    fastcgi_temp_path {work}/temp/fastcgi;
    uwsgi_temp_path {work}/temp/uwsgi;
    scgi_temp_path {work}/temp/scgi;
    set_real_ip_from 127.0.0.1;
    set_real_ip_from ::1;
    real_ip_header X-Test-Visitor;
{documented}
}}
"""


def documented_nginx() -> str:
    """The ```nginx block of deployment.md's nginx section."""
    section = DOC.read_text().split("### nginx\n", 1)[1]
    found = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert found, "docs/deployment.md has no nginx block under '### nginx'"
    return found.group(1)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the documented nginx block should hold {old!r} once"
    return text.replace(old, new)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Site:
    """nginx in front of the gateway in front of the test upstream."""

    url: str
    port: int
    certificate: Path
    conf: Path
    logs: Path

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.tls(), timeout=20)


def write_conf(work: Path, port: int, gateway_port: int, key: Path, cert: Path) -> Path:
    block = documented_nginx()
    block = replace_once(block, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    ipv6 = f"listen [::1]:{port} ssl http2;" if ipv6_loopback() else ""
    block = replace_once(block, "listen [::]:443 ssl http2;", ipv6)
    block = replace_once(block, "server 127.0.0.1:8080;", f"server 127.0.0.1:{gateway_port};")
    block = replace_once(block, "/etc/letsencrypt/live/www.example.org/fullchain.pem", str(cert))
    block = replace_once(block, "/etc/letsencrypt/live/www.example.org/privkey.pem", str(key))
    block = block.replace("/var/log/nginx/", f"{work}/log/")
    for folder in ("log", "temp"):
        (work / folder).mkdir()
    conf = work / "nginx.conf"
    conf.write_text(_TEST_ONLY.format(work=work, documented=block))
    return conf


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: scripts/test installs it (apt-get install nginx).")
    work = tmp_path_factory.mktemp("nginx")
    work.chmod(0o755)  # nginx's workers drop root
    key, cert = self_signed(work)
    port = free_port()
    with run_server(create_upstream()) as upstream:
        settings = make_settings(
            upstream, work / "data", trusted_proxies="127.0.0.1", allowed_hosts="127.0.0.1"
        )
        with run_gateway(settings) as (public, _):
            gateway_port = int(public.rsplit(":", 1)[1])
            conf = write_conf(work, port, gateway_port, key, cert)
            process = subprocess.Popen(
                [NGINX, "-p", str(work), "-e", str(work / "startup.log"), "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                url = f"https://127.0.0.1:{port}"
                found = Site(url, port, cert, conf, work / "log")
                deadline = time.monotonic() + 15
                while True:
                    try:
                        with found.client() as client:
                            client.get("/_consent/state")
                        break
                    except httpx.TransportError:
                        assert process.poll() is None, process.communicate()[1]
                        assert time.monotonic() < deadline, "nginx did not answer"
                        time.sleep(0.05)
                yield found
            finally:
                process.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
                process.wait(timeout=20)


def test_the_documented_configuration_passes_nginx_t(site: Site) -> None:
    work = site.conf.parent
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(work), "-e", str(work / "startup.log"), "-c", str(site.conf)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    assert "[emerg]" not in checked.stderr and "[warn]" not in checked.stderr, checked.stderr


def choose(client: httpx.Client, origin: str, visitor: str) -> httpx.Response:
    """A visitor's 'accept all', as the banner sends it."""
    token = client.get("/_consent/state", headers={"x-test-visitor": visitor}).json()["csrf"]
    return client.post(
        "/_consent/state",
        json={"action": "accept_all"},
        headers={
            "x-csrf-token": token,
            "origin": origin,
            "sec-fetch-site": "same-origin",
            "x-test-visitor": visitor,
        },
    )


def test_a_consent_choice_works_through_nginx_on_a_port_other_than_443(site: Site) -> None:
    with site.client() as client:
        answer = choose(client, site.url, "203.0.113.77")
        assert answer.status_code == 200, answer.text
        assert answer.json()["categories"]["analytics"] is True
        # Secure and __Host- prefixed: the gateway believed nginx's X-Forwarded-Proto.
        assert answer.headers["set-cookie"].startswith("__Host-cg_consent=")
        assert "Secure" in answer.headers["set-cookie"]
        # The gateway still refuses a page of another origin.
        refused = choose(client, "https://127.0.0.1", "203.0.113.77")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site"


def test_over_http2_the_port_reaches_the_gateway_too(site: Site, tmp_path: Path) -> None:
    jar, curl = tmp_path / "cookies", ["curl", "-sS", "--http2", "--cacert", str(site.certificate)]
    state = subprocess.run(
        [*curl, "-c", str(jar), "-w", "\n%{http_version}", f"{site.url}/_consent/state"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body, version = state.rsplit("\n", 1)
    assert version == "2"
    token = json.loads(body)["csrf"]
    posted = subprocess.run(
        [
            *curl,
            *("-b", str(jar), "-o", "/dev/null", "-w", "%{http_code}"),
            *("-H", f"x-csrf-token: {token}", "-H", f"origin: {site.url}"),
            *("-H", "content-type: application/json", "--data", '{"action": "reject_all"}'),
            f"{site.url}/_consent/state",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert posted == "200"


async def test_websockets_and_redirects_pass_through(site: Site) -> None:
    async with connect(site.url.replace("https://", "wss://") + "/ws", ssl=site.tls()) as ws:
        await ws.send("hello")
        reply = await ws.recv()
        assert isinstance(reply, str) and reply.startswith("echo:hello")
    with site.client() as client:
        moved = client.get("/redirect", params={"to": "/echo/next"})
        assert moved.status_code == 302 and moved.headers["location"] == "/echo/next"
        echoed = client.get("/echo/next").json()
    assert echoed["path"] == "/echo/next"


def test_the_access_log_holds_truncated_addresses_only(site: Site) -> None:
    with site.client() as client:
        for visitor in VISITORS:
            assert client.get("/echo/logged", headers={"x-test-visitor": visitor}).is_success
    # nginx writes the line once the answer is sent, which the client may see first.
    deadline = time.monotonic() + 10
    while True:
        log = (site.logs / "consent-gateway.access.log").read_text()
        lines = [line for line in log.splitlines() if '"GET /echo/logged ' in line]
        if len(lines) == len(VISITORS) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == len(VISITORS), log
    for (visitor, shown), line in zip(VISITORS.items(), lines, strict=True):
        logged = line.split(" ", 1)[0]
        assert logged == shown, line
        assert ipaddress.ip_network(f"{logged}/{48 if ':' in logged else 24}") == (
            ipaddress.ip_network(f"{truncate_ip(visitor)}/{48 if ':' in logged else 24}")
        )
    for visitor in VISITORS:
        for name in ("consent-gateway.access.log", "consent-gateway.error.log"):
            path = site.logs / name
            assert not path.exists() or visitor not in path.read_text(), (visitor, name)


def test_the_notice_tells_the_operator_to_make_the_terminators_log_true(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"CG_UPSTREAM=http://127.0.0.1:1\nCG_SECRET_KEY={TEST_KEY}\nCG_DATA_DIR={tmp_path}\n"
    )
    # A fresh process: the command opens its own embedded engine on its own folder.
    printed = subprocess.run(
        [sys.executable, "-m", "gateway", "notice", "--env-file", str(env)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "your full IP address is never stored" in printed.stdout
    assert OPERATOR_NOTE in printed.stderr  # the visitors' text stays clean to paste
    assert OPERATOR_NOTE not in printed.stdout
    assert '"The terminator\'s own logs"' in OPERATOR_NOTE
    assert "### The terminator's own logs\n" in DOC.read_text()
