"""Dashboard accounts in the ``users`` table: add, find, list, change, remove.

Every change inserts a new row with a higher ``version``; the table is a
ReplacingMergeTree keyed by e-mail, so reads with ``FINAL`` see only the
latest row, and a latest row with ``deleted = 1`` hides the account. No
UPDATE or DELETE mutation is ever needed, which suits ClickHouse.

An account is an admin or a viewer of every site (``sites`` empty, as every
account made before migration 0022) or of the sites it names. The last admin of
every site cannot be removed, demoted or narrowed to some sites, so someone can
always manage the accounts.

These functions block (they query ClickHouse); callers on the event loop run
them through :meth:`gateway.storage.Storage.run`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway.exceptions import CommandError
from gateway.site_scope import covers
from gateway.storage import Storage
from gateway.storage.threads import thread_client

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
COLUMNS = ["email", "password_hash", "role", "created", "updated", "deleted", "version", "sites"]

# Deliberately loose: one @, no spaces, a dot in the domain. Mail delivery is not ours to check.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class User:
    """One account as the dashboard sees it."""

    email: str
    role: Role
    password_hash: str
    created: dt.datetime
    updated: dt.datetime
    version: int
    sites: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def all_sites(self) -> bool:
        """Whether the account reaches every site (it names none)."""
        return not self.sites

    def may_see(self, site: str) -> bool:
        """Whether the account may read (or, as an admin, change) ``site``."""
        return covers(self.sites, site)


def normalize_email(raw: str) -> str:
    """The account name for ``raw``: trimmed and lower-cased, or a :class:`CommandError`."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise CommandError(f"{raw!r} is not an e-mail address; accounts are named by e-mail.")
    return email


def check_role(raw: str) -> Role:
    """``raw`` as a :data:`Role`, or a :class:`CommandError` naming the roles."""
    if raw not in ROLES:
        raise CommandError(f"The role must be admin or viewer, not {raw!r}.")
    return "admin" if raw == "admin" else "viewer"


def _user(row: Sequence[Any]) -> User:
    email, password_hash, role, created, updated, version, sites = row
    return User(
        email=str(email),
        role=check_role(str(role)),
        password_hash=str(password_hash),
        created=created,
        updated=updated,
        version=int(version),
        sites=tuple(str(site) for site in sites),
    )


_SELECT = "SELECT email, password_hash, role, created, updated, version, sites FROM users FINAL"


def get_user(storage: Storage, email: str) -> User | None:
    """The live account named ``email``, or ``None``."""
    rows = (
        thread_client(storage)
        .query(_SELECT + " WHERE email = {email:String}", parameters={"email": email})
        .result_rows
    )
    return _user(rows[0]) if rows else None


def list_users(storage: Storage) -> list[User]:
    """Every live account, by e-mail."""
    rows = thread_client(storage).query(_SELECT + " ORDER BY email").result_rows
    return [_user(row) for row in rows]


def count_admins(storage: Storage) -> int:
    """How many live admins of every site there are (the last one may not be removed)."""
    return sum(1 for user in list_users(storage) if user.is_admin and user.all_sites)


def _write(
    storage: Storage,
    email: str,
    password_hash: str,
    role: Role,
    created: dt.datetime,
    sites: Sequence[str],
    *,
    previous: int = 0,
    deleted: bool = False,
) -> None:
    now = dt.datetime.now(dt.UTC)
    version = max(time.time_ns(), previous + 1)
    row = [email, password_hash, role, created, now, int(deleted), version, list(sites)]
    thread_client(storage).insert("users", [row], column_names=COLUMNS)


def add_user(
    storage: Storage, email: str, role: Role, password_hash: str, sites: Sequence[str] = ()
) -> User:
    """Create an account of ``sites`` (none: every site); a :class:`CommandError` if one
    with this e-mail exists. Check ``sites`` first (:func:`gateway.site_scope.named_sites`)."""
    if get_user(storage, email) is not None:
        raise CommandError(
            f"There is already an account for {email}; use set-role or reset-password."
        )
    _write(storage, email, password_hash, role, dt.datetime.now(dt.UTC), sites)
    user = get_user(storage, email)
    assert user is not None
    return user


def require_user(storage: Storage, email: str) -> User:
    """The account named ``email``, or a :class:`CommandError` saying there is none."""
    user = get_user(storage, email)
    if user is None:
        raise CommandError(
            f"There is no account for {email}; `consent-gateway user list` shows them."
        )
    return user


def set_role(storage: Storage, email: str, role: Role) -> User:
    """Change an account's role; the last admin cannot be made a viewer."""
    user = require_user(storage, email)
    if role != "admin":
        _keep_an_admin(storage, user)
    _write(
        storage, email, user.password_hash, role, user.created, user.sites, previous=user.version
    )
    return require_user(storage, email)


def set_sites(storage: Storage, email: str, sites: Sequence[str]) -> User:
    """Change the sites an account reaches (none: every site); check them first."""
    user = require_user(storage, email)
    if sites:
        _keep_an_admin(storage, user)
    _write(
        storage, email, user.password_hash, user.role, user.created, sites, previous=user.version
    )
    return require_user(storage, email)


def _keep_an_admin(storage: Storage, user: User) -> None:
    """A :class:`CommandError` when ``user`` is the last admin of every site."""
    if user.is_admin and user.all_sites and count_admins(storage) <= 1:
        raise CommandError(f"{user.email} is the last admin of every site; make another first.")


def set_password_hash(storage: Storage, email: str, password_hash: str) -> User:
    """Replace an account's password hash (which also ends its open sessions)."""
    user = require_user(storage, email)
    _write(
        storage, email, password_hash, user.role, user.created, user.sites, previous=user.version
    )
    return require_user(storage, email)


def remove_user(storage: Storage, email: str) -> None:
    """Remove an account; the last admin cannot be removed."""
    user = require_user(storage, email)
    _keep_an_admin(storage, user)
    _write(
        storage, email, "", user.role, user.created, user.sites, previous=user.version, deleted=True
    )
