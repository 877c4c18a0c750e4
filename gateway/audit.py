"""The audit log: who did what on the admin side or the command line, and whether it worked.

Every login (and failed login), every export and every account change calls
:func:`record_audit`. The actor is an account's e-mail, ``cli:<os user>`` for
the command line, or ``token:<name>`` for the stats API; the address is
truncated (/24, /48) before it is written, like every address the gateway
keeps. Rows expire after one month (see migration 0004 for why).

Other features record their own actions with the same function, for example
``record_audit(storage, actor, "token.create", name)``.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gateway.iptools import truncate_ip
from gateway.storage import Storage
from gateway.storage.threads import thread_client

Outcome = Literal["ok", "denied", "failed", "throttled"]
COLUMNS = ["time", "actor", "action", "target", "ip", "outcome", "detail"]


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log, as the audit page shows it."""

    time: dt.datetime
    actor: str
    action: str
    target: str
    ip: str
    outcome: str
    detail: str


def cli_actor() -> str:
    """The actor name of a command typed at this machine: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record_audit(
    storage: Storage,
    actor: str,
    action: str,
    target: str = "",
    *,
    ip: str = "",
    outcome: Outcome = "ok",
    detail: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Write one audit entry (blocking: run it through ``storage.run`` on the event loop).

    ``ip`` may be a full address: only its /24 or /48 is written.
    """
    row = [
        now or dt.datetime.now(dt.UTC),
        actor[:254],
        action,
        target[:500],
        truncate_ip(ip) if ip else "",
        outcome,
        detail[:1000],
    ]
    thread_client(storage).insert("audit_log", [row], column_names=COLUMNS)


def audit_entries(
    storage: Storage,
    *,
    actor: str = "",
    action: str = "",
    limit: int = 200,
    offset: int = 0,
    sites: Sequence[str] = (),
) -> list[AuditEntry]:
    """The newest entries first, optionally only one actor's or one action's.

    With ``sites``, only the entries about those sites: their target is a site id or
    starts with one and a slash (``primary/pages`` for an export, ``primary/Apply``
    for a goal); logins and account changes are about no site.
    """
    rows = (
        thread_client(storage)
        .query(
            "SELECT time, actor, action, target, ip, outcome, detail FROM audit_log "
            "WHERE ({actor:String} = '' OR actor = {actor:String}) "
            "AND ({action:String} = '' OR action = {action:String}) "
            "AND (empty({sites:Array(String)}) "
            "OR splitByChar('/', target)[1] IN {sites:Array(String)}) "
            "ORDER BY time DESC LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
            parameters={
                "actor": actor,
                "action": action,
                "limit": limit,
                "offset": offset,
                "sites": list(sites),
            },
        )
        .result_rows
    )
    return [AuditEntry(*row) for row in rows]
