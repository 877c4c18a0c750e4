"""One gateway, two sites (a sites file): routing by Host, each site's own cookie rules,
banner texts and consent, and the sites file's errors at start-up.

Two real upstreams run under uvicorn behind one real gateway; the requests name the
site by their ``Host`` header, as a browser does for each site's public name.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.admin.local import settle_writers
from gateway.app import GatewayApp, create_app
from gateway.cli import main
from gateway.commands import Context
from gateway.consent.commands import cookies
from gateway.demo.runner import demo_sites_file
from gateway.demo.site import create_demo_site
from gateway.exceptions import SettingsError
from gateway.ops.metrics import render, snapshot
from gateway.settings import Settings, load_settings
from gateway.sites import site_ids
from gateway.sites_file import PER_SITE, load_sites
from tests.chdb import fresh_dsn, migrated_storage
from tests.conftest import TEST_KEY
from tests.servers import run_server

PRIMARY, COLLEGE = "primary.test", "college.test"


def school_site(name: str) -> Starlette:
    """A small upstream: a page, a route that sets a cart cookie, what it was sent, and
    a slow answer."""

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><html><head></head><body><h1>{name}</h1></body></html>"
        )

    async def cart(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("_shop_cart", "3")
        return response

    async def sent(request: Request) -> JSONResponse:
        return JSONResponse({"site": name, "cookies": dict(request.cookies)})

    async def slow(request: Request) -> Response:  # a request in flight across a reload
        await asyncio.sleep(float(request.query_params.get("seconds", "1")))
        return Response(name)

    routes = [Route("/", home), Route("/cart", cart), Route("/sent", sent), Route("/slow", slow)]
    return Starlette(routes=routes)


def sites_toml(primary: str, college: str) -> str:
    return f"""
[sites.primary]
hosts = ["{PRIMARY}", "www.{PRIMARY}"]
upstream = "{primary}"
cookie_rules = ["_shop_*=necessary"]
banner_texts = {{ en = {{ title = "Primary privacy" }} }}

[sites.college]
hosts = ["{COLLEGE}"]
upstream = "{college}"
policy_revision = "2026-09"
banner_texts = {{ en = {{ title = "College cookies" }} }}
"""


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, GatewayApp]]:
    folder = tmp_path_factory.mktemp("sites")
    with (
        run_server(school_site("Primary")) as primary,
        run_server(school_site("College")) as college,
    ):
        path = folder / "sites.toml"
        path.write_text(sites_toml(primary, college))
        app = create_app(sites_settings(path, folder))
        with run_server(app) as url:
            yield url, app


def sites_settings(path: Path, folder: Path, **more: str) -> Settings:
    """Settings with a sites file and no CG_UPSTREAM, from an explicit environment."""
    environ = {
        "CG_SITES_FILE": str(path),
        "CG_SECRET_KEY": TEST_KEY,
        "CG_GEOLOCATION": "off",
        "CG_CLICKHOUSE_DSN": fresh_dsn(),
        "CG_DATA_DIR": str(folder),
        **more,
    }
    return load_settings(environ=environ, env_file=None)


def client(url: str, host: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"host": host}, timeout=10)


def test_the_host_picks_the_site_and_an_unknown_host_gets_the_allowed_hosts_400(
    two_sites: tuple[str, GatewayApp],
) -> None:
    url, app = two_sites
    assert site_ids(app.settings) == ("primary", "college")
    for host, name in (
        (PRIMARY, "Primary"),
        (f"www.{PRIMARY}:8080", "Primary"),
        (COLLEGE, "College"),
    ):
        assert client(url, host).get("/sent").json()["site"] == name
    refused = client(url, "evil.test").get("/sent")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "host_not_allowed" and "date" in refused.headers


def test_each_site_has_its_own_cookie_rules_and_banner_texts(
    two_sites: tuple[str, GatewayApp],
) -> None:
    url, _ = two_sites
    primary, college = client(url, PRIMARY), client(url, COLLEGE)
    # _shop_* is necessary on the primary school's site, unknown (marketing) on the college's.
    assert "_shop_cart" in " ".join(primary.get("/cart").headers.get_list("set-cookie"))
    assert "_shop_cart" not in " ".join(college.get("/cart").headers.get_list("set-cookie"))
    for each in (primary, college):
        each.cookies.set("_shop_cart", "3")
    assert primary.get("/sent").json()["cookies"] == {"_shop_cart": "3"}
    assert college.get("/sent").json()["cookies"] == {}
    primary_page, college_page = primary.get("/").text, college.get("/").text
    assert "Primary privacy" in primary_page and "College cookies" not in primary_page
    assert "College cookies" in college_page and "Primary privacy" not in college_page


def consent_cookie(response: httpx.Response) -> tuple[str, str]:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if "consent" in name:
            return name, rest.split(";", 1)[0]
    raise AssertionError(f"no consent cookie in {response.headers.get_list('set-cookie')}")


def test_a_consent_given_on_one_site_says_nothing_on_the_other(
    two_sites: tuple[str, GatewayApp],
) -> None:
    url, app = two_sites
    college = client(url, COLLEGE)
    state = college.get("/_consent/state").json()
    given = college.post(
        "/_consent/state",
        json={"action": "accept_all"},
        headers={"x-csrf-token": state["csrf"], "origin": f"http://{COLLEGE}"},
    )
    assert given.status_code == 200, given.text
    name, value = consent_cookie(given)
    assert college.get("/_consent/state").json()["categories"]["marketing"] is True
    # The choice lets the college's marketing cookies through on the college's site...
    college.cookies.set("tracker_id", "7")
    assert college.get("/sent").json()["cookies"]["tracker_id"] == "7"
    # ...and nothing on the primary school's, even with the college's cookie copied across.
    primary = client(url, PRIMARY)
    primary.cookies.set(name, value)
    primary.cookies.set("tracker_id", "7")
    seen = primary.get("/_consent/state").json()
    assert seen["must_show"] is True and seen["categories"]["marketing"] is False
    assert "tracker_id" not in primary.get("/sent").json()["cookies"]
    # Each site's consent log holds its own choices.
    for site in app.services.sites.values():
        site.consent.log.flush()
    rows = (
        app.services.storage.connect()
        .query("SELECT site, count() FROM consent_log GROUP BY site")
        .result_rows
    )
    counts = {str(row[0]): int(row[1]) for row in rows}
    assert counts.get("college", 0) >= 1 and "primary" not in counts


def test_a_bad_sites_file_stops_start_up_naming_the_site_the_key_and_the_fix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sites.toml"
    cases = {
        '[sites.a]\nhosts = ["a.test"]\nupstream = "http://127.0.0.1:9"\ncookie_rules = "x"\n': (
            "[sites.a] cookie_rules",
            "name=category",
        ),
        '[sites.a]\nhosts = ["a.test"]\nupstream = "http://127.0.0.1:9"\nclickhouse_dsn = "x"\n': (
            "[sites.a]",
            "CG_CLICKHOUSE_DSN in the environment",
        ),
        '[sites.a]\nhosts = ["a.test"]\n': ("[sites.a] has no upstream", 'upstream = "http'),
        '[sites.a]\nhosts = ["a.test"]\nupstream = "http://127.0.0.1:9"\n'
        '[sites.b]\nhosts = ["a.test"]\nupstream = "http://127.0.0.1:9"\n': (
            "[sites.b] hosts lists 'a.test'",
            "remove it from one",
        ),
        '[sites.a]\nhosts = ["a.test"]\nupstream = "http://127.0.0.1:9"\n'
        'consent_categories = "analytics"\ncookie_default_category = "marketing"\n': (
            "[sites.a]",
            "CG_CONSENT_CATEGORIES",
        ),
        "[sites.a\n": ("not valid TOML", "fix that line"),
        '[site.a]\nhosts = ["a.test"]\n': ("has [site]", "[sites.<id>]"),
        '[sites."A b"]\nhosts = ["a.test"]\n': ("[sites.A b]", "rename the table"),
        '[sites.a]\nhosts = ["https://a.test/"]\nupstream = "http://127.0.0.1:9"\n': (
            "[sites.a] hosts: 'https://a.test/' is not a host name",
            "without scheme",
        ),
    }
    for text, expected in cases.items():
        path.write_text(text)
        with pytest.raises(SettingsError) as raised:
            create_app(sites_settings(path, tmp_path))
        for part in expected:
            assert part in str(raised.value), (text, str(raised.value))


def test_the_trusts_sites_file_in_the_docs_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "many-sites.md").read_text()
    path = tmp_path / "sites.toml"
    path.write_text(doc.split("```toml\n", 1)[1].split("```", 1)[0])
    settings = sites_settings(path, tmp_path)
    sites = {site.id: site for site in load_sites(settings)}
    assert (
        site_ids(settings)
        == tuple(sites)
        == (
            "riverside-primary",
            "riverside-college",
            "hillside-infants",
        )
    )
    college = sites["riverside-college"].settings
    assert college.upstream_host == "intranet.riversidecollege.example"
    assert college.consent_categories == ("preferences", "analytics")
    assert [goal.target for goal in college.goals] == ["/apply*", "Open day booked"]
    assert college.banner_texts["cy"]["title"] == "Cwcis yng Ngholeg Glan yr Afon"
    primary = sites["riverside-primary"].settings
    assert ("_shop_*", "marketing") in primary.cookie_rules
    assert primary.consent_categories == settings.consent_categories  # the deployment's
    assert sites["hillside-infants"].settings.honour_dnt is True
    assert primary.secret_keys != college.secret_keys != settings.secret_keys
    listed = doc.split("## What a site may set for itself", 1)[1].split("These are", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", listed.split("pairs.", 1)[1])) == PER_SITE
    # The documented commands: each site's notice, and a sentence for a site not served.
    env = tmp_path / "cli.env"
    env.write_text(
        f"CG_SITES_FILE={path}\nCG_SECRET_KEY={TEST_KEY}\nCG_GEOLOCATION=off\n"
        f"CG_CLICKHOUSE_DSN={migrated_storage().dsn}\nCG_DATA_DIR={tmp_path}\n"
    )
    notices = {}
    for site in ("riverside-primary", "riverside-college"):
        capsys.readouterr()
        assert main(["notice", "--site", site, "--env-file", str(env)]) == 0
        notices[site] = capsys.readouterr().out
    assert "`marketing`" in notices["riverside-primary"]
    assert "`marketing`" not in notices["riverside-college"]  # its consent_categories
    assert main(["cookies", "--site", "riverside-college", "--env-file", str(env)]) == 0
    assert main(["notice", "--site", "elsewhere", "--env-file", str(env)]) == 2
    assert "no site 'elsewhere'; name one of riverside-primary" in capsys.readouterr().err


def test_metrics_count_each_site_and_add_them_up(two_sites: tuple[str, GatewayApp]) -> None:
    url, app = two_sites
    before = snapshot(app.services)
    client(url, PRIMARY).get("/sent")
    client(url, COLLEGE).get("/sent")
    client(url, COLLEGE).get("/sent")
    after = snapshot(app.services)

    def proxied(data: dict[str, Any]) -> int:
        return int(data["responses"]["proxy"].get("200", 0))

    assert proxied(after["sites"]["primary"]) - proxied(before["sites"]["primary"]) == 1
    assert proxied(after["sites"]["college"]) - proxied(before["sites"]["college"]) == 2
    assert proxied(after) - proxied(before) == 3
    text = render(after).decode()
    assert 'cg_site_http_responses_total{route="proxy",site="college",status="200"}' in text
    assert 'cg_site_consent_outcomes_total{outcome="accept_all",site="college"}' in text


def test_the_demo_runs_a_primary_school_and_a_college_behind_one_gateway(tmp_path: Path) -> None:
    with (
        run_server(create_demo_site("Riverside Primary School")) as primary,
        run_server(create_demo_site("Riverside College")) as college,
    ):
        port = {url: int(url.rsplit(":", 1)[1]) for url in (primary, college)}
        path = demo_sites_file(tmp_path, port[primary], port[college])
        with run_server(create_app(sites_settings(path, tmp_path))) as url:
            school = client(url, "127.0.0.1").get("/").text
            assert "Welcome to Riverside Primary School" in school
            assert "Cookies at Riverside College" not in school
            page = client(url, "college.localhost").get("/").text
            assert "Welcome to Riverside College" in page
            assert "Cookies at Riverside College" in page


def test_the_cookies_command_reads_the_named_sites_inventory_under_its_rules(
    two_sites: tuple[str, GatewayApp],
) -> None:
    url, app = two_sites
    client(url, PRIMARY).get("/cart")
    client(url, COLLEGE).get("/cart")
    context = Context(app.services.storage, app.settings, partial(settle_writers, app.services))
    seen: dict[str, dict[str, str]] = {}
    for site in ("primary", "college"):
        answer = cookies(context, {"site": site})
        assert answer["site"] == site
        seen[site] = {entry["name"]: entry["category"] for entry in answer["cookies"]}
    assert seen["primary"]["_shop_cart"] == "necessary"
    assert seen["college"]["_shop_cart"] == "marketing"
    with pytest.raises(SettingsError, match="no site 'other'; name one of primary, college"):
        cookies(context, {"site": "other"})
