"""Roles per site, site-scoped stats API tokens and the trust's view, on one real gateway
serving three sites from a sites file (the demo site upstream, the embedded engine).

Every route of the admin app is enumerated, so a route added without the site check
fails here: an account of site alpha gets a 403 for each of beta's pages, CSVs and
JSON answers, and for each page about the whole deployment.

The events, scripted per site (k = 3), give exact figures:

    site   visitors  visits  page views  reached /apply
    alpha  5         5       7           3
    beta   3         3       4           1 (withheld)
    gamma  2 (all withheld)              -
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.routing import Mount, Route

from gateway.app import create_gateway
from gateway.cli import COMMANDS
from gateway.commands import run_command
from gateway.exceptions import CommandError
from gateway.settings import Settings, load_settings
from gateway.sites import site_ids
from gateway.stats.goals import add_goal
from gateway.stats.tokens import create_token
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import PASSWORD, add_account, csrf_of, login
from tests.browser import axe_violations, screenshot
from tests.chdb import fresh_dsn
from tests.conftest import TEST_KEY
from tests.servers import free_port, run_server
from tests.stats_visits import Scripted, day_d, write_events
from tests.test_local_commands import cli

K = 3
SITES_FILE = """
[sites.alpha]
hosts = ["alpha.test"]
upstream = "{upstream}"

[sites.beta]
hosts = ["beta.test"]
upstream = "{upstream}"

[sites.gamma]
hosts = ["gamma.test"]
upstream = "{upstream}"
"""
EVERY = "every@example.org"  # admin of every site
ALPHA_ADMIN, ALPHA_VIEWER = "head@alpha.example", "office@alpha.example"

# Routes no account opens, each with why the site check does not apply.
NOT_FOR_ACCOUNTS = {
    "/login": "the login form",
    "/logout": "ends the session it holds",
    "/_consent/healthz": "health probe, no data",
    "/_consent/readyz": "readiness probe, no data",
    "/metrics": "Prometheus scrape of process counters",
    "/_local/commands/{name}": "the CLI's route, this machine and its token only",
    "/static": "the dashboard's CSS and scripts",
}
# Routes an account of some sites opens, each answering for that account's sites only.
PER_SITE_ANSWERS = {"/", "/sites", "/trust", "/trust.json", "/audit", "/audit.csv"}


@dataclass
class Deployment:
    admin: str
    public: str
    settings: Settings
    storage: Storage
    routes: list[tuple[str, str]]  # (path, method) of every admin route


def visits(site: str, visitors: int, pages: dict[int, list[str]]) -> list[Scripted]:
    """``visitors`` one-visit visitors of ``site`` on day D; visitor n views ``pages[n]``
    (default ``/``), a minute apart."""
    day, script = day_d(), []
    for n in range(visitors):
        for minute, path in enumerate(pages.get(n, ["/"])):
            at = day.replace(hour=10, minute=n).timestamp() + minute
            fields = {"path": path, "at": at, "site": site}
            script.append((f"{site}{n}", f"{site[0]}{n}", _UA, fields))
    return script


_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from gateway.demo.site import create_demo_site

    tmp = tmp_path_factory.mktemp("sites")
    with run_server(create_demo_site()) as upstream:
        sites_file = tmp / "sites.toml"
        sites_file.write_text(SITES_FILE.format(upstream=upstream))
        environ = {
            "CG_SITES_FILE": str(sites_file),
            "CG_SECRET_KEY": TEST_KEY,
            "CG_GEOLOCATION": "off",
            "CG_CLICKHOUSE_DSN": fresh_dsn(),
            "CG_DATA_DIR": str(tmp),
            "CG_STATS_MIN_VISITORS": str(K),
            "CG_FLUSH_INTERVAL": "0.1",
            "CG_ADMIN_PORT": str(free_port()),
        }
        settings = load_settings(environ=environ, env_file=None)
        public_app, admin_app = create_gateway(settings, COMMANDS)
        with (
            run_server(public_app) as public,
            run_server(admin_app, port=settings.admin_port) as admin,
        ):
            storage = storage_from_settings(settings)
            add_account(storage, EVERY, "admin")
            add_account(storage, ALPHA_ADMIN, "admin")
            add_account(storage, ALPHA_VIEWER, "viewer")
            for email in (ALPHA_ADMIN, ALPHA_VIEWER):
                run_command(
                    settings, _action("user.set_sites"), {"email": email, "sites": ["alpha"]}
                )
            script = [
                *visits("alpha", 5, {0: ["/", "/apply"], 1: ["/", "/apply"], 2: ["/apply"]}),
                *visits("beta", 3, {0: ["/", "/apply"]}),
                *visits("gamma", 2, {}),
            ]
            write_events(storage, tmp / "spool", script)
            for site in ("alpha", "beta"):
                add_goal(storage, site, "/apply", "test")
            for host, action in CHOICES:
                choose(public, host, action)
            routes = []
            for route in admin_app.routes:
                if isinstance(route, Mount):
                    routes.append((route.path, "GET"))
                elif isinstance(route, Route):
                    routes += [(route.path, m) for m in sorted(route.methods or ()) if m != "HEAD"]
            yield Deployment(admin, public, settings, storage, routes)


@pytest.fixture(scope="module")
def clients(deployment: Deployment) -> dict[str, httpx.Client]:
    """A logged-in client per account (logging in hashes a password: once per module)."""
    return {
        email: login(deployment.admin, email)[0] for email in (EVERY, ALPHA_ADMIN, ALPHA_VIEWER)
    }


# Banner choices through each site's consent API: alpha's three pass k, beta's one does not.
CHOICES = [
    ("alpha.test", "accept_all"),
    ("alpha.test", "accept_all"),
    ("alpha.test", "reject_all"),
    ("beta.test", "reject_all"),
]


def choose(public: str, host: str, action: str) -> None:
    """One visitor's choice on the site of ``host``, as the banner makes it."""
    with httpx.Client(base_url=public, headers={"host": host}) as visitor:
        token = visitor.get("/_consent/state").json()["csrf"]
        answer = visitor.post(
            "/_consent/state", json={"action": action}, headers={"x-csrf-token": token}
        )
        assert answer.status_code == 200, answer.text


def _action(name: str) -> Any:
    return COMMANDS.action(name)


def _filled(path: str, site: str) -> str:
    """``path`` with ``site`` for ``{site}``, a known panel, and ``x`` for any other part."""
    path = path.replace("{site}", site).replace("{panel}", "pages")
    return re.sub(r"\{[^}]+\}", "x", path)


def test_the_deployment_serves_three_sites(deployment: Deployment) -> None:
    assert site_ids(deployment.settings) == ("alpha", "beta", "gamma")


def test_every_route_refuses_an_account_of_another_site(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    every, head, office = clients[EVERY], clients[ALPHA_ADMIN], clients[ALPHA_VIEWER]
    csrf = csrf_of(head.get("/sites/alpha").text)
    checked = []
    for path, method in deployment.routes:
        if path in NOT_FOR_ACCOUNTS or path.startswith("/api/") or path in PER_SITE_ANSWERS:
            continue
        for client in (head, office):  # guessed URLs of beta: pages, CSVs, JSON, forms
            answer = client.request(method, _filled(path, "beta"), data={"csrf": csrf})
            assert answer.status_code == 403, (path, method, answer.status_code)
        if "{site}" in path and method == "GET":  # their own site opens
            assert head.get(_filled(path, "alpha")).status_code != 403, path
        elif method == "GET":  # a page of the whole deployment: admins of every site only
            assert every.get(_filled(path, "alpha")).status_code != 403, path
        checked.append((path, method))
    assert len(checked) >= 10  # every page, CSV and form of the dashboard
    forbidden = head.get("/sites/beta/realtime", headers={"accept": "application/json"})
    assert forbidden.json()["error"]["code"] == "forbidden"


def test_lists_show_only_the_accounts_sites(clients: dict[str, httpx.Client]) -> None:
    every, head = clients[EVERY], clients[ALPHA_ADMIN]
    listed = every.get("/sites").text
    assert all(f'href="/sites/{site}"' in listed for site in ("alpha", "beta", "gamma"))
    only = head.get("/")  # one site: straight to its dashboard
    assert only.status_code == 303 and only.headers["location"] == "/sites/alpha"
    assert 'href="/users"' not in head.get("/sites/alpha").text
    assert every.get("/sites/beta/export/pages.csv").status_code == 200
    assert head.get("/sites/alpha/export/pages.csv").status_code == 200
    audit = head.get("/audit").text
    assert "alpha/pages" in audit and "beta/pages" not in audit
    assert "beta/pages" not in head.get("/audit.csv").text
    assert "beta/pages" in every.get("/audit.csv").text
    trust = head.get("/trust.json").json()
    assert [column["site"] for column in trust["sites"]] == ["alpha"]


def test_the_people_page_and_the_command_set_an_accounts_sites(
    deployment: Deployment, clients: dict[str, httpx.Client]
) -> None:
    every = clients[EVERY]
    csrf = csrf_of(every.get("/users").text)
    form = {"csrf": csrf, "action": "add", "email": "clerk@beta.example", "role": "viewer"}
    assert every.post("/users", data={**form, "sites": "beta, nowhere"}).status_code == 400
    added = every.post("/users", data={**form, "sites": "beta"})
    assert "Added clerk@beta.example as viewer of beta." in added.text
    running = deployment.settings
    listed = run_command(running, _action("user.list"), {})["users"]
    assert {"email": "clerk@beta.example", "sites": ["beta"]}.items() <= next(
        user for user in listed if user["email"] == "clerk@beta.example"
    ).items()
    made = cli(
        running, "user", "add", "gov@beta.example", "--role", "viewer", "--site", "beta",
        "--site", "gamma", "--password-stdin", stdin="correct horse battery staple\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Added gov@beta.example as viewer of beta, gamma." in made.stdout
    with pytest.raises(CommandError, match="its sites are alpha, beta, gamma"):
        run_command(
            running, _action("user.set_sites"), {"email": "gov@beta.example", "sites": ["delta"]}
        )
    widened = cli(running, "user", "set-sites", "gov@beta.example", "--all-sites")
    assert widened.returncode == 0, widened.stderr
    assert "gov@beta.example now reaches every site." in widened.stdout
    with pytest.raises(CommandError, match="last admin of every site"):
        run_command(
            deployment.settings, _action("user.set_sites"), {"email": EVERY, "sites": ["alpha"]}
        )


def test_tokens_read_only_their_sites(deployment: Deployment) -> None:
    running, create = deployment.settings, _action("token.create")
    with pytest.raises(CommandError, match="name the token's sites with --site, or give --all"):
        run_command(running, create, {"name": "grafana"})
    made = cli(running, "token", "create", "alpha board", "--site", "alpha")
    assert made.returncode == 0, made.stderr
    assert "reads alpha" in made.stdout
    alpha_token = made.stdout.strip().splitlines()[-1]
    every = cli(running, "token", "create", "trust board", "--all-sites")
    assert "reads all sites" in every.stdout, every.stderr
    every_token = every.stdout.strip().splitlines()[-1]
    # A token from before roles (no sites, not --all-sites): refused once there are several.
    _, legacy = create_token(deployment.storage, "old", "test")

    def visitors(token: str, site: str) -> httpx.Response:
        return httpx.get(
            deployment.admin + "/api/v1/stats/aggregate",
            params={"site_id": site, "period": "7d"},
            headers={"authorization": f"Bearer {token}"},
        )

    assert visitors(alpha_token, "alpha").json()["results"]["visitors"]["value"] == 5
    for token, site in ((alpha_token, "beta"), (legacy, "alpha")):
        refused = visitors(token, site)
        assert refused.status_code == 401
        assert refused.json()["error"].startswith("Invalid API key or site ID")
    assert visitors(every_token, "beta").json()["results"]["visitors"]["value"] == 3
    body = {"site_id": "beta", "metrics": ["visitors"], "date_range": "7d"}
    v2 = httpx.post(
        deployment.admin + "/api/v2/query",
        json=body,
        headers={"authorization": f"Bearer {alpha_token}"},
    )
    assert v2.status_code == 401
    scopes = {
        t["name"]: t["scope"] for t in run_command(running, _action("token.list"), {})["tokens"]
    }
    assert scopes == {
        "alpha board": "alpha",
        "trust board": "all sites",
        "old": "this site while it is the only one",
    }


def test_the_trust_view_adds_up_the_figures_that_pass_k(clients: dict[str, httpx.Client]) -> None:
    every = clients[EVERY]
    deadline = time.monotonic() + 20  # the consent counts' writer flushes every 0.1 s
    while True:
        trust = every.get("/trust.json", params={"period": "7d"}).json()
        if trust["total"]["consent"]["choices"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    columns = {column["site"]: column for column in trust["sites"]}
    assert list(columns) == ["alpha", "beta", "gamma"]
    assert columns["alpha"]["traffic"] == {"visitors": 5, "visits": 5, "pageviews": 7}
    assert columns["beta"]["traffic"] == {"visitors": 3, "visits": 3, "pageviews": 4}
    assert columns["gamma"]["traffic"] == {"visitors": None, "visits": None, "pageviews": None}
    assert columns["alpha"]["goals"] == {"Visit /apply": 3}
    assert columns["beta"]["goals"] == {"Visit /apply": None}
    total = trust["total"]
    shown = [c["traffic"] for c in columns.values() if c["traffic"]["visitors"] is not None]
    for metric in ("visitors", "visits", "pageviews"):
        assert total["traffic"][metric] == sum(figures[metric] for figures in shown)
    assert total["traffic"] == {"visitors": 8, "visits": 8, "pageviews": 11}
    assert total["goals"] == {"Visit /apply": 3}
    assert total["withheld_sites"]["visitors"] == ["gamma"]
    assert total["withheld_sites"]["goal.Visit /apply"] == ["beta"]
    alpha_consent = {"choices": 3, "accepted": 2, "rejected": 1, "custom": 0}
    assert alpha_consent.items() <= columns["alpha"]["consent"].items()
    assert columns["alpha"]["consent"]["acceptance_rate"] == 66.7
    assert set(columns["beta"]["consent"].values()) == {None}  # one choice: withheld
    assert columns["gamma"]["consent"]["choices"] == 0  # none made: nothing to withhold
    assert total["consent"] == {
        **alpha_consent,
        "acceptance_rate": 66.7,
        "rejection_rate": 33.3,
        "custom_rate": 0.0,
    }
    assert total["withheld_sites"]["consent.choices"] == ["beta"]
    page = every.get("/trust?period=7d").text
    row = re.search(r'<tr data-figure="visitors">(.*?)</tr>', page, re.DOTALL)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)
    assert [re.sub(r"<[^>]+>", "", cell) for cell in cells] == ["5", "3", "&lt; 3", "8"]
    bad = every.get("/trust.json", params={"period": "forever"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_query"


@pytest.mark.browser
def test_the_trust_page_in_a_browser(
    deployment: Deployment, page: Page, page_errors: list[str]
) -> None:
    page.goto(deployment.admin + "/trust?period=7d")
    page.get_by_label("E-mail address").fill(ALPHA_VIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(deployment.admin + "/trust?period=7d")
    table = page.locator("table.trust")
    expect(table.locator("thead th")).to_have_text(["Figure", "alpha", "Total"])
    expect(table.locator('tr[data-figure="visitors"] td')).to_have_text(["5", "5"])
    screenshot(page, "trust-view")
    assert axe_violations(page, "main") == []
    assert page_errors == []
    assert page.goto(deployment.admin + "/sites/beta").status == 403  # type: ignore[union-attr]
    expect(page.locator("h1")).to_have_text("403")
