"""Erased means gone from disk: once an erasure says done, no file holds the visitor's pages.

Real parts: the demo site as upstream, the gateway under uvicorn, a visitor who
consents through the consent API, browses through the proxy and sends beacon
page views whose path carries a marker (64 random hex digits, which LZ4 keeps
literal in a compressed part), the embedded ClickHouse. The test reads every
file of the engine's data folder as bytes: first it finds the marker in the
parts of ``events`` and ``sessions_agg``, so the check cannot pass for want of
finding anything; then, after the erasure's job reports ``done`` (or the
operator's ``consent-gateway erase`` returns), in none, nor in the gateway's own
data folder (journal, spool). The rollups take a visit in a minute after it, so
the marker is not in them yet; their files are read all the same.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.analytics.events import visitor_key
from gateway.app import GatewayApp, create_app
from gateway.settings import Settings
from gateway.stats.rollup import refresh
from gateway.storage import Storage, storage_from_settings
from tests.conftest import make_settings
from tests.servers import run_gateway, run_server
from tests.test_local_commands import cli
from tests.test_privacy import BROWSER, PAGE, consent, consent_id_of, csrf_of, wait_for_erasure

TABLES = ("events", "sessions_agg")


@dataclass
class Gateway:
    url: str
    app: GatewayApp | None
    settings: Settings

    @property
    def storage(self) -> Storage:
        return storage_from_settings(self.settings)

    @property
    def engine_folder(self) -> Path:
        """The embedded engine's data folder (the suite's, shared by every test database)."""
        return Path(urlsplit(self.settings.clickhouse_dsn).path)


def new_marker() -> str:
    return secrets.token_hex(32)


def fragments(marker: str) -> list[bytes]:
    """Overlapping 16-digit pieces of ``marker``.

    LZ4 keeps a string literal only where no 4 bytes of it repeat something
    just before it (the same path in the row before, ``/erasure-proof/``, a few
    digits by chance), so the whole path is rarely one run of bytes in a part,
    but some of these pieces always are; and 64 random bits never occur by chance.
    """
    return [marker[i : i + 16].encode() for i in range(0, len(marker) - 15, 8)]


def files_holding(folder: Path, marker: str) -> list[Path]:
    """Every file under ``folder`` whose bytes contain a piece of ``marker``."""
    pieces = fragments(marker)
    found = []
    # os.walk, not rglob: ClickHouse removes its temporary part folders at any moment,
    # and rglob fails on a folder that goes while it walks.
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            try:
                data = path.read_bytes()
            except OSError:  # removed while the folder was walked: nothing left to hold it
                continue
            if any(piece in data for piece in pieces):
                found.append(path)
    return found


def table_folders(storage: Storage) -> dict[str, Path]:
    """The data folder of each table of the test's database."""
    client = storage.connect()
    try:
        rows = client.query(
            "SELECT name, data_paths FROM system.tables "
            "WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
        ).result_rows
    finally:
        client.close()
    return {str(name): Path(paths[0]) for name, paths in rows if paths}


def tables_holding(gateway: Gateway, marker: str) -> set[str]:
    """The tables with a file that holds a piece of ``marker``."""
    folders = table_folders(gateway.storage)
    files = files_holding(gateway.engine_folder, marker)
    return {name for name, folder in folders.items() for f in files if folder in f.parents}


def browse(browser: httpx.Client, marker: str) -> str:
    """The visitor accepts analytics, views two pages and two single-page ones; their id.

    The single-page ones' paths carry ``marker``.
    """
    consent(browser, {"categories": {"analytics": True}})
    for path in ("/", "/courses"):
        assert browser.get(path, headers=PAGE).status_code == 200
    for path in (f"/erasure-proof/{marker}", f"/erasure-proof/{marker}/step-2"):
        beacon = {"events": [{"type": "pageview", "path": path, "title": "Step"}]}
        assert browser.post("/_consent/collect", json=beacon).status_code == 202
    return consent_id_of(browser.get("/_consent/privacy").text)


def settle(gateway: Gateway, consent_id: str, marker: str) -> None:
    """Wait for the visitor's events in ClickHouse, refresh the rollups, find the marker."""
    storage = gateway.storage
    client = storage.connect()
    try:
        for _ in range(600):
            if gateway.app is not None:
                gateway.app.services.analytics.flush()
            held = client.command(
                "SELECT count() FROM events WHERE visitor_key = {key:UUID}",
                parameters={"key": visitor_key(consent_id)},
            )
            if held == 4:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the visits never reached ClickHouse")
    finally:
        client.close()
    refresh(storage)  # what the five-minute refresh does, for the rollups to be rewritten too
    # A part being merged or mutated right now is renamed under the walk: look again.
    for _ in range(100):
        holding = tables_holding(gateway, marker)
        if set(TABLES) <= holding:
            return
        time.sleep(0.1)
    raise AssertionError(f"the marker is not found on disk before the erasure: {holding}")


def assert_gone(gateway: Gateway, consent_id: str, marker: str) -> None:
    """No file of the engine's folder, nor of the gateway's own data folder, holds the marker."""
    assert files_holding(gateway.engine_folder, marker) == []
    assert files_holding(Path(gateway.settings.data_dir), marker) == []  # journal, spool
    # What the mutation files keep: the DELETE's condition, with the visitor key (a hash
    # of the consent id) and the session ids, never the consent id or a path.
    folders = table_folders(gateway.storage)
    mutations = [path for table in TABLES for path in folders[table].glob("mutation_*.txt")]
    assert mutations, "the erasure left no mutation record to check"
    for path in mutations:
        text = path.read_text()
        assert not any(piece.decode() in text for piece in fragments(marker))
        assert consent_id not in text


@pytest.fixture
def gateway(demo_site: str, tmp_path: Path) -> Iterator[Gateway]:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1")
    app = create_app(settings)
    with run_server(app) as url:
        yield Gateway(url, app, settings)


def test_a_visitors_erasure_is_done_only_when_no_file_holds_their_pages(
    gateway: Gateway,
) -> None:
    marker, stays = new_marker(), new_marker()
    with (
        httpx.Client(base_url=gateway.url, headers=BROWSER) as browser,
        httpx.Client(base_url=gateway.url, headers=BROWSER) as other,
    ):
        consent_id = browse(browser, marker)
        other_id = browse(other, stays)  # another visitor, who keeps their data
        settle(gateway, consent_id, marker)
        settle(gateway, other_id, stays)

        page = browser.get("/_consent/privacy").text
        erased = browser.post(
            "/_consent/privacy/erase",
            data={"csrf": csrf_of(page), "confirm": "yes"},
            headers={"origin": gateway.url},
        )
        assert erased.status_code == 303
        status = wait_for_erasure(browser, erased.headers["location"])
    assert status["state"] == "done"
    assert status["deleted"]["events"] == 4
    assert_gone(gateway, consent_id, marker)
    assert set(TABLES) <= tables_holding(gateway, stays)


def test_the_operators_erase_command_returns_only_when_no_file_holds_the_pages(
    demo_site: str, tmp_path: Path
) -> None:
    settings = make_settings(demo_site, tmp_path, trusted_proxies="127.0.0.1", flush_interval=0.1)
    with run_gateway(settings) as (public, _):
        gateway = Gateway(public, None, settings)
        marker = new_marker()
        with httpx.Client(base_url=public, headers=BROWSER) as browser:
            consent_id = browse(browser, marker)
        settle(gateway, consent_id, marker)
        # The real command, in a process of its own, through the running gateway.
        done = cli(settings, "erase", f"--consent-id={consent_id}")
        assert done.returncode == 0, done.stderr
        assert "events 4" in done.stdout
        assert_gone(gateway, consent_id, marker)
