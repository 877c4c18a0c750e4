"""Goals, custom events, downloads and broken links from scripted visits, in the real engine.

Six visitors on day D (yesterday), written through the real steps and writer:

    visitor  country  events
    A        GB       /apply, /apply/form, "Application sent" {course: art},
                      File Download .../prospectus.pdf
    B        DE       /apply, File Download .../prospectus.pdf, "Application sent" {course: art}
    C        DE       /apply/x, File Download .../prospectus.pdf, 404 /old from /courses
    D        GB       /, File Download .../fees.pdf, 404 /old from /news
    E        GB       /, 404 /old from /courses
    F        GB       /courses

k is 3 unless a test says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.analytics.events import Kind
from gateway.exceptions import BadStatsQuery
from gateway.settings_analytics import parse_goal
from gateway.stats import OTHER, StatsQuery, period_range
from gateway.stats.conversions import (
    broken_links,
    custom_events,
    downloads,
    event_props,
    goal_figures,
)
from gateway.stats.funnels import add_funnel, funnel_figures, list_funnels, remove_funnel
from gateway.stats.goals import add_goal, list_goals, remove_goal, seed_goals
from gateway.stats.rollup import refresh, served
from gateway.storage import Storage
from tests.analytics_helpers import FIREFOX
from tests.chdb import migrated_storage
from tests.stats_visits import SITE, Scripted, day_d, write_events

FILES = "https://school.test/files/"
GB, DE = {"country": "GB"}, {"country": "DE"}


def _script() -> list[Scripted]:
    d = day_d()

    def at(minute: int) -> float:
        return (d + timedelta(hours=10, minutes=minute)).timestamp()

    def page(visitor: str, path: str, minute: int, place: dict[str, str]) -> Scripted:
        return (
            f"s{visitor}",
            visitor,
            FIREFOX,
            {"path": path, "at": at(minute), "site": SITE, **place},
        )

    def custom(
        visitor: str,
        name: str,
        props: dict[str, str],
        minute: int,
        place: dict[str, str],
        **more: str,
    ) -> Scripted:
        fields = {"kind": Kind.CUSTOM, "name": name, "props": props, "site": SITE, **place}
        return f"s{visitor}", visitor, FIREFOX, {"path": "/", "at": at(minute), **fields, **more}

    sent = {"course": "art"}
    return [
        page("A", "/apply", 0, GB),
        page("A", "/apply/form", 1, GB),
        custom("A", "Application sent", sent, 2, GB),
        custom("A", "File Download", {"url": FILES + "prospectus.pdf"}, 3, GB),
        page("B", "/apply", 0, DE),
        custom("B", "File Download", {"url": FILES + "prospectus.pdf"}, 1, DE),
        custom("B", "Application sent", sent, 2, DE),
        page("C", "/apply/x", 0, DE),
        custom("C", "File Download", {"url": FILES + "prospectus.pdf"}, 1, DE),
        custom("C", "404", {"path": "/old"}, 2, DE, referrer="http://gateway.test/courses"),
        page("D", "/", 0, GB),
        custom("D", "File Download", {"url": FILES + "fees.pdf"}, 1, GB),
        custom("D", "404", {"path": "/old"}, 2, GB, referrer="http://gateway.test/news"),
        page("E", "/", 0, GB),
        custom("E", "404", {"path": "/old"}, 1, GB, referrer="http://gateway.test/courses"),
        page("F", "/courses", 0, GB),
    ]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    storage = migrated_storage()
    write_events(storage, tmp_path_factory.mktemp("spool"), _script())
    return storage


def week(**filters: str) -> StatsQuery:
    return StatsQuery(SITE, *period_range("7d", datetime.now(UTC)), filters)


GOALS = [parse_goal("/apply*"), parse_goal("File Download [url=*prospectus*]"),
         parse_goal("Application sent")]  # fmt: skip


def test_goals_count_visitors_events_and_conversion_rate(storage: Storage) -> None:
    assert goal_figures(storage, week(), GOALS, k=3) == [
        {"goal": "Visit /apply*", "visitors": 3, "events": 4, "conversion_rate": 50.0},
        {
            "goal": "File Download [url=*prospectus*]",
            "visitors": 3,
            "events": 3,
            "conversion_rate": 50.0,
        },
        # Two visitors: under k, so no figure at all.
        {
            "goal": "Application sent",
            "visitors": None,
            "events": None,
            "conversion_rate": None,
            "withheld": True,
        },
    ]
    assert goal_figures(storage, week(), GOALS[2:], k=1) == [
        {"goal": "Application sent", "visitors": 2, "events": 2, "conversion_rate": 33.3}
    ]


def test_a_narrow_filter_withholds_every_goal_figure(storage: Storage) -> None:
    """Two visitors from DE: a conversion rate over them would single them out."""
    figures = goal_figures(storage, week(country="DE"), GOALS[:1], k=3)
    assert figures == [
        {
            "goal": "Visit /apply*",
            "visitors": None,
            "events": None,
            "conversion_rate": None,
            "withheld": True,
        }
    ]
    assert goal_figures(storage, week(country="DE"), GOALS[:1], k=2)[0]["conversion_rate"] == 100.0


def test_custom_events_fold_names_under_k(storage: Storage) -> None:
    assert custom_events(storage, week(), k=3) == [
        {"name": "File Download", "visitors": 4, "events": 4},
        {"name": "404", "visitors": 3, "events": 3},
        {"name": OTHER, "visitors": None, "events": None, "withheld": True},
    ]


def test_props_downloads_and_broken_links(storage: Storage) -> None:
    assert event_props(storage, week(), "Application sent", "course", k=2) == [
        {"course": "art", "visitors": 2, "events": 2}
    ]
    assert downloads(storage, week(), k=3) == [
        {"url": FILES + "prospectus.pdf", "visitors": 3, "events": 3},
        {"url": OTHER, "visitors": None, "events": None, "withheld": True},
    ]
    assert broken_links(storage, week(), k=3) == [
        {"path": "/old", "visitors": 3, "events": 3, "linked_from": ["/courses", "/news"]}
    ]


def test_goals_are_stored_seeded_and_removed() -> None:
    storage = migrated_storage()
    seeded = seed_goals(storage, SITE, tuple(GOALS[:2]))
    assert [g.name for g in seeded] == ["Visit /apply*", "File Download [url=*prospectus*]"]
    assert seed_goals(storage, SITE, tuple(GOALS[:2])) == []  # seeding twice adds nothing
    added = add_goal(storage, SITE, "Booking made", "admin@example.org")
    with pytest.raises(BadStatsQuery, match="exists already"):
        add_goal(storage, SITE, "Booking made", "admin@example.org")
    with pytest.raises(BadStatsQuery, match="prop match"):
        add_goal(storage, SITE, "Booking [made", "admin@example.org")
    remove_goal(storage, SITE, seeded[0].id)
    assert [g.name for g in list_goals(storage, SITE)] == [seeded[1].name, added.name]
    with pytest.raises(BadStatsQuery, match="no goal"):
        remove_goal(storage, SITE, seeded[0].id)
    assert seed_goals(storage, SITE, tuple(GOALS[:2])) == []  # removed stays removed
    again = add_goal(storage, SITE, "/apply*", "admin@example.org")  # an admin may re-add it
    assert again.id == seeded[0].id and "Visit /apply*" in [
        g.name for g in list_goals(storage, SITE)
    ]


def test_funnels_count_steps_in_order_within_a_visit(storage: Storage) -> None:
    apply_then_sent = (parse_goal("/apply*"), parse_goal("Application sent"))
    assert funnel_figures(storage, week(), apply_then_sent, k=1) == [
        {"step": "Visit /apply*", "visitors": 3, "share": 100.0, "went_on": 2, "dropped": 1},
        {"step": "Application sent", "visitors": 2, "share": 66.7, "went_on": None,
         "dropped": None},
    ]  # fmt: skip
    # In the other order no visit did both: A and B applied before sending.
    backwards = funnel_figures(storage, week(), apply_then_sent[::-1], k=1)
    assert [(row["visitors"], row["went_on"]) for row in backwards] == [(2, 0), (0, None)]
    three = (GOALS[0], GOALS[1], GOALS[2])  # apply, prospectus, sent: B only did all three
    assert [row["visitors"] for row in funnel_figures(storage, week(), three, k=1)] == [3, 3, 1]
    # k = 2: the last step (one visitor) and the drop-off to it are withheld.
    assert funnel_figures(storage, week(), three, k=2) == [
        {"step": "Visit /apply*", "visitors": 3, "share": 100.0, "went_on": 3, "dropped": 0},
        {"step": "File Download [url=*prospectus*]", "visitors": 3, "share": 100.0,
         "went_on": None, "dropped": None, "withheld": True},
        {"step": "Application sent", "visitors": None, "share": None, "went_on": None,
         "dropped": None, "withheld": True},
    ]  # fmt: skip


def test_funnels_are_stored_and_checked() -> None:
    storage = migrated_storage()
    funnel = add_funnel(storage, SITE, "Applications", ["/apply*", "", "Application sent"], "a")
    assert [f.name for f in list_funnels(storage, SITE)] == ["Applications"]
    assert list_funnels(storage, SITE)[0].steps == funnel.steps
    with pytest.raises(BadStatsQuery, match="2 to 8 steps"):
        add_funnel(storage, SITE, "One step", ["/apply*"], "a")
    with pytest.raises(BadStatsQuery, match="2 to 8 steps"):
        add_funnel(storage, SITE, "Nine", [f"/p{i}" for i in range(9)], "a")
    with pytest.raises(BadStatsQuery, match="exists already"):
        add_funnel(storage, SITE, "Applications", ["/a", "/b"], "a")
    remove_funnel(storage, SITE, funnel.id, "a")
    assert list_funnels(storage, SITE) == []


def test_goals_read_from_the_rollups_count_as_from_the_events(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Page goals merge the page rollups once they hold the days: the same figures."""
    storage = migrated_storage()
    write_events(storage, tmp_path_factory.mktemp("spool"), _script())
    raw = goal_figures(storage, week(), GOALS, k=3)
    refresh(storage)
    rolled = storage.connect().query(
        "SELECT (SELECT count() FROM stats_daily WHERE dim = 'page') "
        "+ (SELECT count() FROM stats_recent WHERE dim = 'page')"
    )
    assert served(week()) and rolled.result_rows[0][0] > 0
    assert goal_figures(storage, week(), GOALS, k=3) == raw
    assert raw[0] == {"goal": "Visit /apply*", "visitors": 3, "events": 4, "conversion_rate": 50.0}
