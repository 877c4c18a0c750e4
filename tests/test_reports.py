"""Email reports and annotations, end to end: scripted visits through the real steps and
writer, a real gateway whose scheduler sends at start-up, a real SMTP server (aiosmtpd)
with STARTTLS and a login, the messages parsed with the ``email`` package.

k is 3. The report covers the week (Monday to Sunday) of day D, yesterday:

    day D        visitor  pages                 source
                 A        / then /blog 2 min    www.google.com
                 B        /                     www.google.com
                 C        /                     direct
                 D        /apply                direct
                 E        /blog                 direct
    Monday of the week before:  F, G, H, I      / each, direct

So the week has 5 visitors, 5 visits, 6 page views, a bounce rate of 80% (4 of 5
visits saw one page) and a visit duration of 24 s (120 s over 5 visits); the week
before 4, 4, 4, 100%, 0 s. "/" (3 visitors) is a top page, /blog (2) and /apply (1)
are folded; Direct (3) is a source, Google (2) is folded, and the folded row, two
visitors, withheld; the goal /apply (1 visitor) is withheld. Nothing is stored a year
back: "no data".
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from playwright.sync_api import Page, Request

from gateway.audit import audit_entries
from gateway.cli import main
from gateway.exceptions import ReportError, SettingsError
from gateway.reports.figures import Period, period_of, read_report
from gateway.reports.lists import add_report_list, list_report_lists
from gateway.reports.mailer import compose, send
from gateway.reports.render import html_body
from gateway.reports.scheduler import ReportScheduler, claim
from gateway.reports.unsubscribe import public_address
from gateway.settings import Settings
from gateway.settings_reports import parse_smtp_url
from gateway.stats import queries
from gateway.stats.annotations import add_annotation
from gateway.stats.filters import Clause, Filter, Match
from gateway.stats.goals import add_goal
from gateway.stats.query import StatsQuery
from gateway.stats.rollup import rebuild_from
from gateway.stats.tokens import create_token
from gateway.storage import Storage, storage_from_settings
from gateway.storage.migrator import migrate
from tests.admin_helpers import ManualClock, add_account, csrf_of, login
from tests.analytics_helpers import FIREFOX
from tests.browser import axe_violations, screenshot
from tests.conftest import make_settings
from tests.servers import free_port, run_gateway, run_server
from tests.stats_visits import Scripted, write_events
from tests.upstreams import create_upstream

SITE = "test"
USER, PASSWORD = "reporter", "s@cret:1"
K = 3


class Inbox:
    """What the test's SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages to ``address``, once there is one (30 s at most)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [message for to, message in self.messages if to == [address]]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"nothing arrived for {address}")


def _login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=good)


@dataclass
class Mail:
    """The SMTP servers of the tests and the CA file that trusts them."""

    ca_file: str
    starttls_port: int
    tls_port: int
    plain_port: int
    inbox: Inbox


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = Inbox()
    starttls = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=_login,
        auth_require_tls=True,
    )
    # TLS from the first byte: aiosmtpd only counts STARTTLS as TLS for its AUTH check.
    implicit = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=context,
        authenticator=_login,
        auth_require_tls=False,
    )
    plain = Controller(inbox, hostname="127.0.0.1", port=free_port())  # no STARTTLS offered
    servers = [starttls, implicit, plain]
    for server in servers:
        server.start()
    try:
        yield Mail(str(ca_file), starttls.port, implicit.port, plain.port, inbox)
    finally:
        for server in servers:
            server.stop()


def _visit(visitor: str, at: datetime, *paths: str, referrer: str = "") -> list[Scripted]:
    out: list[Scripted] = []
    for i, path in enumerate(paths):
        fields: dict[str, object] = {
            "path": path,
            "at": (at + timedelta(minutes=2 * i)).timestamp(),
        }
        fields["site"] = SITE
        if i == 0 and referrer:
            fields["referrer"] = referrer
        out.append((f"s-{visitor}", visitor, FIREFOX, fields))
    return out


def _script(day: datetime, week_before: datetime) -> list[Scripted]:
    google = "https://www.google.com/search"
    return [
        *_visit("A", day.replace(hour=10), "/", "/blog", referrer=google),
        *_visit("B", day.replace(hour=11), "/", referrer=google),
        *_visit("C", day.replace(hour=12), "/"),
        *_visit("D", day.replace(hour=13), "/apply"),
        *_visit("E", day.replace(hour=14), "/blog"),
        *_visit("F", week_before.replace(hour=9), "/"),
        *_visit("G", week_before.replace(hour=10), "/"),
        *_visit("H", week_before.replace(hour=11), "/"),
        *_visit("I", week_before.replace(hour=12), "/"),
    ]


@dataclass
class Deployment:
    settings: Settings
    storage: Storage
    public: str
    admin: str
    day: datetime
    clock: ManualClock
    tmp: Path


def _settings(upstream: str, tmp: Path, mail: Mail, **more: Any) -> Settings:
    return make_settings(
        upstream,
        tmp,
        site_id=SITE,
        stats_min_visitors=K,
        smtp_url=f"smtp://{USER}:s%40cret%3A1@127.0.0.1:{mail.starttls_port}",
        smtp_ca_file=mail.ca_file,
        report_from="reports@school.test",
        report_url="https://www.school.test",
        **more,
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, mail: Mail) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("reports")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = today - timedelta(days=1)
    period = period_of("week", day.date())
    week_before = period.start - timedelta(days=7)
    clock = ManualClock()
    clock.now = (period.end + timedelta(hours=7, minutes=5)).timestamp()  # when it is due
    with run_server(create_upstream()) as upstream:
        settings = _settings(upstream, tmp, mail)
        storage = storage_from_settings(settings)
        migrate(storage)
        write_events(storage, tmp / "spool", _script(day, week_before))
        _roll_up_whole(storage, week_before.date(), [period, period.previous()])
        add_goal(storage, SITE, "/apply", "test")
        add_annotation(storage, SITE, day.date(), "Open evening", "test")
        add_annotation(storage, SITE, week_before.date(), "Prospectus printed", "test")
        to = "gov1@example.org, gov2@example.org"
        add_report_list(storage, SITE, "Governors", "week", to, "test", now=period.start)
        with run_gateway(settings, clock=clock) as (public, admin):
            yield Deployment(settings, storage, public, admin, day, clock, tmp)


def _roll_up_whole(
    storage: Storage, first: date, periods: list[Period], sites: tuple[str, ...] = (SITE,)
) -> None:
    """Roll the scripted days up again until the rollups answer as the raw events do.

    The rollups' refreshes start with the schema and may catch the visits half-written
    (tests/test_stats_plausible.py meets the same); rolling up again makes them whole.
    """
    metrics = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"]
    everything = Filter((Clause(((Match.IS, ""),), True),))  # read from the raw tables
    for _ in range(3):
        rebuild_from(storage, first)
        differ = []
        for period, site in ((period, site) for period in periods for site in sites):
            whole = StatsQuery(site, period.start, period.end)
            raw = replace(whole, filters={"country": everything})
            served, every = (queries.aggregate(storage, q, metrics) for q in (whole, raw))
            if served != every:
                differ.append((period, served, every))
        if not differ:
            return
    raise AssertionError(f"the rollups differ from the events: {differ}")


def _rows(text: str, title: str) -> dict[str, list[str]]:
    """A plain-text table of the report: each row's cells by its label."""
    block = text.split(f"\n{title}\n")[1].split("\n\n")[0]
    lines = block.splitlines()[2:]  # the underline and the heads
    return {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line) for line in lines)}


def _scheduled(deployment: Deployment, mail: Mail) -> dict[str, EmailMessage]:
    return {to: mail.inbox.to(to)[0] for to in ("gov1@example.org", "gov2@example.org")}


def test_the_scheduled_report_arrives_with_the_figures(deployment: Deployment, mail: Mail) -> None:
    messages = _scheduled(deployment, mail)
    assert set(messages) == {"gov1@example.org", "gov2@example.org"}  # one message each
    message = messages["gov1@example.org"]
    period = period_of("week", deployment.day.date())
    assert message["Subject"] == f"Weekly report for {SITE}: {period.label}"
    assert message["From"] == "reports@school.test" and message["To"] == "gov1@example.org"
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content().replace("\r\n", "\n")
    assert _rows(text, "Key figures") == {
        "Visitors": ["5", "+25%", "no data"],
        "Visits": ["5", "+25%", "no data"],
        "Page views": ["6", "+50%", "no data"],
        "Bounce rate": ["80%", "-20 pts", "no data"],
        "Visit duration": ["24s", "+100%", "no data"],
    }
    # No figure under k: /blog (2), /apply (1) and Google (2) are folded, the goal withheld.
    assert _rows(text, "Top pages") == {"/": ["3", "3"], "(other, each under k)": ["3", "3"]}
    assert _rows(text, "Top sources") == {
        "Direct / None": ["3", "3"],
        "(other, each under k)": ["fewer than 3", "fewer than 3"],  # Google's 2
    }
    assert _rows(text, "Goals") == {"Visit /apply": ["fewer than 3", "fewer than 3"]}
    assert "Open evening" in text and "Prospectus printed" not in text
    assert f"Unsubscribe: {message['List-Unsubscribe'][1:-1]}" in text


def test_the_html_body_is_for_mail_clients(deployment: Deployment, mail: Mail) -> None:
    message = _scheduled(deployment, mail)["gov2@example.org"]
    part = message.get_body(("html",))
    assert part is not None
    body = part.get_content()
    for tag in ("<script", "<img", "<link", "<style", "@import", "url("):
        assert tag not in body, tag
    links = re.findall(r'href="([^"]+)"', body)
    assert [link.replace("&amp;", "&") for link in links] == [message["List-Unsubscribe"][1:-1]]
    assert 'style="' in body and "<table" in body
    assert "Open evening" in body and "Prospectus printed" not in body
    assert ">5</td><td" in body and "no data" in body
    assert "/blog" not in body and "Google" not in body
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"


def test_the_unsubscribe_link_works_without_a_login_and_twice(
    deployment: Deployment, mail: Mail
) -> None:
    link = _scheduled(deployment, mail)["gov1@example.org"]["List-Unsubscribe"][1:-1]
    parts = urlsplit(link)
    assert parts.netloc == "www.school.test" and parts.path == "/_consent/reports/unsubscribe"
    url = f"{deployment.public}{parts.path}?{parts.query}"
    with httpx.Client() as client:
        page = client.get(url)
        assert page.status_code == 200 and "gov1@example.org" in page.text
        assert 'method="post"' in page.text  # opening the link unsubscribes no one
        assert next(one.recipients for one in list_report_lists(deployment.storage, SITE)) == (
            "gov1@example.org",
            "gov2@example.org",
        )
        for _ in range(2):  # RFC 8058's one-click POST; the second changes nothing
            done = client.post(url, data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200 and "no more reports" in done.text
        forged = client.post(
            url.replace("t=", "t=x"), headers={"accept": "application/json"}, data={}
        )
    governors = [
        one for one in list_report_lists(deployment.storage, SITE) if one.name == "Governors"
    ]
    assert governors[0].recipients == ("gov2@example.org",)
    entries = audit_entries(deployment.storage, action="report.unsubscribe")
    assert [(e.actor, e.target) for e in entries] == [
        ("gov1@example.org", f"{SITE}/{governors[0].id}")
    ]
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "bad_link"


def test_one_sender_per_report(deployment: Deployment, mail: Mail) -> None:
    _scheduled(deployment, mail)
    sends = audit_entries(deployment.storage, action="report.send", actor="scheduler")
    assert [(e.outcome, e.detail) for e in sends] == [("ok", "2 recipients")]
    other = ReportScheduler(deployment.settings, deployment.storage, deployment.clock)
    assert other.run_once() == 0  # the gateway's scheduler claimed it
    # Two senders racing for one report: exactly one wins, whoever asks.
    one = add_report_list(deployment.storage, SITE, "Race", "month", "x@example.org", "test")
    period = period_of("month", deployment.day.date())
    now = datetime.now(UTC)
    first = claim(deployment.storage, one, period, "b-sender", now, 0)
    second = claim(deployment.storage, one, period, "a-sender", now + timedelta(seconds=1), 0)
    assert (first, second) == (True, False)
    assert claim(deployment.storage, one, period, "b-sender", now, 0)  # the winner stays


@pytest.fixture(scope="module")
def admin(deployment: Deployment) -> Iterator[httpx.Client]:
    """An admin logged in on the admin listener (a login costs a password hash)."""
    add_account(deployment.storage, "admin@example.org", "admin")
    client, answer = login(deployment.admin, "admin@example.org")
    assert answer.status_code == 303
    yield client
    client.close()


def test_admins_keep_annotations_the_chart_marks_them_the_api_lists_them(
    deployment: Deployment, admin: httpx.Client
) -> None:
    storage, day, client = deployment.storage, deployment.day.date().isoformat(), admin
    view = f"period=custom&from={day}&to={day}"
    page = client.get(f"/sites/{SITE}?{view}").text
    form = {"csrf": csrf_of(page), "back": view, "day": day, "text": "Results day"}
    added = client.post(f"/sites/{SITE}/annotations", data=form)
    assert added.status_code == 303 and added.headers["location"].endswith("#panel-annotations")
    assert (
        client.post(f"/sites/{SITE}/annotations", data={**form, "day": "13/11"}).status_code == 400
    )
    html = client.get(f"/sites/{SITE}?{view}").text
    assert f'<g class="annotation"><title>{day}: Open evening</title>' in html
    assert f"<title>{day}: Results day</title>" in html
    token = create_token(storage, "reports test", "test")[1]
    api = httpx.get(
        f"{deployment.admin}/api/v1/stats/annotations",
        params={"site_id": SITE, "period": "custom", "date": f"{day},{day}"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert [(n["date"], n["text"]) for n in api.json()["results"]] == [
        (day, "Open evening"),
        (day, "Results day"),
    ]
    note = next(n for n in api.json()["results"] if n["text"] == "Results day")
    removed = client.post(
        f"/sites/{SITE}/annotations", data={"csrf": form["csrf"], "remove": note["id"]}
    )
    assert removed.status_code == 303
    listed = httpx.get(api.url, headers={"authorization": f"Bearer {token}"}).json()["results"]
    assert [n["text"] for n in listed] == ["Open evening"]
    actions = [(e.action, e.outcome) for e in audit_entries(storage, actor="admin@example.org")]
    assert actions.count(("annotation.add", "ok")) == 1
    assert ("annotation.add", "failed") in actions and ("annotation.remove", "ok") in actions


def test_admins_keep_report_lists_and_preview_a_report(
    deployment: Deployment, admin: httpx.Client
) -> None:
    storage, client = deployment.storage, admin
    page = client.get(f"/sites/{SITE}").text
    assert 'id="panel-report_lists"' in page and "Governors" in page
    form = {"csrf": csrf_of(page), "name": "Heads", "period": "month", "recipients": "nope"}
    refused = client.post(f"/sites/{SITE}/reports", data=form)
    assert refused.status_code == 400 and "not an email address" in refused.text
    form["recipients"] = "head@example.org\nhead@example.org, deputy@example.org"
    assert client.post(f"/sites/{SITE}/reports", data=form).status_code == 303
    heads = next(one for one in list_report_lists(storage, SITE) if one.name == "Heads")
    assert heads.period == "month"
    assert heads.recipients == ("head@example.org", "deputy@example.org")
    preview = client.get(f"/sites/{SITE}/reports/preview?period=week")
    assert preview.status_code == 200 and f"Weekly report for {SITE}" in preview.text
    assert client.get(f"/sites/{SITE}/reports/preview?period=year").status_code == 400
    actions = [(e.action, e.outcome) for e in audit_entries(storage, actor="admin@example.org")]
    assert ("report_list.add", "failed") in actions and ("report_list.add", "ok") in actions


def test_smtps_and_refusals(deployment: Deployment, mail: Mail) -> None:
    settings = deployment.settings
    period = period_of("week", deployment.day.date())
    report = read_report(deployment.storage, settings, SITE, period)
    message = compose(settings, report, "tls@example.org", "https://www.school.test/x")
    tls = replace(
        settings,
        smtp_url=replace(settings.smtp_url, port=mail.tls_port, tls="implicit"),  # type: ignore[type-var]
    )
    send(tls, [message])
    assert len(mail.inbox.to("tls@example.org")) == 1
    plain = replace(settings, smtp_url=replace(settings.smtp_url, port=mail.plain_port))  # type: ignore[type-var]
    with pytest.raises(ReportError, match="does not offer STARTTLS"):
        send(plain, [message])


def test_without_a_public_address_reports_stop_start_up(deployment: Deployment) -> None:
    settings = replace(deployment.settings, report_url="", allowed_hosts=())
    scheduler = ReportScheduler(settings, deployment.storage, deployment.clock)
    with pytest.raises(SettingsError, match="CG_REPORT_URL"):
        asyncio.run(scheduler.start())
    named = replace(settings, allowed_hosts=("*.school.example", "www.school.example"))
    assert public_address(named) == "https://www.school.example"


DOCS = Path(__file__).resolve().parents[1] / "docs" / "reports.md"


def _documented(language: str) -> list[str]:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.DOTALL)
    return [line for line in blocks[0].splitlines() if line and not line.startswith("#")]


def test_the_documented_configuration_loads() -> None:
    environ = dict(line.split("=", 1) for line in _documented("sh"))
    overrides: dict[str, Any] = {k[3:].lower(): v for k, v in environ.items()}
    settings = make_settings("http://127.0.0.1:9", **overrides)
    assert settings.smtp_url is not None and settings.smtp_url.tls == "starttls"
    assert settings.smtp_url.username == "reports@school.example"
    assert "app-password" not in repr(settings)  # a secret: never printed
    assert settings.report_from == "reports@school.example" and settings.report_hour == 7


def test_the_documented_commands_send_and_preview_a_report(
    deployment: Deployment, mail: Mail, capsys: pytest.CaptureFixture[str]
) -> None:
    env = deployment.tmp / "report.env"
    settings = deployment.settings
    lines = {
        "CG_CLICKHOUSE_DSN": settings.clickhouse_dsn,
        "CG_DATA_DIR": settings.data_dir,
        "CG_GEOLOCATION": "off",
        "CG_SITE_ID": SITE,
        "CG_STATS_MIN_VISITORS": str(K),
        "CG_SMTP_URL": f"smtp://{USER}:s%40cret%3A1@127.0.0.1:{mail.starttls_port}",
        "CG_SMTP_CA_FILE": mail.ca_file,
        "CG_REPORT_FROM": "reports@school.test",
        "CG_REPORT_URL": "https://www.school.test",
    }
    env.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
    assert "consent-gateway report send --period month --to head@school.example" in DOCS.read_text()
    day = deployment.day.date().isoformat()
    argv = ["send", "--period", "week", "--date", day, "--to", "cli@example.org"]
    assert main(["report", "--env-file", str(env), *argv]) == 0
    sent = mail.inbox.to("cli@example.org")
    assert len(sent) == 1
    body = sent[0].get_body(("plain",))
    assert body is not None and "Open evening" in body.get_content()
    capsys.readouterr()
    preview = ["preview", "--period", "week", "--date", day]
    assert "consent-gateway report preview --period week" in DOCS.read_text()
    assert main(["report", "--env-file", str(env), *preview]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"Subject: Weekly report for {SITE}") and "Open evening" in printed
    assert main(["report", "--env-file", str(env), *preview, "--html"]) == 0
    assert capsys.readouterr().out.startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://u:hunter22@mail.test", "must be smtp://"),
        ("smtp://u:hunter22@mail.test:99999", "must be smtp://"),
        ("smtp://u:hunter22@mail.test/x", "must be smtp://"),
        ("smtp://u:hunter22@mail.test?starttls=off", "never sent without TLS"),
        ("smtps://u:hunter22@mail.test?starttls=off", "remove ?starttls=off"),
        ("smtp://u:hunter22@mail.test?tls=no", "takes one option"),
    ],
)
def test_a_bad_smtp_url_says_why_without_its_password(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)) as caught:
        make_settings("http://127.0.0.1:9", smtp_url=url)
    assert "hunter22" not in str(caught.value)


def test_smtp_urls_and_their_defaults() -> None:
    def server(url: str) -> tuple[str, int, str, str]:
        found = parse_smtp_url("CG_SMTP_URL", url)
        assert found is not None
        return found.host, found.port, found.tls, found.username

    assert server("smtp://a%40b.test:p@mail.test") == ("mail.test", 587, "starttls", "a@b.test")
    assert server("smtps://a:p@mail.test") == ("mail.test", 465, "implicit", "a")
    assert server("smtp://localhost?starttls=off") == ("localhost", 25, "none", "")
    assert parse_smtp_url("CG_SMTP_URL", "") is None


# Last in the module: Playwright keeps an event loop marked running in the main thread
# while its browser is open (tests/browser.py), which no test after it may meet.
@pytest.mark.browser
def test_the_report_html_reads_well_and_fetches_nothing(deployment: Deployment, page: Page) -> None:
    period = period_of("week", deployment.day.date())
    report = read_report(deployment.storage, deployment.settings, SITE, period)
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    page.set_content(html_body(report, "https://www.school.test/_consent/reports/unsubscribe?t=x"))
    assert requests == []  # no image, font, stylesheet or script to fetch
    for width in (375, 800):  # a phone, a desktop mail pane
        page.set_viewport_size({"width": width, "height": 900})
        scrolls = page.evaluate("document.documentElement.scrollWidth")
        assert scrolls <= width, f"{scrolls} px wide at {width}"
        screenshot(page, f"report-email-{width}")
    assert page.get_by_role("heading", name="Key figures").is_visible()
    assert page.get_by_text("Open evening").is_visible()
    assert axe_violations(page, "body") == []
