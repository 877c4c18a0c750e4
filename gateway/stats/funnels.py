"""Funnels: two to eight goals reached in order within one visit, stored and counted.

The ``funnels`` table (migration 0015) keeps one row per change like the goals.
:func:`funnel_figures` gives, for each step, how many visitors had a visit in the
question's range and filters that reached it after the ones before it
(:mod:`gateway.stats.funnel_days` counts them, keeping finished days), the share
of the first step's, how many went on to the next and how many dropped off; a
step of fewer than ``k`` visitors is withheld.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.exceptions import BadStatsQuery
from gateway.settings_analytics import Goal, parse_goal
from gateway.stats.conversions import withhold
from gateway.stats.funnel_days import reached
from gateway.stats.query import StatsQuery
from gateway.storage import Storage
from gateway.storage.threads import thread_client

MIN_STEPS, MAX_STEPS = 2, 8
MAX_NAME = 100
MAX_FUNNELS = 20
_COLUMNS = ["site", "id", "name", "steps", "created", "created_by", "removed", "version"]


@dataclass(frozen=True)
class Funnel:
    """A funnel as stored: its id, name and steps (goals, in order)."""

    id: str
    name: str
    steps: tuple[Goal, ...]
    written: tuple[str, ...]


def parse_steps(lines: list[str]) -> tuple[tuple[Goal, ...], tuple[str, ...]]:
    """The steps of a funnel from their written forms, or :class:`BadStatsQuery`."""
    written = tuple(line.strip() for line in lines if line.strip())
    if not MIN_STEPS <= len(written) <= MAX_STEPS:
        raise BadStatsQuery(f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {len(written)}.")
    steps = []
    for text in written:
        try:
            steps.append(parse_goal(text))
        except ValueError as error:
            raise BadStatsQuery(f"Step {error}.") from None
    return tuple(steps), written


def list_funnels(storage: Storage, site: str) -> list[Funnel]:
    """The site's funnels that are not removed, oldest first."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT id, name, steps FROM funnels FINAL "
            "WHERE site = {site:String} AND removed = 0 ORDER BY created, id",
            parameters={"site": site},
        )
        .result_rows
    )
    return [
        Funnel(id_, name, parse_steps(list(steps))[0], tuple(steps)) for id_, name, steps in rows
    ]


def add_funnel(storage: Storage, site: str, name: str, lines: list[str], actor: str) -> Funnel:
    """A new funnel named ``name`` with the steps written in ``lines``."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise BadStatsQuery(f"Name the funnel with 1 to {MAX_NAME} printable characters.")
    steps, written = parse_steps(lines)
    existing = list_funnels(storage, site)
    if any(funnel.name == name for funnel in existing):
        raise BadStatsQuery(f"A funnel named {name!r} exists already.")
    if len(existing) >= MAX_FUNNELS:
        raise BadStatsQuery(f"A site has at most {MAX_FUNNELS} funnels; remove one first.")
    funnel_id = hashlib.blake2b(f"{site}\n{name}".encode(), digest_size=4).hexdigest()
    _write(storage, site, funnel_id, name, written, actor, removed=False)
    return Funnel(funnel_id, name, steps, written)


def remove_funnel(storage: Storage, site: str, funnel_id: str, actor: str) -> Funnel:
    """Mark the funnel ``funnel_id`` removed; :class:`BadStatsQuery` when there is none."""
    found = next((f for f in list_funnels(storage, site) if f.id == funnel_id), None)
    if found is None:
        raise BadStatsQuery(f"There is no funnel with id {funnel_id[:40]!r}.")
    _write(storage, site, found.id, found.name, found.written, actor, removed=True)
    return found


def _write(
    storage: Storage,
    site: str,
    funnel_id: str,
    name: str,
    written: tuple[str, ...],
    actor: str,
    *,
    removed: bool,
) -> None:
    client = thread_client(storage)
    version = client.query(
        "SELECT max(version) FROM funnels WHERE site = {site:String} AND id = {id:String}",
        parameters={"site": site, "id": funnel_id},
    ).result_rows[0][0]
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    row = [site, funnel_id, name, list(written), now, actor, int(removed), int(version or 0) + 1]
    client.insert("funnels", [row], column_names=_COLUMNS)


def funnel_figures(
    storage: Storage,
    q: StatsQuery,
    steps: tuple[Goal, ...],
    *,
    k: int,
    funnel_id: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Each step of a funnel over ``q``: ``{"step", "visitors", "share", "went_on",
    "dropped"}`` (share: percent of the first step's visitors, to one decimal).

    ``funnel_id`` (a stored funnel's) lets an unfiltered question read its finished
    days from ``funnel_days`` (:mod:`gateway.stats.funnel_days`); ``now`` is the clock.
    """
    counts = reached(storage, q, steps, funnel_id=funnel_id, now=now)
    answer = []
    for i, goal in enumerate(steps):
        visitors = counts[i]
        following = counts[i + 1] if i + 1 < len(counts) else None
        row: dict[str, Any] = {
            "step": goal.name,
            "visitors": visitors,
            "share": round(100 * visitors / counts[0], 1) if counts[0] else 0.0,
            "went_on": following,
            "dropped": visitors - following if following is not None else None,
        }
        figures = ("visitors", "share", "went_on", "dropped")
        withhold(row, figures, visitors, k)
        # The next step's count and the drop-off describe those visitors too.
        small = following is not None and (0 < following < k or 0 < visitors - following < k)
        if small and not row.get("withheld"):
            row.update(went_on=None, dropped=None, withheld=True)
        answer.append(row)
    return answer
