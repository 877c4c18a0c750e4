"""Downloads and 404s recorded by the proxy, with no script, for consented visitors only.

Real parts: a small upstream serving files and a 404 page, the gateway under
uvicorn, consent given through the consent API, the embedded ClickHouse.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.exceptions import SettingsError
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.servers import run_server

NAVIGATE = {
    "user-agent": FIREFOX,
    "accept": "text/html,application/xhtml+xml",
    "sec-fetch-dest": "document",
    "sec-fetch-mode": "navigate",
}


async def file(request: Request) -> Response:
    name = request.path_params["name"]
    if name.endswith(".html"):
        return HTMLResponse("<p>a page named like a file</p>")
    if name.startswith("gone"):
        return Response("no", status_code=404, media_type="text/plain")
    return Response(b"%PDF-1.7 ...", media_type="application/octet-stream")


async def missing(request: Request) -> Response:
    return HTMLResponse("<h1>Not found</h1>", status_code=404)


def files_site() -> Starlette:
    return Starlette(
        routes=[
            Route("/files/{name}", file),
            Route("/{path:path}", missing),
        ]
    )


def consented_client(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, headers=NAVIGATE)
    token = client.get("/_consent/state").json()["csrf"]
    answer = client.post(
        "/_consent/state", json={"action": "accept_all"}, headers={"x-csrf-token": token}
    )
    assert answer.json()["categories"]["analytics"] is True
    return client


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """The custom events one consented and one unconsented visitor leave behind."""
    with run_server(files_site()) as site:
        settings = make_settings(
            site, tmp_path_factory.mktemp("downloads"), download_types="pdf,docx,csv", banner="off"
        )
        with run_server(create_app(settings)) as url:
            with httpx.Client(base_url=url, headers=NAVIGATE) as stranger:
                assert stranger.get("/files/prospectus.pdf").status_code == 200
                assert stranger.get("/nowhere").status_code == 404
            client = consented_client(url)
            try:
                page = {"referer": url + "/admissions"}
                assert client.get("/files/prospectus.pdf", headers=page).status_code == 200
                assert client.get("/files/fees.docx?v=2").status_code == 200
                client.get("/files/data.csv", headers={"sec-fetch-mode": "cors"})  # a fetch
                client.get("/files/clip.pdf", headers={"sec-fetch-dest": "iframe"})  # in a page
                client.get("/files/page.html")  # HTML: a page view, never a download
                client.get("/files/photo.jpg")  # not a download type
                client.get("/files/gone.pdf")  # 404, not HTML: neither
                client.get("/old-course", headers={"referer": url + "/courses"})
                client.get("/ghost.png", headers={"sec-fetch-dest": "image"})  # not a page
            finally:
                client.close()
    rows = (
        Storage(settings.clickhouse_dsn)
        .connect()
        .query(
            "SELECT name, props, path, prev_path FROM events WHERE kind = 'custom' ORDER BY time"
        )
        .result_rows
    )
    return [tuple(row) for row in rows]


def test_a_consented_download_is_a_file_download_on_the_linking_page(
    recorded: list[tuple[Any, ...]],
) -> None:
    downloads = [row for row in recorded if row[0] == "File Download"]
    assert [(row[1]["url"].split("/", 3)[3], row[2]) for row in downloads] == [
        ("files/prospectus.pdf", "/admissions"),
        ("files/fees.docx", "/files/fees.docx"),  # opened directly; its query is not kept
    ]
    assert downloads[0][1]["url"].startswith("http://127.0.0.1:")


def test_a_404_page_is_a_404_event_with_the_page_that_linked_to_it(
    recorded: list[tuple[Any, ...]],
) -> None:
    not_found = [row for row in recorded if row[0] == "404"]
    assert not_found == [("404", {"path": "/old-course"}, "/old-course", "/courses")]


def test_nothing_else_and_nothing_before_consent(recorded: list[tuple[Any, ...]]) -> None:
    assert len(recorded) == 3  # the stranger's download and 404 are not there


def test_download_types_are_checked() -> None:
    assert make_settings("http://127.0.0.1:1", download_types="off").download_types == frozenset()
    with pytest.raises(SettingsError, match="CG_DOWNLOAD_TYPES: 'p df'"):
        make_settings("http://127.0.0.1:1", download_types="pdf,p df")
