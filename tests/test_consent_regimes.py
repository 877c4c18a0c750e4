"""Per-category regimes: the UK's statistics exception (``GB.analytics=opt-out``).

One gateway in front of the demo site, visitors placed by the real DB-IP database
through ``CG_TRUSTED_PROXIES`` and ``X-Forwarded-For``: a GB visitor without a choice
is counted while marketing stays blocked, until they object (the API's ``object``
action) or send GPC; a US visitor stays opt-in; the consent log and counts say which
regime applied, and the consent figures' split by regime adds up to their totals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.analytics.events import visitor_key
from gateway.app import GatewayApp, create_app, create_gateway
from gateway.cli import COMMANDS
from gateway.consent.proof import load_chain, verify_chain
from gateway.consent.state import CONSENT_COOKIE
from gateway.demo.site import create_demo_site
from gateway.exceptions import SettingsError
from gateway.privacy.notice import outline, to_markdown
from gateway.settings_parsers import parse_regimes
from gateway.sites import site_id
from gateway.stats.consent import consent_figures
from gateway.stats.query import StatsQuery
from gateway.stats.tokens import create_token
from tests.admin_helpers import add_account, login
from tests.analytics_helpers import FIREFOX
from tests.conftest import make_settings
from tests.geo_databases import dbip_folder
from tests.servers import free_port, run_server

GB_ADDRESS = "81.2.69.160"  # in the UK in DB-IP
US_ADDRESS = "8.8.8.8"
REGIMES = "GB.analytics=opt-out,GB.preferences=opt-out"
GB_LABEL = "analytics=opt-out,marketing=opt-in,preferences=opt-out"
PAGE = {"user-agent": FIREFOX, "sec-fetch-site": "same-origin", "sec-fetch-dest": "document"}


@dataclass
class Site:
    url: str
    app: GatewayApp
    admin: str

    def visitor(self, address: str, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={**PAGE, "x-forwarded-for": address, **headers}
        )

    def flush(self) -> None:
        self.app.services.analytics.flush()
        self.app.services.consent.log.flush()

    def query(self, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
        self.flush()
        client = self.app.services.storage.connect()
        try:
            return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]
        finally:
            client.close()

    def page_views(self, consent_id: str) -> int:
        rows = self.query(
            "SELECT count() FROM events WHERE kind = 'pageview' AND visitor_key = "
            "toUUID({key:String})",
            key=visitor_key(consent_id),
        )
        return int(rows[0][0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp: Path = tmp_path_factory.mktemp("regimes")
    with run_server(create_demo_site()) as demo:
        settings = make_settings(
            demo,
            tmp,
            geolocation="on",
            geoip_db=str(dbip_folder()),
            trusted_proxies="127.0.0.1",
            consent_regimes=REGIMES,
        )
        settings = replace(settings, admin_port=free_port())
        app, admin_app = create_gateway(settings, COMMANDS)
        with run_server(app) as url, run_server(admin_app, port=settings.admin_port) as admin:
            yield Site(url, app, admin)


def state(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/_consent/state")
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


def set_cookie_names(response: httpx.Response) -> set[str]:
    return {h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")}


def test_a_gb_visitor_is_counted_without_a_choice_until_they_object(site: Site) -> None:
    with site.visitor(GB_ADDRESS) as gb:
        first = state(gb)
        assert first["categories"] == {
            "necessary": True,
            "preferences": True,
            "analytics": True,
            "marketing": False,
        }
        assert first["opt_out"] == ["analytics", "preferences"]
        assert first["must_show"] is True and first["reason"] == "no_choice"
        assert first["regime"] == GB_LABEL
        # The consent cookie carries only an id until a choice: the key of the statistics.
        assert CONSENT_COOKIE in gb.cookies
        page = gb.get("/cookies")
        assert page.status_code == 200
        names = set_cookie_names(page)
        assert "_ga" in names and "theme" in names  # statistics, appearance: unasked
        assert "_fbp" not in names  # marketing: stripped, it always needs consent
        gb.get("/")
        consent_id = site.app.services.consent.policy.decode(gb.cookies[CONSENT_COOKIE])
        assert consent_id is not None
        key = consent_id.consent_id
        assert site.page_views(key) == 2
        # The visitor's privacy page says what runs unasked, and shows what was recorded.
        privacy = gb.get("/_consent/privacy").text
        assert "Without asking" in privacy and "we use: preferences, analytics." in privacy
        assert "id=visits" in privacy and key in privacy

        token = first["csrf"]
        objected = gb.post(
            "/_consent/state", json={"action": "object"}, headers={"x-csrf-token": token}
        )
        assert objected.status_code == 200, objected.text
        after = objected.json()
        assert after["categories"]["analytics"] is False
        assert after["categories"]["preferences"] is False
        assert after["must_show"] is False and after["opt_out"] == []
        assert after["erase_offer"].endswith("/privacy#erase")
        assert "_ga" not in set_cookie_names(gb.get("/cookies"))
        gb.get("/")
        assert site.page_views(key) == 2  # nothing more after the objection

    # The log has the objection under the same id, with the regime, and the chain holds.
    client = site.app.services.storage.connect()
    try:
        chain = load_chain(client, key)
    finally:
        client.close()
    assert [(e.action, e.regime, e.country) for e in chain] == [("object", GB_LABEL, "GB")]
    assert verify_chain(chain, int(time.time())).ok


def test_gpc_counts_as_an_objection_to_statistics(site: Site) -> None:
    with site.visitor(GB_ADDRESS, **{"sec-gpc": "1"}) as gb:
        current = state(gb)
        assert current["categories"]["analytics"] is False  # objected to, by the browser
        assert current["categories"]["preferences"] is True  # appearance is not tracking
        assert current["opt_out"] == ["preferences"]
        assert CONSENT_COOKIE not in gb.cookies  # nothing to count, so no id
        before = site.query("SELECT count() FROM events")[0][0]
        assert "_ga" not in set_cookie_names(gb.get("/cookies"))
        gb.get("/")
        assert site.query("SELECT count() FROM events")[0][0] == before


def test_elsewhere_the_default_stays_opt_in(site: Site) -> None:
    with site.visitor(US_ADDRESS) as us:
        current = state(us)
        assert current["regime"] == "opt-in" and current["opt_out"] == []
        assert not any(on for name, on in current["categories"].items() if name != "necessary")
        assert CONSENT_COOKIE not in us.cookies
        assert set_cookie_names(us.get("/cookies")) & {"_ga", "_fbp", "theme"} == set()
        us.get("/")
        assert CONSENT_COOKIE not in us.cookies  # nothing counted, nothing kept


def test_the_consent_figures_split_by_regime_and_add_up(site: Site) -> None:
    # Outcomes of both kinds of visitor: displays under each regime, choices under each.
    for address, action in (
        (GB_ADDRESS, "object"),
        (GB_ADDRESS, "reject_all"),
        (US_ADDRESS, "reject_all"),
        (US_ADDRESS, "accept_all"),
    ):
        with site.visitor(address) as visitor:
            token = state(visitor)["csrf"]
            answer = visitor.post(
                "/_consent/state", json={"action": action}, headers={"x-csrf-token": token}
            )
            assert answer.status_code == 200
    site.flush()
    now = datetime.now(UTC)
    q = StatsQuery(site_id(site.app.settings), now - timedelta(days=1), now + timedelta(hours=1))
    figures = consent_figures(
        site.app.services.storage, q, ("preferences", "analytics", "marketing")
    )
    split = figures["by_regime"]
    assert set(split) == {GB_LABEL, "opt-in"}
    for name in ("shown", "accepted", "rejected", "custom", "objected", "withdrawn", "choices"):
        assert sum(part[name] for part in split.values()) == figures[name], name
    assert split[GB_LABEL]["objected"] >= 1 and split[GB_LABEL]["rejected"] >= 1
    assert split["opt-in"]["accepted"] >= 1 and split["opt-in"]["rejected"] >= 1
    assert split["opt-in"]["objected"] == 0
    assert split[GB_LABEL]["shown"] >= 2 and split["opt-in"]["shown"] >= 2
    assert figures["objection_rate"] > 0

    # The same split on the stats API, the dashboard's consent panel and its CSV.
    site_name = site_id(site.app.settings)
    storage = site.app.services.storage
    _, token = create_token(storage, "regimes", "admin@example.org")
    answer = httpx.get(
        f"{site.admin}/api/v1/stats/consent",
        params={"site_id": site_name, "period": "day"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"]["by_regime"][GB_LABEL]["objected"] >= 1
    add_account(storage, "admin@example.org", "admin")
    admin, _ = login(site.admin, "admin@example.org")
    try:
        board = admin.get(f"/sites/{site_name}?period=day")
        assert board.status_code == 200
        assert 'id="consent-regimes"' in board.text and f">{GB_LABEL}</th>" in board.text
        exported = admin.get(f"/sites/{site_name}/export/consent.csv?period=day")
        assert exported.status_code == 200
        assert f'"by_regime.{GB_LABEL}.objected",' in exported.text
    finally:
        admin.close()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("GB.marketing=opt-out", "marketing always needs consent"),
        ("GB.analytics=none", "objection"),
        ("GBR.analytics=opt-out", "COUNTRY.category=regime"),
        ("GB.=opt-out", "COUNTRY.category=regime"),
    ],
)
def test_a_regime_the_exception_does_not_allow_stops_start_up(raw: str, words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        parse_regimes("CG_CONSENT_REGIMES", raw)


def test_regimes_parse_per_country_and_per_category() -> None:
    parsed = parse_regimes(
        "CG_CONSENT_REGIMES", "us=opt-out, gb.Analytics=opt-out,US.marketing=opt-in"
    )
    assert parsed == {"US": "opt-out", "GB.analytics": "opt-out", "US.marketing": "opt-in"}


def test_a_category_regime_must_name_a_category(tmp_path: Path) -> None:
    settings = make_settings("http://127.0.0.1:9", tmp_path, consent_regimes="GB.statistics=opt-in")
    with pytest.raises(SettingsError, match="CG_CONSENT_CATEGORIES"):
        create_app(settings)


def test_the_notice_says_what_runs_until_the_visitor_objects() -> None:
    told = to_markdown(outline(make_settings("http://127.0.0.1:9", consent_regimes=REGIMES)))
    assert "### What runs until you object" in told
    assert "`analytics` for visitors in GB; `preferences` for visitors in GB" in told
    plain = to_markdown(outline(make_settings("http://127.0.0.1:9")))
    assert "until you object" not in plain
