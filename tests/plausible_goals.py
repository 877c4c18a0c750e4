"""Plausible's answers to goal questions on the scripted visits of tests/plausible_reference.py.

Worked out in plain Python from Plausible's definitions, with no code of the
gateway's: a goal filter (``event:goal==Signup|Visit /register``) keeps the
visits that reached one of the goals it names and counts, of them, the visitors,
the visits with their bounce rate and duration (the whole visit's), the page
views and events that reached a goal (``pageviews``, ``events``);
``conversion_rate`` is those visitors over the visitors of the same question
without the goal filter, in percent to one decimal.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from tests.plausible_reference import Visit, figures, kept

GOALS = ("Signup", "/register", "Outbound Link: Click", "Register")
"""The goals the suite's gateway has (``CG_GOALS``), as written there."""


def goal_name(written: str) -> str:
    """A goal's name as Plausible shows it: ``Visit /register`` for a page goal."""
    return f"Visit {written}" if written.startswith("/") else written


def split_goal(filters: str) -> tuple[list[str], str]:
    """The goal names an ``event:goal==A|B`` filter names, and the other filters."""
    names, rest = [], []
    for part in filter(None, filters.split(";")):
        if part.startswith("event:goal=="):
            names = part.split("==", 1)[1].split("|")
        else:
            rest.append(part)
    return names, ";".join(rest)


def _reached(visit: Visit, names: Sequence[str]) -> tuple[list[str], int]:
    """The page views of ``visit`` that reached a goal among ``names``, and its custom events
    that did."""
    configured = {goal_name(written): written for written in GOALS}
    pages: list[str] = []
    events = 0
    for name in names:
        written = configured.get(name)
        if written is None:
            continue
        if written.startswith("/"):
            pages += [page for page in visit.pages if fnmatch.fnmatchcase(page, written)]
        else:
            events += sum(custom.name == written for custom in visit.customs)
    return pages, events


def answer(visits: Sequence[Visit], filters: str, metrics: Sequence[str]) -> dict[str, Any]:
    """Plausible's ``metrics`` over ``visits`` under v1 ``filters``, goal filters included."""
    names, rest = split_goal(filters)
    if not names and "event:goal" not in filters:
        return figures(kept(visits, filters), metrics)
    rows = kept(visits, rest)
    converted = []
    for visit, _ in rows:
        pages, events = _reached(visit, names)
        if pages or events:
            converted.append((visit, pages, events))
    counted = [m for m in metrics if m not in ("events", "conversion_rate")]
    result = figures([(visit, pages) for visit, pages, _ in converted], counted)
    if "events" in metrics:
        result["events"] = sum(len(pages) + events for _, pages, events in converted)
    if "conversion_rate" in metrics:
        reached = len({visit.visitor for visit, _, _ in converted})
        total = len({visit.visitor for visit, _ in rows})
        result["conversion_rate"] = round(100 * reached / total, 1) if total else 0
    return {name: result[name] for name in metrics}


def goal_breakdown(visits: Sequence[Visit], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """A v1 breakdown by ``event:goal``: each goal someone reached, most visitors first."""
    rows = [
        {"goal": name, **answer(visits, f"event:goal=={name}", ["visitors", *metrics])}
        for name in map(goal_name, GOALS)
    ]
    rows = [row for row in rows if row["visitors"]]
    rows.sort(key=lambda row: (-row["visitors"], row["goal"]))
    return [{"goal": row["goal"], **{m: row[m] for m in metrics}} for row in rows]


def name_breakdown(visits: Sequence[Visit], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """A v1 breakdown by ``event:name``: page views (``pageview``) and each custom event."""
    seen: dict[str, tuple[set[int], int]] = {}
    for visit in visits:
        names = ["pageview"] * len(visit.pages) + [custom.name for custom in visit.customs]
        for name in names:
            who, count = seen.get(name, (set(), 0))
            seen[name] = (who | {visit.visitor}, count + 1)
    rows: list[dict[str, Any]] = [
        {"name": n, "visitors": len(who), "events": count} for n, (who, count) in seen.items()
    ]
    rows.sort(key=lambda row: (-row["visitors"], row["name"]))
    return [{"name": row["name"], **{m: row[m] for m in metrics}} for row in rows]


def converting_by(
    visits: Sequence[Visit], prop: str, filters: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """A v1 breakdown by a visit property ``prop`` under a goal filter: each value with
    visitors who reached the goal, most first, its conversion rate over its own visitors."""
    values = sorted({visit.value(prop) for visit in visits})
    rows = []
    for value in values:
        of_value = [visit for visit in visits if visit.value(prop) == value]
        row = answer(of_value, filters, ["visitors", *metrics])
        if row["visitors"]:
            rows.append({prop: value, **row})
    rows.sort(key=lambda row: (-row["visitors"], row[prop]))
    return [{prop: row[prop], **{m: row[m] for m in metrics}} for row in rows]
