"""Shared caches and the HTTP semantics of changed pages, through a real gateway.

The upstream is ``tests/upstreams.py`` under uvicorn: Starlette's StaticFiles at
``/files/`` (strong ETags, Last-Modified, its own 304s) and ``/cache/`` for
responses with the caching headers and cookies a test names. A visitor who made
no choice and carries a marketing cookie (``_fbp``) is owed both a session
cookie and that cookie's deletion: the tests look for where they go, and where
they must not. Last, docs/deployment.md's nginx cache runs with Debian's nginx in
front of the gateway.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.caching import parse_http_date
from tests.conftest import make_settings
from tests.servers import free_port, run_gateway, run_server
from tests.upstreams import FILES, create_upstream

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
PAGE = "/files/page.html"
NEW_VISITOR = {"cookie": "_fbp=1"}
HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with run_server(create_upstream()) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    settings = make_settings(upstream, tmp_path_factory.mktemp("caching"))
    with run_gateway(settings) as urls:
        yield urls


@pytest.fixture(scope="module")
def site(gateway: tuple[str, str]) -> str:
    return gateway[0]


def cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


# -- shared caches --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/cache/a?type=text/css",
        "/cache/a?type=text/javascript&cc=no-cache",
        "/cache/a?type=image/png",
        "/cache/a?type=font/woff2",
        "/cache/logo.svg",  # by its extension, whatever the type says
        "/cache/a?cc=public",
        "/cache/a?cc=s-maxage%3D60,%20must-revalidate",
        "/cache/a?cc=max-age%3D600",
        "/cache/a?cc=max-age%3D31536000,%20immutable",
        "/cache/a?cc=private&cdn=max-age%3D60",  # a CDN obeys CDN-Cache-Control first
        "/cache/a?expires=Fri,%2001%20Jan%202100%2000:00:00%20GMT",
    ],
)
def test_no_cookie_goes_on_what_a_shared_cache_may_store(site: str, path: str) -> None:
    response = httpx.get(site + path, headers=NEW_VISITOR)
    assert response.status_code == 200
    assert cookies(response) == []


@pytest.mark.parametrize(
    "path",
    [
        "/cache/a",
        "/cache/a?cc=no-cache",
        "/cache/a?expires=Thu,%2001%20Jan%201970%2000:00:00%20GMT",
        "/cache/a?type=text/css&cc=private,%20max-age%3D60",
        "/cache/a.png?type=image/png&cc=no-store",
    ],
)
def test_cookies_go_on_what_no_shared_cache_stores(site: str, path: str) -> None:
    names = [line.split("=", 1)[0] for line in cookies(httpx.get(site + path, headers=NEW_VISITOR))]
    assert "cg_session" in names and "_fbp" in names  # the session, and the deletion


def test_the_session_and_deletions_wait_for_the_next_page(site: str) -> None:
    style = httpx.get(site + "/files/style.css", headers=NEW_VISITOR)
    assert style.status_code == 200 and cookies(style) == []
    # A 304 has no type: the path says it is a stylesheet.
    again = httpx.get(
        site + "/files/style.css", headers={**NEW_VISITOR, "if-none-match": style.headers["etag"]}
    )
    assert again.status_code == 304 and cookies(again) == []
    page = httpx.get(site + PAGE, headers={**NEW_VISITOR, **HTML})
    lines = cookies(page)
    assert any(line.startswith("cg_session=") for line in lines)
    assert any(line.startswith("_fbp=;") or line.startswith('_fbp="";') for line in lines)
    assert page.headers["cache-control"].startswith("private")


def test_the_gateway_s_own_assets_never_carry_a_cookie(site: str) -> None:
    page = httpx.get(site + PAGE).text
    found = re.search(r'src="(/_consent/banner\.js\?v=[0-9a-f]+)"', page)
    assert found is not None
    for path in (found.group(1), "/_consent/banner.js", "/_consent/banner.css"):
        response = httpx.get(site + path, headers=NEW_VISITOR)
        assert response.status_code == 200 and cookies(response) == []
        again = httpx.get(
            site + path, headers={**NEW_VISITOR, "if-none-match": response.headers["etag"]}
        )
        assert again.status_code == 304 and cookies(again) == []


def test_an_upstream_cookie_taken_out_makes_the_response_private(site: str) -> None:
    response = httpx.get(
        site + "/cache/a.css?type=text/css&cc=public,%20max-age%3D60&cdn=max-age%3D600&cookie=_ga"
    )
    assert not any(line.startswith("_ga=") for line in cookies(response))
    assert response.headers["cache-control"] == "private, max-age=60"
    assert "cdn-cache-control" not in response.headers


def test_the_upstream_s_own_cookie_on_a_cacheable_response_is_its_choice(site: str) -> None:
    response = httpx.get(
        site + "/cache/a.css?type=text/css&cc=public,%20max-age%3D60&cookie=sessionid",
        headers=NEW_VISITOR,
    )
    assert [line.split("=", 1)[0] for line in cookies(response)] == ["sessionid"]
    assert response.headers["cache-control"] == "public, max-age=60"


# -- pages with the banner: HEAD, 304, validators --------------------------------------


def test_head_names_no_length_and_the_validators_of_get(site: str, upstream: str) -> None:
    direct = httpx.head(upstream + PAGE)
    assert direct.headers["content-length"] == str((FILES / "page.html").stat().st_size)
    page = httpx.get(site + PAGE)
    assert (
        int(page.headers["content-length"])
        == len(page.content)
        > int(direct.headers["content-length"])
    )
    head = httpx.head(site + PAGE)
    assert head.status_code == 200 and head.content == b""
    assert "content-length" not in head.headers
    for name in ("etag", "last-modified", "cache-control", "content-type"):
        assert head.headers[name] == page.headers[name], name


def test_a_304_carries_the_validators_of_the_200(site: str, upstream: str) -> None:
    strong = httpx.get(upstream + PAGE).headers["etag"]
    assert strong.startswith('"')
    page = httpx.get(site + PAGE)
    assert page.headers["etag"].startswith('W/"' + strong[1:-1])
    assert page.headers["cache-control"].startswith("private")
    again = httpx.get(site + PAGE, headers={"if-none-match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for name in ("etag", "cache-control"):
        assert again.headers[name] == page.headers[name], name
    by_date = httpx.get(
        site + PAGE, headers={**HTML, "if-modified-since": page.headers["last-modified"]}
    )
    assert by_date.status_code == 304
    assert by_date.headers["etag"] == page.headers["etag"]


def test_validators_reach_the_upstream_as_its_own(site: str) -> None:
    tag = httpx.get(site + PAGE).headers["etag"]
    found = re.fullmatch(r'W/".*:cg([0-9a-f]+)s"', tag)
    assert found is not None
    version = found.group(1)

    def upstream_saw(**headers: str) -> dict[str, str]:
        echoed = httpx.get(site + "/echo", headers=headers).json()["headers"]
        return {k: v for k, v in echoed if k.startswith("if-")}

    ours = f'W/"abc:cg{version}s", W/"old:cg{version}w", "theirs"'
    assert upstream_saw(**{"if-none-match": ours}) == {"if-none-match": '"abc", W/"old", "theirs"'}
    stale = {"if-none-match": 'W/"abc:cg0123456789s"', "if-modified-since": "x"}
    assert upstream_saw(**stale) == {}
    dated = f'W/"784111777:cg{version}m"'
    assert upstream_saw(**{"if-none-match": dated}) == {
        "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT"
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"if-none-match": 'W/"' + "9" * 5000 + ':cg0123456789m"'},
        {"if-none-match": 'W/":cg:cg"", *, W/"~:cgzzs", ,,'},
        {"if-modified-since": "Sun, 99 Foo 99999 99:99:99 GMT", "accept": "text/html"},
        {"if-modified-since": "0", "if-none-match": "W/"},
    ],
)
def test_malformed_validators_are_passed_on_or_dropped(site: str, headers: dict[str, str]) -> None:
    response = httpx.get(site + PAGE, headers=headers)
    assert response.status_code in (200, 304)
    tag = httpx.get(site + PAGE).headers["etag"]
    version = tag.rsplit(":cg", 1)[1][:-2]
    dated = {"if-none-match": f'W/"{"9" * 40}:cg{version}m"'}
    echoed = httpx.get(site + "/echo", headers=dated).json()["headers"]
    assert not [k for k, _ in echoed if k.startswith("if-")]


def test_a_copy_older_than_the_banner_is_sent_again(site: str) -> None:
    page = httpx.get(site + PAGE)
    modified = parse_http_date(page.headers["last-modified"])
    assert modified is not None
    # The file is older than the gateway: the page's date is when its banner came.
    assert (FILES / "page.html").stat().st_mtime < modified
    before = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(modified - 1))
    older = httpx.get(site + PAGE, headers={**HTML, "if-modified-since": before})
    assert older.status_code == 200 and "/_consent/banner.js" in older.text


def test_a_new_banner_is_not_hidden_behind_a_304(upstream: str, site: str, tmp_path: Path) -> None:
    first = httpx.get(site + PAGE)
    texts = '{"en": {"title": "Cookies at our school"}}'
    settings = make_settings(upstream, tmp_path, banner_texts=texts)
    with run_gateway(settings) as (upgraded, _admin):
        validators = {
            "if-none-match": first.headers["etag"],
            "if-modified-since": first.headers["last-modified"],
        }
        response = httpx.get(upgraded + PAGE, headers={**HTML, **validators})
        assert response.status_code == 200 and "Cookies at our school" in response.text
        assert response.headers["etag"] != first.headers["etag"]
        again = httpx.get(upgraded + PAGE, headers={"if-none-match": response.headers["etag"]})
        assert again.status_code == 304


# -- Date ------------------------------------------------------------------------------


def test_every_answer_carries_one_date(gateway: tuple[str, str]) -> None:
    site, admin = gateway
    answers = [
        httpx.get(site + "/_consent/state"),
        httpx.get(site + "/_consent/banner.css"),
        httpx.get(site + "/_consent/nothing-here"),
        httpx.get(site + "/echo"),  # the test upstream sends no Date of its own
        httpx.get(site + PAGE),
        httpx.get(admin + "/login"),
    ]
    for answer in answers:
        dates = answer.headers.get_list("date")
        assert len(dates) == 1, answer.url
        moment = parse_http_date(dates[0])
        assert moment is not None and abs(moment - time.time()) < 60, answer.url


# -- docs/deployment.md's nginx cache -------------------------------------------------

_CACHE_CONF = """
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {work}/temp/body;
    proxy_temp_path {work}/temp/proxy;
    fastcgi_temp_path {work}/temp/fastcgi;
    uwsgi_temp_path {work}/temp/uwsgi;
    scgi_temp_path {work}/temp/scgi;
    upstream consent_gateway {{
        server 127.0.0.1:{gateway};
        keepalive 8;
    }}
{zone}
    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"""


def documented_cache() -> tuple[str, str]:
    """The ```nginx block of deployment.md's CDN section: the cache zone and the location."""
    section = DOC.read_text().split("## Behind a CDN\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert found, "docs/deployment.md has no nginx block under '## Behind a CDN'"
    zone, location = found.group(1).split("\nlocation / {", 1)
    return zone, "location / {" + location


@pytest.fixture(scope="module")
def cache(site: str) -> Iterator[str]:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: scripts/test installs it (apt-get install nginx).")
    # Straight under /tmp: nginx's workers drop root and must reach their cache folder,
    # which pytest's own folders (mode 700) would not let them.
    work = Path(tempfile.mkdtemp(prefix="cg-nginx-cache-"))
    work.chmod(0o755)
    (work / "temp").mkdir()
    zone, location = documented_cache()
    assert zone.count("/var/cache/nginx/consent-gateway") == 1
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        _CACHE_CONF.format(
            work=work,
            gateway=site.rsplit(":", 1)[1],
            zone=zone.replace("/var/cache/nginx/consent-gateway", str(work / "cache")),
            port=port,
            location=location,
        )
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(work), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(url + "/_consent/state")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)
        process.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def test_the_documented_cache_keeps_assets_without_cookies(cache: str) -> None:
    style = "/cache/site.css?type=text/css&cc=max-age%3D600"
    first = httpx.get(cache + style, headers=NEW_VISITOR)
    second = httpx.get(cache + style, headers={"cookie": "_ga=2"})
    assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT")
    assert cookies(first) == cookies(second) == []


def test_the_documented_cache_never_keeps_a_page_with_the_banner(cache: str) -> None:
    page = "/cache/page?type=text/html&cc=public,%20max-age%3D600"
    first = httpx.get(cache + page)
    session = next(line for line in cookies(first) if line.startswith("cg_session="))
    returning = {"cookie": session.split(";", 1)[0]}
    for _ in range(2):  # a returning visitor's pages carry no new cookie, and still no copy
        again = httpx.get(cache + page, headers=returning)
        assert again.headers["x-cache-status"] != "HIT"
    other = httpx.get(cache + page)
    assert other.headers["x-cache-status"] != "HIT"
    assert session.split(";", 1)[0] not in ";".join(cookies(other))
