"""The site's goals: stored in ClickHouse, seeded from ``CG_GOALS``, managed by admins.

A goal (:class:`~gateway.settings_analytics.Goal`) is a page pattern or an event
name with at most one prop match. The ``goals`` table (migration 0015) keeps one
row per change, newest ``version`` winning, so a removed goal stays on record.
Adding and removing are audited by their callers (the dashboard, the seed at
start-up), which know who acts. :func:`goal_condition` is the one place a goal
becomes SQL: every value a bound parameter. :func:`filtered_goals` reads an
``event:goal`` filter as the goals it keeps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.settings_analytics import Goal, parse_goal
from gateway.stats.filters import Filter, Match, wildcard_regex
from gateway.storage import Storage
from gateway.storage.threads import thread_client

MAX_GOALS = 100
_COLUMNS = [
    "site",
    "id",
    "kind",
    "target",
    "prop_key",
    "prop_value",
    "created",
    "created_by",
    "removed",
    "version",
]


@dataclass(frozen=True)
class StoredGoal:
    """A goal as the table holds it: its id, for removing it, and who made it."""

    id: str
    goal: Goal
    created: datetime
    created_by: str

    @property
    def name(self) -> str:
        return self.goal.name


def list_goals(storage: Storage, site: str) -> list[StoredGoal]:
    """The site's goals that are not removed, oldest first."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT id, kind, target, prop_key, prop_value, created, created_by "
            "FROM goals FINAL WHERE site = {site:String} AND removed = 0 ORDER BY created, id",
            parameters={"site": site},
        )
        .result_rows
    )
    return [
        StoredGoal(id_, Goal(kind, target, key, value), created.replace(tzinfo=UTC), by)
        for id_, kind, target, key, value, created, by in rows
    ]


def add_goal(storage: Storage, site: str, text: str, actor: str) -> StoredGoal:
    """A new goal from its written form (``/apply*``, ``File Download [url=*.pdf]``);
    :class:`BadStatsQuery` says what is wrong, or that it exists already."""
    try:
        goal = parse_goal(text)
    except ValueError as error:
        raise BadStatsQuery(f"Goal {error}.") from None
    existing = list_goals(storage, site)
    if any(stored.goal == goal for stored in existing):
        raise BadStatsQuery(f"The goal {goal.name!r} exists already.")
    if len(existing) >= MAX_GOALS:
        raise BadStatsQuery(f"A site has at most {MAX_GOALS} goals; remove one first.")
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stored to the millisecond
    goal_id = _goal_id(site, goal)
    stored = StoredGoal(goal_id, goal, now, actor)
    _write(storage, site, stored, removed=False, version=_version(storage, site, goal_id) + 1)
    return stored


def _version(storage: Storage, site: str, goal_id: str) -> int:
    """The newest version of the goal ``goal_id`` (removed or not), 0 if none."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT max(version) FROM goals WHERE site = {site:String} AND id = {id:String}",
            parameters={"site": site, "id": goal_id},
        )
        .result_rows
    )
    return int(rows[0][0]) if rows else 0


def remove_goal(storage: Storage, site: str, goal_id: str) -> StoredGoal:
    """Mark the goal ``goal_id`` removed; :class:`BadStatsQuery` when there is none."""
    stored = next((g for g in list_goals(storage, site) if g.id == goal_id), None)
    if stored is None:
        raise BadStatsQuery(f"There is no goal with id {goal_id[:40]!r}.")
    _write(storage, site, stored, removed=True, version=_version(storage, site, goal_id) + 1)
    return stored


def seed_goals(storage: Storage, site: str, goals: tuple[Goal, ...]) -> list[StoredGoal]:
    """Add each of ``goals`` (``CG_GOALS``) the site has never had; the ones added. A goal
    an admin removed stays removed: the setting seeds, the dashboard decides."""
    return [
        add_goal(storage, site, _written(goal), "settings")
        for goal in goals
        if not _version(storage, site, _goal_id(site, goal))
    ]


def _goal_id(site: str, goal: Goal) -> str:
    """A goal's id follows from it, so two workers seeding ``CG_GOALS`` at once write one row."""
    return hashlib.blake2b(f"{site}\n{_written(goal)}".encode(), digest_size=4).hexdigest()


def _written(goal: Goal) -> str:
    """A goal in the form :func:`parse_goal` reads."""
    base = goal.target
    return f"{base} [{goal.prop_key}={goal.prop_value}]" if goal.prop_key else base


def _write(storage: Storage, site: str, stored: StoredGoal, *, removed: bool, version: int) -> None:
    goal = stored.goal
    row = [
        site,
        stored.id,
        goal.kind,
        goal.target,
        goal.prop_key,
        goal.prop_value,
        stored.created,
        stored.created_by,
        int(removed),
        version,
    ]
    thread_client(storage).insert("goals", [row], column_names=_COLUMNS)


def goal_condition(goal: Goal, name: str) -> tuple[str, dict[str, Any]]:
    """The condition an ``events`` row meets to reach ``goal``, and its bound parameters
    (named ``NAME_...``). Patterns are Plausible's wildcards (``*`` any run)."""
    if goal.kind == "page":
        sql = f"kind = 'pageview' AND match(path, {{{name}_t:String}})"
        return sql, {f"{name}_t": wildcard_regex(goal.target)}
    sql = f"kind = 'custom' AND name = {{{name}_t:String}}"
    values: dict[str, Any] = {f"{name}_t": goal.target}
    if goal.prop_key:
        sql += f" AND match(props[{{{name}_k:String}}], {{{name}_v:String}})"
        values[f"{name}_k"] = goal.prop_key
        values[f"{name}_v"] = wildcard_regex(goal.prop_value)
    return sql, values


def goals_condition(goals: tuple[Goal, ...], name: str = "fg") -> tuple[str, dict[str, Any]]:
    """The condition an ``events`` row meets to reach any of ``goals`` (none: no row)."""
    if not goals:
        return "0", {}
    parts, values = [], {}
    for i, goal in enumerate(goals):
        condition, bound = goal_condition(goal, f"{name}{i}")
        parts.append(f"({condition})")
        values.update(bound)
    return f"({' OR '.join(parts)})", values


def filtered_goals(goal_filter: Filter, goals: Sequence[Goal]) -> tuple[Goal, ...]:
    """The site's ``goals`` whose names an ``event:goal`` filter keeps, as Plausible reads
    it: a goal is named as the dashboard shows it (``Signup``, ``Visit /register``), ``|``
    gives alternatives and ``*`` wildcards; a name no goal has keeps nothing. A negated
    or repeated goal filter is refused: Plausible does not offer it either."""
    if len(goal_filter.clauses) != 1 or goal_filter.clauses[0].negated:
        raise BadStatsQuery(
            "Filter event:goal with one is (==) filter, for example "
            "event:goal==Signup|Visit /register; is_not (!=) and several are not supported."
        )
    patterns = goal_filter.clauses[0].patterns
    return tuple(goal for goal in goals if any(_named(goal.name, p) for p in patterns))


def _named(name: str, pattern: tuple[Match, str]) -> bool:
    how, text = pattern
    if how is Match.IS:
        return name == text
    if how is Match.CONTAINS:
        return text in name
    if how is Match.WILDCARD:
        return re.fullmatch(wildcard_regex(text), name, re.DOTALL) is not None
    try:
        return re.search(text, name) is not None
    except re.error:
        raise BadStatsQuery("A filter's regular expression is not valid RE2.") from None
