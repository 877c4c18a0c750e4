"""The proof of consent after an erasure, and the operator's commands around it.

One real gateway (public and admin listeners, the embedded ClickHouse) in front of
the demo site serves the whole module. Visitors are httpx clients with a
browser's headers; the operator's commands run as ``consent-gateway`` processes,
which reach the running gateway through its admin listener, as an operator's do.
Erasures come from the CLI, from the dashboard and from the visitor's own privacy
page, each followed by a new choice and a verification.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import gateway
from gateway.analytics.events import visitor_key
from gateway.cli import main
from gateway.clock import system_clock
from gateway.consent import build_consent
from gateway.consent.proof import LogEntry, erased_after, load_chain, verify_chain
from gateway.consent.state import Choice
from gateway.demo.site import create_demo_site
from gateway.settings import Settings
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import add_account, csrf_of, login
from tests.analytics_helpers import FIREFOX
from tests.conftest import TEST_KEY, make_settings
from tests.servers import free_port, run_gateway, run_server

ADMIN = "admin@example.org"
BROWSER = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin", "x-forwarded-for": "81.2.69.160"}
PAGE = {"accept": "text/html", "sec-fetch-dest": "document"}
PRIVACY_DOC = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"
SOURCE = Path(gateway.__file__).resolve().parents[1]  # the code under test, for the CLI too


@dataclass
class Gateway:
    public: str
    admin: str
    settings: Settings
    storage: Storage

    def chain(self, consent_id: str) -> list[LogEntry]:
        client = self.storage.connect()
        try:
            return load_chain(client, consent_id)
        finally:
            client.close()

    def wait_for_chain(self, consent_id: str, length: int) -> list[LogEntry]:
        """The chain once it holds ``length`` entries (the log's writer flushes every 0.1 s)."""
        deadline = time.monotonic() + 30
        while len(chain := self.chain(consent_id)) < length:
            assert time.monotonic() < deadline, f"the chain never reached {length} entries"
            time.sleep(0.05)
        return chain

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``consent-gateway ARGS`` as an operator runs it, with this gateway's settings."""
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(SOURCE),
            "CG_UPSTREAM": self.settings.upstream,
            "CG_SECRET_KEY": TEST_KEY,
            "CG_GEOLOCATION": "off",
            "CG_DATA_DIR": self.settings.data_dir,
            "CG_CLICKHOUSE_DSN": self.settings.clickhouse_dsn,
            "CG_TRUSTED_PROXIES": "127.0.0.1",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={key: value for key, value in environ.items() if value},
            cwd=self.settings.data_dir,
        )

    def main(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        """The same command in this process (the gateway's own, so it runs here): the exit
        status, standard output and standard error. Quicker than a process of its own."""
        env_file = Path(self.settings.data_dir) / "cli.env"
        env_file.write_text(
            f"CG_UPSTREAM={self.settings.upstream}\nCG_SECRET_KEY={TEST_KEY}\n"
            f"CG_CLICKHOUSE_DSN={self.settings.clickhouse_dsn}\n"
            f"CG_DATA_DIR={self.settings.data_dir}\nCG_GEOLOCATION=off\n"
        )
        capsys.readouterr()
        code = main([*args, "--env-file", str(env_file)])
        said = capsys.readouterr()
        return code, said.out, said.err


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("chain")
    with run_server(create_demo_site()) as site:
        settings = make_settings(site, folder, trusted_proxies="127.0.0.1", flush_interval="0.1")
        with run_gateway(settings) as (public, admin):
            storage = storage_from_settings(settings)
            add_account(storage, ADMIN, "admin")
            running = replace(settings, admin_port=int(admin.rsplit(":", 1)[1]))
            yield Gateway(public, admin, running, storage)


def choose(browser: httpx.Client, body: dict[str, Any]) -> None:
    token = browser.get("/_consent/state").json()["csrf"]
    answer = browser.post("/_consent/state", json=body, headers={"x-csrf-token": token})
    assert answer.status_code == 200, answer.text


def consent_id_of(browser: httpx.Client) -> str:
    found = re.search(r"<code id=consent-id>([^<]+)</code>", browser.get("/_consent/privacy").text)
    assert found, "the privacy page shows no consent id"
    return found.group(1)


def new_visitor(gw: Gateway, body: dict[str, Any]) -> tuple[httpx.Client, str]:
    """A browser that made the choice ``body`` and viewed the home page; its consent id."""
    browser = httpx.Client(base_url=gw.public, headers=BROWSER, timeout=60)
    choose(browser, body)
    assert browser.get("/", headers=PAGE).status_code == 200
    consent_id = consent_id_of(browser)
    gw.wait_for_chain(consent_id, 1)
    return browser, consent_id


def documented_verify(consent_id: str) -> list[str]:
    """The verification command exactly as docs/privacy.md shows it, for this id."""
    documented = PRIVACY_DOC.read_text()
    found = re.search(r"^consent-gateway (consent verify --consent-id=ID)$", documented, re.M)
    assert found, "docs/privacy.md no longer shows the verification command"
    return found.group(1).replace("ID", consent_id).split()


TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.mark.slow  # two erasures' passes and two command processes: about 10 s
def test_an_erasure_from_the_cli_then_a_new_choice_keeps_the_chain_intact(gw: Gateway) -> None:
    browser, consent_id = new_visitor(gw, {"action": "accept_all"})
    with closing(browser):
        client, deadline = gw.storage.connect(), time.monotonic() + 30
        key = {"key": visitor_key(consent_id)}
        while not client.command("SELECT count() FROM events WHERE visitor_key = {key:UUID}", key):
            assert time.monotonic() < deadline, "the page view never reached ClickHouse"
            time.sleep(0.05)
        erased = gw.cli("erase", f"--consent-id={consent_id}")
        assert erased.returncode == 0, erased.stderr
        rows = re.search(r"rows deleted: ([^)]*)\)", erased.stdout)
        assert rows, erased.stdout
        # The sessions view reads sessions_agg: counted once, under the table's name.
        assert {part.split()[0] for part in rows.group(1).split(", ")} == {"events", "sessions_agg"}
        choose(browser, {"action": "reject_all"})  # the cookie still names seq 0
    chain = gw.wait_for_chain(consent_id, 3)
    assert [(entry.seq, entry.action) for entry in chain] == [
        (0, "accept_all"),
        (1, "erase"),
        (2, "reject_all"),
    ]
    assert chain[2].prev_hash == chain[1].hash  # the choice follows the erasure
    verified = gw.cli(*documented_verify(consent_id))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(
        f"{consent_id}: intact: 3 entries (seq 0 to 2); erased on {TODAY}; latest: reject_all on "
    )
    assert "fork" not in verified.stdout


def test_an_erasure_from_the_dashboard_then_a_new_choice_keeps_the_chain_intact(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    browser, consent_id = new_visitor(gw, {"categories": {"analytics": True}})
    admin, answer = login(gw.admin, ADMIN)
    with closing(browser), closing(admin):
        assert answer.status_code == 303
        form = admin.get("/privacy").text
        confirm = admin.post(
            "/privacy", data={"csrf": csrf_of(form), "consent_id": consent_id, "action": "confirm"}
        )
        assert confirm.status_code == 200 and "sessions:" not in confirm.text
        erased = admin.post(
            "/privacy",
            data={"csrf": csrf_of(confirm.text), "consent_id": consent_id, "action": "erase"},
        )
        assert erased.status_code == 200 and "Logged as consent log entry seq 1" in erased.text
        choose(browser, {"categories": {"analytics": True, "marketing": True}})
    chain = gw.wait_for_chain(consent_id, 3)
    assert [entry.action for entry in chain] == ["custom", "erase", "custom"]
    code, out, _ = gw.main(capsys, "consent", "verify", f"--consent-id={consent_id}")
    assert code == 0 and f"intact: 3 entries (seq 0 to 2); erased on {TODAY}" in out


def test_an_erasure_from_the_visitors_page_then_a_new_choice_starts_a_new_chain(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    browser, consent_id = new_visitor(gw, {"action": "accept_all"})
    with closing(browser):
        token = browser.get("/_consent/state").json()["csrf"]
        asked = browser.post(
            "/_consent/privacy/erase", json={"confirm": True}, headers={"x-csrf-token": token}
        )
        assert asked.status_code == 202, asked.text
        deadline = time.monotonic() + 60
        while browser.get(asked.json()["status_url"]).json()["state"] != "done":
            assert time.monotonic() < deadline, "the erasure never finished"
            time.sleep(0.05)
        assert "cg_consent" not in browser.cookies  # expired with the erasure
        choose(browser, {"action": "accept_all"})
        again = consent_id_of(browser)
    assert again != consent_id
    gw.wait_for_chain(consent_id, 2)
    gw.wait_for_chain(again, 1)
    code, out, _ = gw.main(capsys, "consent", "verify", f"--consent-id={consent_id}")
    assert code == 0 and f"intact: 2 entries (seq 0 to 1); erased on {TODAY}; latest: erase" in out
    code, out, _ = gw.main(capsys, "consent", "verify", f"--consent-id={again}")
    assert code == 0 and "intact: 1 entry (seq 0 to 0); latest: accept_all" in out


def test_a_tampered_chain_fails_verification_alone_and_among_all(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    browser, consent_id = new_visitor(gw, {"action": "reject_all"})
    with closing(browser):
        choose(browser, {"action": "accept_all"})
    gw.wait_for_chain(consent_id, 2)
    client = gw.storage.connect()
    client.command(
        "ALTER TABLE consent_log UPDATE categories = ['analytics', 'marketing'] "
        "WHERE consent_id = {id:String} AND seq = 0 SETTINGS mutations_sync = 2",
        parameters={"id": consent_id},
    )
    alone = gw.cli("consent", "verify", f"--consent-id={consent_id}")
    assert alone.returncode == 3
    assert alone.stdout == (
        f"{consent_id}: BROKEN: entry seq 0 was changed: its hash does not match it\n"
    )
    everyone = gw.cli("consent", "verify", "--all", "--since", TODAY)
    assert everyone.returncode == 3, everyone.stderr
    summary = re.match(
        r"Checked (\d+) consent ids with an entry from .*?: (\d+) intact", everyone.stdout
    )
    assert summary and int(summary.group(1)) == int(summary.group(2)) + 1
    assert everyone.stdout.splitlines()[-1] == alone.stdout.strip()
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    code, out, _ = gw.main(capsys, "consent", "verify", "--all", "--since", tomorrow)
    assert code == 0 and "Checked 0 consent ids" in out
    for args, said in [
        (["--all", "--since", "2026-13-01"], "--since is a date written YYYY-MM-DD"),
        (["--consent-id=x;drop"], "A consent id is 8 to 64 letters"),
        (["--consent-id=NoSuchVisitor1"], "the consent log holds no entry for NoSuchVisitor1"),
    ]:
        code, _, err = gw.main(capsys, "consent", "verify", *args)
        assert code == 1 and said in err, err


def test_export_retention_migrate_and_a_second_serve_say_what_is_true(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("export", "erase"):
        code, out, err = gw.main(capsys, command, "--consent-id=NoSuchVisitor1")
        assert code == 1 and out == ""
        assert "Nothing is held for the consent id NoSuchVisitor1" in err
    assert not gw.chain("NoSuchVisitor1")  # no erasure entry for a typo

    client = gw.storage.connect()
    client.command(
        "INSERT INTO stats_daily (site, dim, day, value) VALUES ('s', 'x', today(), '/')"
    )
    code, report, _ = gw.main(capsys, "retention")
    assert code in (0, 3)
    for line in report.splitlines()[3:]:
        if not line.strip() or " " not in line or line.startswith(("Every", "Some")):
            continue
        table = line.split()[0]
        if int(client.command(f"SELECT count() FROM {table}")):  # type: ignore[arg-type]
            assert "(empty)" not in line, line
    assert re.search(r"^users .* \(\d+ rows?\) ", report, re.M), report
    assert re.search(rf"^stats_daily .* {TODAY}T00:00:00\+00:00", report, re.M), report

    # Neither the upstream nor the secret key is needed to migrate, and the running
    # gateway does it.
    migrated = gw.cli("migrate", CG_UPSTREAM="", CG_SECRET_KEY="")
    assert migrated.returncode == 0, migrated.stderr
    assert "is up to date" in migrated.stdout

    second = gw.cli("serve", "--port", str(free_port()), "--admin-port", str(free_port()))
    assert second.returncode == 1
    assert f"The gateway with pid {os.getpid()} already serves the data folder" in second.stderr
    assert "another CG_DATA_DIR" in second.stderr and "Traceback" not in second.stderr


# -- the rules, without a gateway -------------------------------------------------------


def _entries(actions: list[str], start: int = 1_700_000_000) -> list[LogEntry]:
    """Entries as the consent API and an erasure make them, each after the last."""
    log = build_consent(make_settings("http://127.0.0.1:1"), system_clock).log
    previous: Choice | None = None
    entries = []
    for step, action in enumerate(actions):
        entry = log.entry("visitor-1", action, start + step * 60, frozenset(), previous)
        entries.append(entry)
        previous = Choice("visitor-1", "1", frozenset(), entry.time, entry.seq, entry.hash)
    return entries


def test_a_choice_follows_the_erasures_appended_after_the_cookies_head() -> None:
    first, erasure, again = _entries(["accept_all", "erase", "erase"])
    assert erased_after(first.seq, first.hash, [erasure, again]) == again
    assert erased_after(erasure.seq, erasure.hash, [again]) == again
    assert erased_after(again.seq, again.hash, []) is None
    choice = _entries(["accept_all", "custom"])[1]  # another tab's choice: not an erasure
    assert erased_after(first.seq, first.hash, [choice]) is None
    # The cookie may name the entry before the erasures: not "newer entries are missing".
    assert verify_chain([first, erasure, again], 1_700_001_000, head=first.hash).ok


def test_an_erasure_beside_a_choice_of_the_same_seq_is_not_a_fork() -> None:
    first, erasure = _entries(["accept_all", "erase"])
    log = build_consent(make_settings("http://127.0.0.1:1"), system_clock).log
    cookie = Choice("visitor-1", "1", frozenset(), first.time, first.seq, first.hash)
    beside = log.entry("visitor-1", "reject_all", first.time + 600, frozenset(), cookie)
    after = Choice("visitor-1", "1", frozenset(), beside.time, beside.seq, beside.hash)
    later = log.entry("visitor-1", "custom", beside.time + 60, frozenset(), after)
    report = verify_chain([first, erasure, beside, later], 1_700_002_000, head=later.hash)
    assert report.ok, report.problems
    assert report.state == "erased" and report.erased == (erasure.time,)
    assert "erased on 2023-11-14" in report.summary()
    two_choices = log.entry("visitor-1", "custom", first.time + 700, frozenset(), cookie)
    forked = verify_chain([first, beside, two_choices], 1_700_002_000)
    assert forked.problems == ["two entries have seq 1: the chain forks there"]
