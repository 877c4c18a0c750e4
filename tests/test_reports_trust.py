"""The trust's email report, end to end: three sites from a sites file behind one real
gateway, whose scheduler sends a trust list's weekly report at start-up through the real
SMTP server of tests/test_reports.py; a report by hand with ``--trust``; the lists kept
on the trust's view by admins of every site only.

k is 3. On day D (yesterday) the scripted visits give (tests/test_site_roles.py's):

    site   visitors  visits  page views  reached /apply   top pages
    alpha  5         5       7           3                / (4), /apply (3)
    beta   3         3       4           1 (withheld)     / (3), the rest folded: 1
    gamma  2 (all withheld)              -                folded: 2, withheld

so the total is 8 visitors, 8 visits, 11 page views (gamma named, not counted) and 3
visitors reached /apply (beta named, not counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.audit import audit_entries
from gateway.cli import COMMANDS, main
from gateway.commands import run_command
from gateway.reports.figures import Period, period_of
from gateway.reports.lists import TRUST, add_report_list, list_report_lists
from gateway.reports.unsubscribe import Unsubscribe
from gateway.settings import Settings, load_settings
from gateway.stats.annotations import add_annotation
from gateway.stats.goals import add_goal
from gateway.storage import Storage, storage_from_settings
from gateway.storage.migrator import migrate
from tests.admin_helpers import ManualClock, add_account, csrf_of, login
from tests.chdb import fresh_dsn
from tests.conftest import TEST_KEY
from tests.servers import run_gateway, run_server
from tests.stats_visits import day_d, write_events
from tests.test_reports import DOCS, USER, Mail, _roll_up_whole, _rows
from tests.test_reports import mail as mail  # the module's SMTP servers, reused
from tests.test_site_roles import SITES_FILE, visits
from tests.upstreams import create_upstream

K = 3
EVERY, ALPHA_ADMIN = "every@example.org", "head@alpha.example"
BOARD = "board@trust.example"


@dataclass
class Trust:
    settings: Settings
    storage: Storage
    public: str
    admin: str
    period: Period
    environ: dict[str, str]


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory, mail: Mail) -> Iterator[Trust]:
    tmp = tmp_path_factory.mktemp("trust-reports")
    day = day_d()
    period = period_of("week", day.date())
    clock = ManualClock()
    clock.now = (period.end + timedelta(hours=7, minutes=5)).timestamp()  # when it is due
    with run_server(create_upstream()) as upstream:
        sites_file = tmp / "sites.toml"
        sites_file.write_text(SITES_FILE.format(upstream=upstream))
        environ = {
            "CG_SITES_FILE": str(sites_file),
            "CG_SECRET_KEY": TEST_KEY,
            "CG_GEOLOCATION": "off",
            "CG_CLICKHOUSE_DSN": fresh_dsn(),
            "CG_DATA_DIR": str(tmp),
            "CG_STATS_MIN_VISITORS": str(K),
            "CG_SMTP_URL": f"smtp://{USER}:s%40cret%3A1@127.0.0.1:{mail.starttls_port}",
            "CG_SMTP_CA_FILE": mail.ca_file,
            "CG_REPORT_FROM": "reports@trust.test",
            "CG_REPORT_URL": "https://alpha.test",
        }
        settings = load_settings(environ=environ, env_file=None)
        storage = storage_from_settings(settings)
        migrate(storage)
        write_events(
            storage,
            tmp / "spool",
            [
                *visits("alpha", 5, {0: ["/", "/apply"], 1: ["/", "/apply"], 2: ["/apply"]}),
                *visits("beta", 3, {0: ["/", "/apply"]}),
                *visits("gamma", 2, {}),
            ],
        )
        _roll_up_whole(storage, period.first, [period], ("alpha", "beta", "gamma"))
        for site in ("alpha", "beta"):
            add_goal(storage, site, "/apply", "test")
        add_annotation(storage, "alpha", day.date(), "Open evening", "test")
        add_annotation(storage, "gamma", period.first, "Inspection", "test")
        add_annotation(storage, "beta", period.first - timedelta(days=1), "Too early", "test")
        add_report_list(storage, TRUST, "Trust board", "week", BOARD, "test", now=period.start)
        add_account(storage, EVERY, "admin")
        add_account(storage, ALPHA_ADMIN, "admin")
        with run_gateway(settings, clock=clock) as (public, admin):
            run_command(
                settings,
                COMMANDS.action("user.set_sites"),
                {"email": ALPHA_ADMIN, "sites": ["alpha"]},
            )
            yield Trust(settings, storage, public, admin, period, environ)


def _text(mail: Mail, to: str) -> str:
    body = mail.inbox.to(to)[0].get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_the_scheduled_trust_report_adds_up_what_passes_k(trust: Trust, mail: Mail) -> None:
    day = day_d().date()
    message = mail.inbox.to(BOARD)[0]
    assert message["Subject"] == f"Weekly report for the trust: {trust.period.label}"
    text = _text(mail, BOARD)
    assert _rows(text, "Key figures") == {
        "Visitors": ["5", "3", "fewer than 3", "8"],
        "Visits": ["5", "3", "fewer than 3", "8"],
        "Page views": ["7", "4", "fewer than 3", "11"],
        "Banner choices": ["0", "0", "0", "0"],
        "Accepted all": ["0%", "0%", "0%", "0%"],
        "Rejected all": ["0%", "0%", "0%", "0%"],
        "Chose some": ["0%", "0%", "0%", "0%"],
    }
    assert text.split("\nKey figures\n")[1].splitlines()[1].split() == [
        "alpha",
        "beta",
        "gamma",
        "Total",
    ]
    assert _rows(text, "Left out of the total (fewer than 3)") == {
        "Visitors": ["gamma"],
        "Visits": ["gamma"],
        "Page views": ["gamma"],
        "Goal Visit /apply": ["beta"],
    }
    assert _rows(text, "Goals (visitors)") == {"Visit /apply": ["3", "fewer than 3", "-", "3"]}
    assert _rows(text, "Top pages of alpha") == {"/": ["4", "4"], "/apply": ["3", "3"]}
    assert _rows(text, "Top pages of beta") == {
        "/": ["3", "3"],
        "(other, each under k)": ["fewer than 3", "fewer than 3"],
    }
    assert _rows(text, "Top pages of gamma") == {
        "(other, each under k)": ["fewer than 3", "fewer than 3"]
    }
    notes = text.split("\nAnnotations\n-----------\n")[1].split("\n\n")[0].splitlines()
    written = sorted([(trust.period.first, "gamma", "Inspection"), (day, "alpha", "Open evening")])
    assert notes == [f"{on:%a %d %b} ({site}): {note}" for on, site, note in written]
    assert "Too early" not in text
    html_part = message.get_body(("html",))
    assert html_part is not None
    body = str(html_part.get_content())
    assert "an administrator of the trust" in body and ">11</td>" in body


def test_the_trust_reports_unsubscribe_link_takes_the_address_off(trust: Trust, mail: Mail) -> None:
    board_link = link = mail.inbox.to(BOARD)[0]["List-Unsubscribe"][1:-1]
    parts = urlsplit(link)
    url = f"{trust.public}{parts.path}?{parts.query}"
    with httpx.Client(headers={"host": "alpha.test"}) as client:
        page = client.get(url)
        assert page.status_code == 200 and "reports of the trust" in page.text
        done = client.post(url)
        assert done.status_code == 200 and BOARD in done.text
    board = next(one for one in list_report_lists(trust.storage, TRUST))
    assert board.recipients == ()
    # A site's link points at that site and is signed with its keys (each site checks its own).
    link = Unsubscribe(trust.settings).link("beta", "", "office@beta.example")
    parts = urlsplit(link)
    assert parts.netloc == "beta.test"
    with httpx.Client(headers={"host": "beta.test"}) as client:
        page = client.get(f"{trust.public}{parts.path}?{parts.query}")
        assert page.status_code == 200 and "reports of beta to office@beta.example" in page.text
        other = urlsplit(board_link)
        forged = client.get(f"{trust.public}{other.path}?{other.query}")
        assert forged.status_code == 400  # the trust's link, signed by alpha, is not beta's


def test_the_documented_trust_commands_send_and_preview_the_trusts_report(
    trust: Trust, mail: Mail, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "consent-gateway report send --period month --to dpo@trust.example --trust" in (
        DOCS.read_text()
    )
    env = tmp_path / "report.env"
    env.write_text("".join(f"{key}={value}\n" for key, value in trust.environ.items()))
    day = day_d().date().isoformat()
    argv = ["send", "--period", "week", "--date", day, "--to", "dpo@example.org", "--trust"]
    assert main(["report", "--env-file", str(env), *argv]) == 0
    assert _rows(_text(mail, "dpo@example.org"), "Key figures")["Visitors"][-1] == "8"
    assert "consent-gateway report preview --period week --trust" in DOCS.read_text()
    capsys.readouterr()
    preview = ["preview", "--period", "week", "--date", day, "--trust"]
    assert main(["report", "--env-file", str(env), *preview]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Subject: Weekly report for the trust") and "(alpha)" in printed
    both = ["preview", "--trust", "--site", "alpha"]
    with pytest.raises(SystemExit):  # one or the other
        main(["report", "--env-file", str(env), *both])
    entries = audit_entries(trust.storage, action="report.send")
    assert any(entry.target.startswith(f"{TRUST}/by hand/week") for entry in entries)


def test_only_admins_of_every_site_keep_trust_lists(trust: Trust) -> None:
    head, _ = login(trust.admin, ALPHA_ADMIN)
    every, _ = login(trust.admin, EVERY)
    try:
        page = every.get("/trust").text
        assert 'id="panel-report_lists"' in page and "Trust board" in page
        assert 'id="panel-report_lists"' not in head.get("/trust").text
        form = {
            "csrf": csrf_of(page),
            "name": "Governors",
            "period": "month",
            "recipients": "chair@trust.example",
        }
        refused = head.post(
            "/trust/reports", data={**form, "csrf": csrf_of(head.get("/sites/alpha").text)}
        )
        assert refused.status_code == 403
        assert head.get("/trust/reports/preview?period=week").status_code == 403
        added = every.post("/trust/reports", data=form)
        assert added.status_code == 303 and added.headers["location"].startswith("/trust")
        names = {one.name: one for one in list_report_lists(trust.storage, TRUST)}
        assert names["Governors"].recipients == ("chair@trust.example",)
        bad = every.post("/trust/reports", data={**form, "period": "year"})
        assert bad.status_code == 400 and "weekly (week) or monthly (month)" in bad.text
        preview = every.get("/trust/reports/preview?period=week")
        assert preview.status_code == 200 and "Weekly report for the trust" in preview.text
        gone = every.post(
            "/trust/reports", data={"csrf": form["csrf"], "remove": names["Governors"].id}
        )
        assert gone.status_code == 303
        assert "Governors" not in {one.name for one in list_report_lists(trust.storage, TRUST)}
    finally:
        head.close()
        every.close()
    actions = [(e.action, e.outcome) for e in audit_entries(trust.storage, actor=EVERY)]
    assert ("report_list.add", "ok") in actions and ("report_list.remove", "ok") in actions
    assert ("report_list.add", "failed") in actions
