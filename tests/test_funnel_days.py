"""Funnels' finished days kept in ``funnel_days`` (migration 0024), on the real engine.

Scripted visits with hand-worked figures: the stored days give what the raw events
give, a visit crossing midnight counts once on the day of its first step, an edited
funnel starts afresh, a filtered question reads raw, and an erasure leaves no
sketch of the erased visitor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.analytics.events import Kind, visitor_key
from gateway.privacy.erasure import erase_everywhere
from gateway.stats.funnel_days import first_open_day
from gateway.stats.funnels import add_funnel, funnel_figures, list_funnels, remove_funnel
from gateway.stats.query import StatsQuery
from gateway.storage import Storage
from gateway.storage.threads import thread_client
from tests.analytics_helpers import FIREFOX
from tests.chdb import migrated_storage
from tests.stats_visits import SITE, Scripted, write_events

STEPS = ["/courses*", "/apply*", "Application sent"]
NOW = datetime.now(UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
D = TODAY - timedelta(days=5)  # finished: stored
GB = {"country": "GB"}


def _consent(letter: str) -> str:
    return f"{letter * 8}{'0' * 24}"  # as tests.stats_visits makes visitors


def _event(visitor: str, visit: str, at: datetime, path: str, sent: bool = False) -> Scripted:
    fields: dict[str, object] = {"path": path, "at": at.timestamp(), "site": SITE, **GB}
    if sent:
        fields.update(kind=Kind.CUSTOM, name="Application sent")
    return visit, visitor, FIREFOX, fields


def _script() -> list[Scripted]:
    """Visits and their levels (steps reached in order), by the day of their first step."""
    h = timedelta(hours=1)
    m = timedelta(minutes=1)
    return [
        # F, day D-4: all three steps.
        _event("F", "f1", D - timedelta(days=4) + 9 * h, "/courses/art"),
        _event("F", "f1", D - timedelta(days=4) + 9 * h + m, "/apply"),
        _event("F", "f1", D - timedelta(days=4) + 9 * h + 2 * m, "/apply", sent=True),
        # A, day D-2: all three steps.
        _event("A", "a1", D - 2 * 24 * h + 10 * h, "/courses/maths"),
        _event("A", "a1", D - 2 * 24 * h + 10 * h + m, "/apply"),
        _event("A", "a1", D - 2 * 24 * h + 10 * h + 2 * m, "/apply", sent=True),
        # B, day D-2: applies before looking at a course: step 1 only.
        _event("B", "b1", D - 2 * 24 * h + 11 * h, "/apply"),
        _event("B", "b1", D - 2 * 24 * h + 11 * h + m, "/courses/art"),
        # C, from 23:50 on D-1 to 00:10 on D: all three steps, counted on D-1.
        _event("C", "c1", D - 10 * m, "/courses/music"),
        _event("C", "c1", D + 5 * m, "/apply"),
        _event("C", "c1", D + 10 * m, "/apply", sent=True),
        # D, day D: two steps; a later visit only sends (no course first): nothing.
        _event("D", "d1", D + 9 * h, "/courses/art"),
        _event("D", "d1", D + 9 * h + 5 * m, "/apply"),
        _event("D", "d2", D + 15 * h, "/apply", sent=True),
        # E, an hour ago (a day not over: read raw): a course, then sent without applying.
        _event("E", "e1", NOW - h, "/courses/art"),
        _event("E", "e1", NOW - h + m, "/apply", sent=True),
    ]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    made = migrated_storage()
    write_events(made, Path(tmp_path_factory.mktemp("spool")), _script())
    return made


def _q(start: datetime, end: datetime = TODAY + timedelta(days=1), **filters: str) -> StatsQuery:
    return StatsQuery(SITE, start, end, filters=filters)


def _visitors(
    storage: Storage, q: StatsQuery, funnel_id: str | None, steps: list[str]
) -> list[int | None]:
    funnel = next(f for f in list_funnels(storage, SITE) if f.steps and f.written == tuple(steps))
    rows = funnel_figures(storage, q, funnel.steps, k=1, funnel_id=funnel_id)
    return [row["visitors"] for row in rows]


def _stored(storage: Storage, funnel_id: str) -> list[tuple[object, int, int]]:
    """The stored (day, step, visitors) of a funnel, its day markers (step 0) left out."""
    return [
        (day, int(step), int(visitors))
        for day, step, visitors in thread_client(storage)
        .query(
            "SELECT day, step, uniqCombined64Merge(visitors) FROM funnel_days "
            "WHERE funnel = {id:String} AND step > 0 GROUP BY day, step ORDER BY day, step",
            parameters={"id": funnel_id},
        )
        .result_rows
    ]


def _days(storage: Storage, funnel_id: str) -> int:
    return int(
        thread_client(storage).command(
            "SELECT count() FROM (SELECT DISTINCT day FROM funnel_days WHERE funnel = {id:String})",
            parameters={"id": funnel_id},
        )  # type: ignore[arg-type]
    )


def test_stored_days_give_the_raw_figures(storage: Storage) -> None:
    funnel = add_funnel(storage, SITE, "Applications", STEPS, "test")
    assert first_open_day(NOW) > D.date()
    month = _q(D - timedelta(days=3))  # from D-3: F (D-4) is out, C (D-1 into D) is in
    expected = [5, 3, 2]  # A B C D E; A C D; A C
    assert _visitors(storage, month, None, STEPS) == expected  # raw
    assert _visitors(storage, month, funnel.id, STEPS) == expected  # days computed, stored
    d = D.date()
    assert _stored(storage, funnel.id) == [
        (d - timedelta(days=2), 1, 2),  # A, B
        (d - timedelta(days=2), 2, 1),
        (d - timedelta(days=2), 3, 1),
        (d - timedelta(days=1), 1, 1),  # C, the whole visit (its steps after midnight too)
        (d - timedelta(days=1), 2, 1),
        (d - timedelta(days=1), 3, 1),
        (d, 1, 1),  # D
        (d, 2, 1),
    ]
    stored_days = _days(storage, funnel.id)
    assert stored_days == (first_open_day(NOW) - (d - timedelta(days=3))).days  # marks too
    assert _visitors(storage, month, funnel.id, STEPS) == expected  # from the store
    assert _days(storage, funnel.id) == stored_days  # nothing computed again
    # A range of finished days only, ending at D: C's steps after midnight still count.
    past = _q(D - timedelta(days=3), D)
    assert _visitors(storage, past, funnel.id, STEPS) == [3, 2, 2]
    assert _visitors(storage, past, None, STEPS) == [3, 2, 2]
    # From D: C started the day before; from D-4: F too.
    assert _visitors(storage, _q(D), funnel.id, STEPS) == [2, 1, 0]
    assert _visitors(storage, _q(D), None, STEPS) == [2, 1, 0]
    assert _visitors(storage, _q(D - timedelta(days=4)), funnel.id, STEPS) == [6, 4, 3]
    assert _visitors(storage, _q(D - timedelta(days=4)), None, STEPS) == [6, 4, 3]


def test_an_edited_funnel_starts_afresh_and_a_filter_reads_raw(storage: Storage) -> None:
    old = add_funnel(storage, SITE, "Edited", STEPS, "test")
    month = _q(D - timedelta(days=3))
    assert _visitors(storage, month, old.id, STEPS) == [5, 3, 2]
    remove_funnel(storage, SITE, old.id, "test")
    two = ["/courses*", "Application sent"]
    new = add_funnel(storage, SITE, "Edited", two, "test")
    assert new.id == old.id  # same name, same id: the steps' hash tells them apart
    assert _visitors(storage, month, new.id, two) == [5, 3]  # A B C D E; A C E
    assert _visitors(storage, month, None, two) == [5, 3]
    # A filtered question (a country no one came from; then the one everyone came from).
    fresh = add_funnel(storage, SITE, "Filtered", ["/courses/art", "/apply*"], "test")
    nowhere = _q(D - timedelta(days=3), country="FR")
    assert _visitors(storage, nowhere, fresh.id, ["/courses/art", "/apply*"]) == [0, 0]
    assert _days(storage, fresh.id) == 0
    everywhere = _q(D - timedelta(days=3), country="GB")
    assert _visitors(storage, everywhere, fresh.id, ["/courses/art", "/apply*"]) == [3, 1]
    assert _days(storage, fresh.id) == 0  # B, D, E; D


def test_an_erasure_leaves_no_sketch_of_the_visitor(storage: Storage) -> None:
    funnel = add_funnel(storage, SITE, "Erased", STEPS, "test")
    month = _q(D - timedelta(days=3))
    assert _visitors(storage, month, funnel.id, STEPS) == [5, 3, 2]
    key = visitor_key(_consent("A"))

    def with_a() -> tuple[int, int]:
        """The stored visitors of step 1, and the same with A's key merged in."""
        return tuple(
            thread_client(storage)
            .query(
                "SELECT uniqCombined64Merge(visitors), uniqCombined64Merge(s) FROM ("
                "SELECT visitors, visitors AS s FROM funnel_days WHERE funnel = {id:String} "
                "AND step = 1 UNION ALL SELECT uniqCombined64StateIf(toUUID({key:String}), 0), "
                "uniqCombined64State(toUUID({key:String})))",
                parameters={"id": funnel.id, "key": key},
            )
            .result_rows[0]
        )

    assert with_a() == (4, 4)  # A is in the sketches: merging A adds no one
    erase_everywhere(storage, _consent("A"))
    assert _visitors(storage, month, funnel.id, STEPS) == [4, 2, 1]  # computed again
    assert _visitors(storage, month, None, STEPS) == [4, 2, 1]
    assert with_a() == (3, 4)  # A is in no sketch
