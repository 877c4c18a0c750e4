"""Bearer tokens of the stats API: created once, stored hashed, revocable.

A token is ``cgt_`` and 32 random bytes (URL-safe base64). It is shown once,
by ``consent-gateway token create NAME``; the ``api_tokens`` table (migration
0005) keeps only its sha256, which is enough for 256 random bits (no
dictionary to guess from, so no slow hash is needed), and a short public
``id`` to list and revoke it by. Revoking writes the row again with
``revoked`` set; a revoked token is refused at its next request.

A token reads the sites it was made for (``--site``, repeated), or every site
(``--all-sites``). One made with neither, like every token from before migration
0022, reads the gateway's site while the deployment serves only one, and nothing
once it serves several: :meth:`ApiToken.reads` decides, for the stats API.

The commands ``token create|list|revoke`` (:mod:`gateway.stats.commands`) run
these as local commands, so they work while a gateway owns the embedded
engine, and write creating and revoking to the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.exceptions import CommandError
from gateway.site_scope import named_sites
from gateway.storage import Storage
from gateway.storage.threads import thread_client

PREFIX = "cgt_"
MAX_NAME = 100
_COLUMNS = [
    "id", "name", "token_hash", "created", "created_by", "revoked", "version", "sites", "all_sites",
]  # fmt: skip
_LISTED = "id, name, created, created_by, revoked, sites, all_sites"


@dataclass(frozen=True)
class ApiToken:
    """A token as listed: never the token itself."""

    id: str
    name: str
    created: datetime
    created_by: str
    revoked: datetime | None
    sites: tuple[str, ...] = ()
    all_sites: bool = False

    def reads(self, site: str, served: Sequence[str]) -> bool:
        """Whether this token may read ``site`` of a deployment serving ``served``."""
        if self.all_sites:
            return True
        if self.sites:
            return site in self.sites
        return len(served) == 1

    @property
    def scope(self) -> str:
        """The sites it reads, as ``token list`` shows them."""
        if self.all_sites:
            return "all sites"
        return ",".join(self.sites) or "this site while it is the only one"


def _aware(moment: datetime | None) -> datetime | None:
    """A time read back from ClickHouse (naive, UTC) as an aware datetime."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _token(
    id_: str,
    name: str,
    created: datetime,
    created_by: str,
    revoked: datetime | None,
    sites: Sequence[str] = (),
    all_sites: int = 0,
) -> ApiToken:
    return ApiToken(
        id_,
        name,
        _aware(created) or created,
        created_by,
        _aware(revoked),
        tuple(str(site) for site in sites),
        bool(all_sites),
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    storage: Storage,
    name: str,
    actor: str,
    *,
    sites: Sequence[str] = (),
    all_sites: bool = False,
) -> tuple[ApiToken, str]:
    """A new token named ``name`` for ``sites`` or ``all_sites``: its listing and the
    token, which is not kept. Check the sites first (:func:`checked_scope`)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise CommandError(f"Name the token with 1 to {MAX_NAME} printable characters.")
    token = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stored to the millisecond
    row = ApiToken(secrets.token_hex(4), name, now, actor, None, tuple(sites), all_sites)
    thread_client(storage).insert(
        "api_tokens",
        [[row.id, name, token_hash(token), now, actor, None, 1, list(sites), int(all_sites)]],
        column_names=_COLUMNS,
    )
    return row, token


def checked_scope(sites: Sequence[str], all_sites: bool, served: Sequence[str]) -> tuple[str, ...]:
    """The sites a new token is for, refusing a token of no named site where the
    deployment serves several, unless it is for all of them."""
    if sites and all_sites:
        raise CommandError("Give --site or --all-sites, not both.")
    named = named_sites(sites, served)
    if not named and not all_sites and len(served) > 1:
        raise CommandError(
            f"This gateway serves several sites ({', '.join(served)}): name the token's "
            "sites with --site, or give --all-sites for a token that reads every site."
        )
    return named


def list_tokens(storage: Storage) -> list[ApiToken]:
    """Every token, revoked ones too, oldest first."""
    rows = (
        thread_client(storage)
        .query(
            f"SELECT {_LISTED} FROM api_tokens FINAL ORDER BY created"  # noqa: S608
        )
        .result_rows
    )
    return [_token(*row) for row in rows]


def revoke_token(storage: Storage, token_id: str) -> ApiToken:
    """Mark the token ``token_id`` revoked (again is harmless)."""
    client = thread_client(storage)
    found = client.query(
        "SELECT id, name, token_hash, created, created_by, revoked, version, sites, all_sites "
        "FROM api_tokens FINAL WHERE id = {id:String}",
        parameters={"id": token_id.strip()},
    ).result_rows
    if not found:
        raise CommandError(
            f"There is no token with id {token_id!r}; see: consent-gateway token list"
        )
    id_, name, hashed, created, created_by, revoked, version, sites, all_sites = found[0]
    revoked = revoked or datetime.now(UTC)
    client.insert(
        "api_tokens",
        [[id_, name, hashed, created, created_by, revoked, version + 1, sites, all_sites]],
        column_names=_COLUMNS,
    )
    return _token(id_, name, created, created_by, revoked, sites, all_sites)


def verify_token(storage: Storage, token: str) -> ApiToken | None:
    """The live token ``token`` is, or ``None`` (unknown, revoked, malformed)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    rows = (
        thread_client(storage)
        .query(
            f"SELECT {_LISTED} FROM api_tokens FINAL "  # noqa: S608
            "WHERE token_hash = {hash:String}",
            parameters={"hash": token_hash(token)},
        )
        .result_rows
    )
    if not rows or rows[0][4] is not None:
        return None
    return _token(*rows[0])
