"""The email reports' recipient lists: a name, weekly or monthly, and the addresses.

Admins manage them on the dashboard (audited there); a recipient leaves one with
the unsubscribe link of a report. The ``report_lists`` table (migration 0019)
keeps one row per change, newest ``version`` winning, as the goals do. A list whose
site is :data:`TRUST` covers the trust: every site the deployment serves; only
admins of every site keep those (on the trust's view).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.exceptions import BadStatsQuery
from gateway.settings_reports import valid_address
from gateway.storage import Storage
from gateway.storage.threads import thread_client

PERIODS = ("week", "month")
# The site of a list that covers the trust: every site the deployment serves. A site id
# is lower-case letters, digits, "-" and "_" (gateway.sites_file), so none is "*".
TRUST = "*"
MAX_RECIPIENTS = 50
MAX_LISTS = 20
MAX_NAME = 100
_COLUMNS = [
    "site",
    "id",
    "name",
    "period",
    "recipients",
    "created",
    "created_by",
    "removed",
    "version",
]


@dataclass(frozen=True)
class ReportList:
    """One list: who gets the site's weekly or monthly report."""

    id: str
    site: str
    name: str
    period: str  # "week" or "month"
    recipients: tuple[str, ...]
    created: datetime
    created_by: str
    version: int


def list_report_lists(storage: Storage, site: str | None = None) -> list[ReportList]:
    """The lists of ``site`` (every site's when ``None``) that are not removed, oldest first."""
    rows = (
        thread_client(storage)
        .query(
            "SELECT id, site, name, period, recipients, created, created_by, version "
            "FROM report_lists FINAL WHERE removed = 0 "
            "AND ({site:String} = '' OR site = {site:String}) ORDER BY site, created, id",
            parameters={"site": site or ""},
        )
        .result_rows
    )
    return [
        ReportList(id_, site_, name, period, tuple(to), created.replace(tzinfo=UTC), by, version)
        for id_, site_, name, period, to, created, by, version in rows
    ]


def site_name(site: str) -> str:
    """How a report names what it covers: the site's id, or "the trust"."""
    return "the trust" if site == TRUST else site


def find_list(storage: Storage, site: str, list_id: str) -> ReportList | None:
    """The site's list ``list_id``, or ``None``."""
    return next((one for one in list_report_lists(storage, site) if one.id == list_id), None)


def parse_recipients(text: str) -> tuple[str, ...]:
    """Addresses separated by commas, spaces or lines; :class:`BadStatsQuery` names a bad one."""
    found: list[str] = []
    for word in text.replace(",", " ").replace(";", " ").split():
        if not valid_address(word):
            raise BadStatsQuery(f"{word[:100]!r} is not an email address.")
        if word.lower() not in (seen.lower() for seen in found):
            found.append(word)
    if not found:
        raise BadStatsQuery("A list needs at least one address.")
    if len(found) > MAX_RECIPIENTS:
        raise BadStatsQuery(f"A list has at most {MAX_RECIPIENTS} addresses.")
    return tuple(found)


def add_report_list(
    storage: Storage,
    site: str,
    name: str,
    period: str,
    recipients: str,
    actor: str,
    now: datetime | None = None,
) -> ReportList:
    """A new list; :class:`BadStatsQuery` says what is wrong with the form. Its first
    report covers the first whole period after ``now`` (its creation)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise BadStatsQuery(
            f"A list needs a name of 1 to {MAX_NAME} characters, such as Governors."
        )
    if period not in PERIODS:
        raise BadStatsQuery("A list's reports are weekly (week) or monthly (month).")
    addresses = parse_recipients(recipients)
    if len(list_report_lists(storage, site)) >= MAX_LISTS:
        raise BadStatsQuery(f"A site has at most {MAX_LISTS} report lists; remove one first.")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stored to the millisecond
    made = ReportList(secrets.token_hex(4), site, name, period, addresses, now, actor, 1)
    _write(storage, made, removed=False)
    return made


def remove_report_list(storage: Storage, site: str, list_id: str) -> ReportList:
    """Remove the list; :class:`BadStatsQuery` when the site has none by that id."""
    found = find_list(storage, site, list_id)
    if found is None:
        raise BadStatsQuery(f"There is no report list with id {list_id[:40]!r}.")
    _write(storage, _next(found, found.recipients), removed=True)
    return found


def unsubscribe(storage: Storage, site: str, list_id: str, address: str) -> bool:
    """Take ``address`` off the list (every list of the site when ``list_id`` is empty: a
    report sent with ``report send --to``); whether it was on one. Idempotent: a second
    call, or a removed list, changes nothing and says ``False``."""
    lists = list_report_lists(storage, site)
    removed = False
    for found in lists if not list_id else [one for one in lists if one.id == list_id]:
        kept = tuple(to for to in found.recipients if to.lower() != address.lower())
        if kept != found.recipients:
            _write(storage, _next(found, kept), removed=False)
            removed = True
    return removed


def _next(found: ReportList, recipients: tuple[str, ...]) -> ReportList:
    return ReportList(
        found.id,
        found.site,
        found.name,
        found.period,
        recipients,
        found.created,
        found.created_by,
        found.version + 1,
    )


def _write(storage: Storage, one: ReportList, *, removed: bool) -> None:
    row = [
        one.site,
        one.id,
        one.name,
        one.period,
        list(one.recipients),
        one.created,
        one.created_by,
        int(removed),
        one.version,
    ]
    thread_client(storage).insert("report_lists", [row], column_names=_COLUMNS)
