"""The dashboard's marketing panels and goal management, on a real gateway's admin listener.

The visits are tests/test_stats_goals.py's, written through the real steps and
writer; k is 3, so "Application sent" (two visitors) shows "< 3".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.audit import audit_entries
from gateway.stats.tokens import create_token
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import add_account, csrf_of, login
from tests.conftest import make_settings
from tests.servers import run_gateway, run_server
from tests.stats_visits import SITE, write_events
from tests.test_stats_goals import _script
from tests.upstreams import create_upstream


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Storage]]:
    tmp_path: Path = tmp_path_factory.mktemp("goals")
    with run_server(create_upstream()) as upstream:
        settings = make_settings(
            upstream,
            tmp_path,
            site_id=SITE,
            stats_min_visitors=3,
            goals="/apply*; File Download [url=*prospectus*]",
        )
        with run_gateway(settings) as (_, url):
            storage = storage_from_settings(settings)
            write_events(storage, tmp_path / "spool", _script())
            add_account(storage, "admin@example.org", "admin")
            client, answer = login(url, "admin@example.org")
            assert answer.status_code == 303
            yield client, storage


def test_seeded_goals_and_the_panels_show_with_k(admin: tuple[httpx.Client, Storage]) -> None:
    client, storage = admin
    html = client.get(f"/sites/{SITE}?period=7d").text
    for panel in ("goals", "custom-events", "downloads", "broken-links"):
        assert f'id="panel-{panel}"' in html, panel
    assert (
        '<tr data-goal="Visit /apply*"><td><a href="?period=7d&amp;goal=Visit+%2Fapply%2A" '
        'title="show only the visits that reached this goal">Visit /apply*</a></td>'
        '<td class="num">3</td><td class="num">4</td><td class="num">50%</td>'
    ) in html
    assert "<td>/old</td>" in html and "<td>/courses, /news</td>" in html
    assert "https://school.test/files/prospectus.pdf" in html
    assert "fees.pdf" not in html  # one visitor: folded, and its figures withheld
    assert html.count("&lt; 3</span>") >= 2  # the folded download and custom event rows
    seeded = [e for e in audit_entries(storage, action="goal.add") if e.actor == "settings"]
    assert {e.target for e in seeded} == {
        f"{SITE}/Visit /apply*",
        f"{SITE}/File Download [url=*prospectus*]",
    }


def test_admins_add_and_remove_goals_audited(admin: tuple[httpx.Client, Storage]) -> None:
    client, storage = admin
    page = client.get(f"/sites/{SITE}?period=7d").text
    form = {"csrf": csrf_of(page), "back": "period=7d", "goal": "Application sent"}
    added = client.post(f"/sites/{SITE}/goals", data=form)
    assert added.status_code == 303 and added.headers["location"].endswith("#panel-goals")
    html = client.get(f"/sites/{SITE}?period=7d").text
    row = html.split('<tr data-goal="Application sent">')[1].split("</tr>")[0]
    assert row.count("&lt; 3") == 3  # two visitors: visitors, events and rate withheld
    assert client.post(f"/sites/{SITE}/goals", data=form).status_code == 400  # twice
    forged = client.post(f"/sites/{SITE}/goals", data={**form, "csrf": "x"})
    assert forged.status_code == 403
    goal_id = row.split('name="remove" value="')[1].split('"')[0]
    removed = client.post(f"/sites/{SITE}/goals", data={"csrf": form["csrf"], "remove": goal_id})
    assert removed.status_code == 303
    assert 'data-goal="Application sent"' not in client.get(f"/sites/{SITE}?period=7d").text
    entries = audit_entries(storage, actor="admin@example.org")
    assert [(e.action, e.outcome) for e in entries if e.action.startswith("goal.")] == [
        ("goal.remove", "ok"),
        ("goal.add", "failed"),
        ("goal.add", "ok"),
    ]


def test_the_stats_api_breaks_down_by_goal_event_and_prop(
    admin: tuple[httpx.Client, Storage],
) -> None:
    client, storage = admin
    _, token = create_token(storage, "goals suite", "admin@example.org")
    base = str(client.base_url)

    def breakdown(**params: str) -> Any:
        answer = httpx.get(
            f"{base}/api/v1/stats/breakdown",
            params={"site_id": SITE, "period": "7d", **params},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    goals = breakdown(property="event:goal", metrics="visitors,events,conversion_rate")
    assert goals[:2] == [  # most visitors first, then by name, as Plausible lists them
        {
            "goal": "File Download [url=*prospectus*]",
            "visitors": 3,
            "events": 3,
            "conversion_rate": 50.0,
        },
        {"goal": "Visit /apply*", "visitors": 3, "events": 4, "conversion_rate": 50.0},
    ]
    assert breakdown(property="event:name", metrics="visitors,events") == [
        {"name": "pageview", "visitors": 6, "events": 7},  # page views are events named so
        {"name": "File Download", "visitors": 4, "events": 4},
        {"name": "404", "visitors": 3, "events": 3},
        {"name": "(other)", "visitors": None, "events": None, "withheld": True},
    ]
    assert breakdown(property="event:props:path", filters="event:name==404") == [
        {"path": "/old", "visitors": 3}
    ]
    # Narrowed to Germany (two visitors): no figure under k.
    assert breakdown(property="event:goal", filters="visit:country==DE")[0] == {
        "goal": "File Download [url=*prospectus*]",
        "visitors": None,
        "withheld": True,
    }
    refused = httpx.get(
        f"{base}/api/v1/stats/breakdown",
        params={"site_id": SITE, "property": "event:name", "metrics": "pageviews"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 400 and "event:name" in refused.json()["error"]


def test_a_funnel_is_defined_shown_and_removed(admin: tuple[httpx.Client, Storage]) -> None:
    client, storage = admin
    page = client.get(f"/sites/{SITE}?period=7d").text
    form = {
        "csrf": csrf_of(page),
        "back": "period=7d",
        "name": "Prospectus to application",
        "steps": "/apply*\nFile Download [url=*prospectus*]\nApplication sent",
    }
    added = client.post(f"/sites/{SITE}/funnels", data=form)
    assert added.status_code == 303, added.text
    html = client.get(f"/sites/{SITE}?period=7d").text
    after = html.split('data-funnel="Prospectus to application"')[1]
    table = after.split("</table>")[0]
    cells = [cell.split(">", 1)[1] for cell in table.split("<td")[1:]]
    # Three visitors applied and took the prospectus in that visit; one (B) went on to
    # send an application afterwards: under k = 3, so that step and the way to it show "< 3".
    withheld = '<span class="withheld" title="fewer than 3 visitors: withheld">&lt; 3</span>'
    assert [cell.split("</td>")[0] for cell in cells] == [
        "1. Visit /apply*", "3", "100%", "3", "0",
        "2. File Download [url=*prospectus*]", "3", "100%", withheld, withheld,
        "3. Application sent", withheld, withheld, "", "",
    ]  # fmt: skip
    one_step = client.post(f"/sites/{SITE}/funnels", data={**form, "name": "x", "steps": "/a"})
    assert one_step.status_code == 400 and "2 to 8 steps" in one_step.text
    funnel_id = after.split('name="remove" value="')[1].split('"')[0]
    removed = client.post(
        f"/sites/{SITE}/funnels", data={"csrf": form["csrf"], "remove": funnel_id}
    )
    assert removed.status_code == 303
    assert "data-funnel=" not in client.get(f"/sites/{SITE}?period=7d").text
    actions = [e.action for e in audit_entries(storage, action="funnel.add")]
    assert len(actions) == 2  # the one added, and the one refused


def test_a_narrow_filter_shows_under_k_in_the_page_and_the_csv(
    admin: tuple[httpx.Client, Storage],
) -> None:
    """Two visitors from Germany: every figure about them is "< 3", never "2"."""
    client, _ = admin
    html = client.get(f"/sites/{SITE}?period=7d&country=DE").text
    withheld = '<span class="withheld" title="fewer than 3 visitors: withheld">&lt; 3</span>'
    assert f"<dt>Unique visitors</dt><dd>{withheld}" in html
    assert f"<dt>Page views</dt><dd>{withheld}" in html
    top = client.get(f"/sites/{SITE}/export/top.csv?period=7d&country=DE").text.splitlines()
    assert '"visitors","< 3"' in top and '"pageviews","< 3"' in top
    series = client.get(f"/sites/{SITE}/export/timeseries.csv?period=7d&country=DE").text
    day_rows = [line for line in series.splitlines()[1:] if "< 3" in line]
    assert len(day_rows) == 1 and set(day_rows[0].split(",")[1:]) == {'"< 3"'}
    unfiltered = client.get(f"/sites/{SITE}/export/top.csv?period=7d").text.splitlines()
    assert '"visitors",6' in unfiltered


def test_a_click_on_a_goal_filters_the_dashboard(admin: tuple[httpx.Client, Storage]) -> None:
    client, _ = admin
    html = client.get(f"/sites/{SITE}?period=7d").text
    assert "<dt>Unique visitors</dt><dd>6 " in html  # A to F
    found = re.search(r'<tr data-goal="Visit /apply\*"><td><a href="\?([^"]+)"', html)
    assert found is not None, "the goal's name links to the filtered dashboard"
    filtered = client.get(f"/sites/{SITE}?{found.group(1).replace('&amp;', '&')}").text
    # A, B and C reached /apply*: every panel shows only their visits.
    assert "<dt>Unique visitors</dt><dd>3 " in filtered
    assert "goal: Visit /apply* ✕" in filtered
    assert "<dt>Page views</dt><dd>4 " in filtered  # A's two, B's and C's one each
    nothing = client.get(f"/sites/{SITE}", params={"period": "7d", "goal": "No such goal"})
    assert "<dt>Unique visitors</dt><dd>0 " in nothing.text


def test_a_custom_event_breaks_down_by_its_props(admin: tuple[httpx.Client, Storage]) -> None:
    client, _ = admin
    html = client.get(f"/sites/{SITE}", params={"period": "7d", "event": "File Download"}).text
    assert '<h3 id="event-props">File Download by url</h3>' in html
    # Three visitors downloaded the prospectus; the fees (one visitor) fold, withheld.
    assert "<td>https://school.test/files/prospectus.pdf</td>" in html
    assert "fees.pdf" not in html
    # Two visitors sent "Application sent" with a course: under k, no prop is listed.
    sent = client.get(f"/sites/{SITE}", params={"period": "7d", "event": "Application sent"})
    assert "No prop that at least 3 visitors sent" in sent.text and "<td>art</td>" not in sent.text
