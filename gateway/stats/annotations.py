"""Annotations: dated notes on a site's statistics ("Open evening", "Ofsted report published").

Admins add and remove them on the dashboard; the charts mark them, the stats
API lists them (``/api/v1/stats/annotations``) and the email reports print a
period's. The ``annotations`` table (migration 0019) keeps one row per change,
newest ``version`` winning, as the goals do. They say something about the
site, never about a visitor, so they stay until removed. Callers audit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

from gateway.exceptions import BadStatsQuery
from gateway.storage import Storage
from gateway.storage.threads import thread_client

MAX_TEXT = 200
MAX_PER_SITE = 2000
_COLUMNS = ["site", "id", "day", "text", "created", "created_by", "removed", "version"]


@dataclass(frozen=True)
class Annotation:
    """One note: the day it is about, its text, and who wrote it when."""

    id: str
    day: date
    text: str
    created: datetime
    created_by: str

    @property
    def name(self) -> str:
        """How the audit log names it."""
        return f"{self.day.isoformat()} {self.text}"

    def public(self) -> dict[str, str]:
        """As the stats API lists it."""
        return {"id": self.id, "date": self.day.isoformat(), "text": self.text}


def list_annotations(
    storage: Storage, site: str, first: date | None = None, last: date | None = None
) -> list[Annotation]:
    """The site's annotations from ``first`` to ``last`` (both included, when given), by day."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT id, day, text, created, created_by FROM annotations FINAL "
            "WHERE site = {site:String} AND removed = 0 "
            "AND day >= {first:Date} AND day <= {last:Date} ORDER BY day, created, id",
            parameters={
                "site": site,
                "first": (first or date(1970, 1, 1)).isoformat(),
                "last": (last or date(2149, 6, 6)).isoformat(),
            },
        )
        .result_rows
    )
    return [
        Annotation(id_, day, text, created.replace(tzinfo=UTC), by)
        for id_, day, text, created, by in rows
    ]


def parse_day(text: str) -> date:
    """A day written ``YYYY-MM-DD`` that the ``Date`` column holds, or :class:`BadStatsQuery`."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadStatsQuery(f"The day {text[:20]!r} is not written YYYY-MM-DD.") from None
    if not date(1970, 1, 1) <= day <= date(2149, 6, 6):
        raise BadStatsQuery("An annotation's day must be between 1970-01-01 and 2149-06-06.")
    return day


def add_annotation(storage: Storage, site: str, day: date, text: str, actor: str) -> Annotation:
    """A new annotation; :class:`BadStatsQuery` for an empty or overlong text, or too many."""
    text = " ".join(text.split())  # one line: it labels a chart mark and a list item
    if not text:
        raise BadStatsQuery("An annotation needs a text, such as 'Open evening'.")
    if len(text) > MAX_TEXT:
        raise BadStatsQuery(f"An annotation's text has at most {MAX_TEXT} characters.")
    if len(list_annotations(storage, site)) >= MAX_PER_SITE:
        raise BadStatsQuery(f"A site has at most {MAX_PER_SITE} annotations; remove some first.")
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stored to the millisecond
    note = Annotation(secrets.token_hex(4), day, text, now, actor)
    _write(storage, site, note, removed=False, version=1)
    return note


def remove_annotation(storage: Storage, site: str, annotation_id: str) -> Annotation:
    """Mark the annotation removed; :class:`BadStatsQuery` when the site has none by that id."""
    note = next((a for a in list_annotations(storage, site) if a.id == annotation_id), None)
    if note is None:
        raise BadStatsQuery(f"There is no annotation with id {annotation_id[:40]!r}.")
    _write(storage, site, note, removed=True, version=2)
    return note


def _write(storage: Storage, site: str, note: Annotation, *, removed: bool, version: int) -> None:
    row = [site, note.id, note.day, note.text, note.created, note.created_by, int(removed), version]
    thread_client(storage).insert("annotations", [row], column_names=_COLUMNS)
