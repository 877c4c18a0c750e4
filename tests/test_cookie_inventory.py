"""Cookie knowledge, the inventory and the declaration, on the real thing.

The classification order (operator, built-in, Open Cookie Database, default) and
the database's third-party rows; the refresh script on the shipped file; then a
real gateway in front of a real upstream that sets cookies: the inventory's counts
in ClickHouse, ``consent-gateway cookies`` in a fresh process, the admin page,
``/_consent/cookies`` in the banner's languages, the privacy page and ``notice``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.clock import system_clock
from gateway.commands import announcement_path
from gateway.consent.cookie_database import load_database
from gateway.consent.cookie_rules import BUILT_IN, DATABASE, DEFAULT, OPERATOR, CookieClassifier
from gateway.consent.host_inventory import COLUMNS as HOST_COLUMNS
from gateway.consent.host_inventory import MAX_NEW_PER_FLUSH as MAX_HOST_NEW
from gateway.consent.host_inventory import HostInventory
from gateway.consent.inventory import (
    COLUMNS,
    MAX_NAMES,
    MAX_NEW_PER_FLUSH,
    CookieInventory,
    suggest,
)
from gateway.consent.third_parties import ThirdParties
from gateway.storage import storage_from_settings
from tests.admin_helpers import add_account, login
from tests.conftest import make_settings
from tests.servers import run_gateway, run_server
from tests.test_local_commands import cli

ROOT = Path(__file__).resolve().parent.parent
REFRESH = [sys.executable, "scripts/refresh_cookie_database.py"]


def classifier(*rules: tuple[str, str]) -> CookieClassifier:
    return CookieClassifier(rules, "marketing")


def test_the_operator_then_built_in_then_the_database_then_the_default() -> None:
    plain = classifier()
    assert (plain.category("_ga"), plain.explain("_ga").source) == ("analytics", BUILT_IN)
    assert plain.explain("_ga").provider == "Google Analytics"  # the database's words
    # Only the database knows Adobe's AMCV_ prefix (a wildcard row).
    adobe = plain.explain("AMCV_1234%40AdobeOrg")
    assert (adobe.category, adobe.source) == ("marketing", DATABASE)
    assert adobe.provider.startswith("Adobe") and adobe.purpose
    assert plain.explain("_gac_gb_UA-1").source == DATABASE  # prefix, longest first
    assert plain.explain("cookie_nobody_knows") == plain.explain("cookie_nobody_knows")
    assert plain.explain("cookie_nobody_knows").source == DEFAULT
    # The operator's rule wins over the built-in list and the database.
    ruled = classifier(("_ga", "necessary"), ("AMCV_*", "analytics"))
    assert (ruled.category("_ga"), ruled.explain("_ga").source) == ("necessary", OPERATOR)
    assert ruled.explain("AMCV_x").category == "analytics"
    # A name nothing knows gets a suggestion from the words in it.
    assert [suggest(n, "marketing") for n in ("app_sess", "ui_lang", "visits_seen", "zz")] == [
        "necessary", "preferences", "analytics", "marketing",
    ]  # fmt: skip


def test_a_third_partys_row_never_names_the_sites_own_cookie() -> None:
    database = load_database()
    # Instagram's sessionid lives on instagram.com, and Instagram sets nothing on the
    # site's own domain: the site's sessionid is not Instagram's.
    assert database.lookup("sessionid") is None
    assert database.lookup("c_user") is None  # Facebook's, on facebook.com
    assert classifier().explain("sessionid").provider == "Django"  # built in: necessary
    assert classifier().explain("c_user").source == DEFAULT
    # LinkedIn sets cookies on sites' own domains (the Insight Tag), so its third-party
    # rows stand in when nothing else knows the name.
    borrowed = database.lookup("lidc")
    assert borrowed is not None and borrowed.provider == "LinkedIn" and borrowed.domain
    # The site's own rows come first: Google Analytics' _ga is first party.
    ga = database.lookup("_ga")
    assert ga is not None and ga.first_party


def test_the_refresh_script_rebuilds_the_shipped_files(tmp_path: Path) -> None:
    shipped = ROOT / "gateway" / "consent" / "open_cookie_database"
    run = subprocess.run(
        [*REFRESH, "--from", str(shipped), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "cookies" in run.stdout
    for name in ("open-cookie-database.csv", "LICENSE", "SOURCE.md"):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes()
    truncated = tmp_path / "short"
    truncated.mkdir()
    lines = (shipped / "open-cookie-database.csv").read_text(encoding="utf-8").splitlines()
    (truncated / "open-cookie-database.csv").write_text("\n".join(lines[:50]), encoding="utf-8")
    (truncated / "LICENSE").write_text("x", encoding="utf-8")
    refused = subprocess.run(
        [*REFRESH, "--from", str(truncated), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "truncated" in refused.stderr
    assert not (tmp_path / "out").exists()


def test_random_names_cannot_grow_the_inventory(tmp_path: Path) -> None:
    settings = make_settings("http://127.0.0.1:1", tmp_path)
    inventory = CookieInventory(classifier(), settings, "site", system_clock, interval=1e9)
    inventory._due = 1e12
    for n in range(MAX_NEW_PER_FLUSH + 500):
        inventory.met(f"attack{n}", False, 1000.0)
    assert len(inventory.pending) == MAX_NEW_PER_FLUSH and inventory.refused == 500
    inventory.met("site_cookie", True, 1000.0, b"site_cookie=1; Max-Age=60")  # the site's own
    assert "site_cookie" in inventory.pending
    for batch in range(MAX_NAMES // MAX_NEW_PER_FLUSH + 1):
        inventory.drain()
        for n in range(MAX_NEW_PER_FLUSH):
            inventory.met(f"more{batch}_{n}", False, 1000.0)
    inventory.drain()
    assert len(inventory.known) == MAX_NAMES
    inventory.met("attack0", True, 1000.0)  # known names still count; new browser names do not
    inventory.met("yet_another", True, 1000.0)
    assert list(inventory.pending) == ["attack0"]


async def site_page(request: Request) -> Response:
    response = HTMLResponse("<!doctype html><title>School</title><p>Hello</p>")
    response.set_cookie("sessionid", "s", httponly=True, samesite="lax")
    response.set_cookie("_ga", "GA1.1.1", max_age=2 * 365 * 86400)
    response.set_cookie("widget_state", "open", max_age=3600)
    return response


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    site = Starlette(routes=[Route("/", site_page)])
    with run_server(site) as upstream:
        settings = make_settings(upstream, tmp_path_factory.mktemp("inventory"))
        with run_gateway(settings) as (public, admin):
            yield settings, public, admin


def test_the_inventory_counts_what_crosses_the_gateway(running: tuple[Any, str, str]) -> None:
    settings, public, admin = running
    with httpx.Client(base_url=public) as browser:
        for _ in range(2):
            browser.get("/")  # no consent: _ga and widget_state blocked, sessionid passed
        browser.get("/", headers={"Cookie": "_ga=GA1.1.1; random_x=1; sessionid=s"})
        declaration = browser.get("/_consent/cookies", headers={"Accept-Language": "fr"})
    token = json.loads(announcement_path(settings).read_text())["token"]
    answer = httpx.post(
        f"{admin}/_local/commands/consent.cookies",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    listed = answer.json()["cookies"]
    rows = {row["name"]: row for row in listed}
    assert [row["name"] for row in listed] == ["random_x", "widget_state", "_ga", "sessionid"]
    assert [row["unknown"] for row in listed] == [True, True, False, False]  # unknown first
    ga, session = rows["_ga"], rows["sessionid"]
    assert (ga["passed"], ga["blocked"], ga["set_by_site"], ga["sent_by_browser"]) == (0, 4, 1, 1)
    assert (ga["category"], ga["source"], ga["provider"]) == (
        "analytics",
        "built-in",
        "Google Analytics",
    )
    assert ga["lifetime"] == 2 * 365 * 86400 and ga["party"] == "third"
    # Set three times, and sent back twice (the client keeps what passed).
    assert (session["passed"], session["blocked"], session["lifetime"]) == (5, 0, 0)
    assert "HttpOnly" in session["flags"] and "SameSite=Lax" in session["flags"]
    assert session["party"] == "first" and session["provider"] == "Django"
    assert rows["random_x"]["lifetime"] == -1 and rows["widget_state"]["suggested"] == "marketing"
    # No value and no visitor in the table: only these columns.
    storage = storage_from_settings(settings)
    columns = storage.connect().query("DESCRIBE TABLE cookie_inventory").result_rows
    assert tuple(c[0] for c in columns) == COLUMNS

    # The declaration, in French: what the rules know and what the site sets, never a
    # name only a browser sent.
    assert declaration.headers["content-language"] == "fr"
    text = declaration.text
    assert "Les cookies de ce site" in text and "Google Analytics" in text
    assert 'data-cookie="widget_state"' in text and "pas encore décrit" in text
    assert "random_x" not in text and "730 jours" in text and "Statistiques" in text


def test_the_cookies_command_the_admin_page_the_privacy_page_and_the_notice(
    running: tuple[Any, str, str],
) -> None:
    settings, public, admin = running
    httpx.get(f"{public}/")
    listed = cli(settings, "cookies", "--unknown")
    assert listed.returncode == 0, listed.stderr
    assert "widget_state" in listed.stdout and "_ga " not in listed.stdout
    assert "CG_COOKIE_RULES=" in listed.stdout and "widget_state=marketing" in listed.stdout
    as_json = json.loads(cli(settings, "cookies", "--json").stdout)
    assert {row["name"] for row in as_json["cookies"]} >= {"sessionid", "_ga", "widget_state"}

    notice = cli(settings, "notice")
    assert notice.returncode == 0, notice.stderr
    assert "### Cookies on this site" in notice.stdout
    assert "| _ga | Google Analytics |" in notice.stdout

    privacy = httpx.get(f"{public}/_consent/privacy", headers={"Accept-Language": "cy"})
    assert "Cwcis ar y wefan hon" in privacy.text and 'data-cookie="sessionid"' in privacy.text

    add_account(storage_from_settings(settings), "admin@school.example", "admin")
    client, _ = login(admin, "admin@school.example")
    page = client.get("/cookies")
    assert page.status_code == 200
    assert page.text.index('id="cookie-widget_state"') < page.text.index('id="cookie-_ga"')
    assert "widget_state=marketing" in page.text


def test_reported_third_party_hosts_join_the_inventory(running: tuple[Any, str, str]) -> None:
    settings, public, admin = running
    report = {"csp-report": {"blocked-uri": "https://cdn.unknown-example.org/x.png"}}
    for _ in range(3):
        assert httpx.post(f"{public}/_consent/csp-report", json=report).status_code == 204
    modern = [{"type": "csp-violation", "body": {"blockedURL": "https://pixel.quantserve.com/p"}}]
    assert httpx.post(f"{public}/_consent/csp-report", json=modern).status_code == 204
    as_json = json.loads(cli(settings, "cookies", "--json").stdout)
    hosts = [(h["host"], h["provider"], h["category"], h["reports"], h["unknown"])
             for h in as_json["third_party_hosts"]]  # fmt: skip
    assert hosts == [
        ("cdn.unknown-example.org", "", "", 3, True),
        ("pixel.quantserve.com", "Quantcast", "marketing", 1, False),
    ]
    table = cli(settings, "cookies").stdout
    assert "CG_THIRD_PARTY_RULES=cdn.unknown-example.org=marketing" in table
    columns = storage_from_settings(settings).connect().query("DESCRIBE third_party_hosts")
    assert tuple(c[0] for c in columns.result_rows) == HOST_COLUMNS  # a host and counts only
    add_account(storage_from_settings(settings), "hosts@school.example", "admin")
    client, _ = login(admin, "hosts@school.example")
    page = client.get("/cookies").text
    assert "<code>cdn.unknown-example.org</code>" in page and "Quantcast" in page
    assert client.get("/cookies", params={"site": "another.example"}).status_code == 404


def test_reported_hosts_are_bounded() -> None:
    hosts = HostInventory(ThirdParties(), "site")
    hosts._due = 10**12
    for n in range(MAX_HOST_NEW + 50):
        hosts.add(f"h{n}.example.org", 1000)
    assert len(hosts.pending) == MAX_HOST_NEW and hosts.refused == 50
    hosts.add("h0.example.org", 1001)  # a host already counted still counts
    assert hosts.pending["h0.example.org"].count == 2


def test_the_demo_site_sets_no_unknown_cookie(tmp_path: Path) -> None:
    from gateway.demo.site import PAGES, create_demo_site

    with run_server(create_demo_site()) as demo:
        settings = make_settings(demo, tmp_path)
        with run_gateway(settings) as (public, _):
            with httpx.Client(base_url=public) as browser:
                for path in [*PAGES, "/cookies", "/third-party", "/open-day", "/contact"]:
                    browser.get(path)
                # What the demo's tracker script sets in the browser, sent back.
                browser.get("/", headers={"Cookie": "_ga_demo=1"})
            listed = cli(settings, "cookies", "--json")
    rows = json.loads(listed.stdout)["cookies"]
    assert {"sessionid", "_ga", "_fbp", "theme", "_ga_demo"} <= {row["name"] for row in rows}
    assert [row["name"] for row in rows if row["unknown"]] == []
