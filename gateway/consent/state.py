"""The consent cookie, and what a visitor has granted on this request.

The signed cookie ``cg_consent`` carries a random consent id, the policy
revision, the granted categories and the head of the consent log's hash chain
(see ``proof.py``); its signature's timestamp is the time of the choice. Signing
means a visitor can neither grant what the gateway did not record nor forge
another's consent id. A choice counts only while younger than
``CG_CONSENT_LIFETIME_DAYS`` and made under the current ``CG_POLICY_REVISION``;
otherwise the banner shows again, and the defaults follow the legal regime of
the visitor's country, less what a Global Privacy Control signal denies.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.consent.third_parties import SERVICE
from gateway.exceptions import CommandError
from gateway.geo import GeoLookup
from gateway.iptools import truncate_ip
from gateway.signing import CookieSigner

CONSENT_COOKIE = "cg_consent"
NECESSARY = "necessary"
_SEPARATOR = "~"
_SEQ = re.compile(r"^(-1|\d{1,9})$")
CONSENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True, slots=True)
class Choice:
    """A choice the visitor made, as the consent cookie records it."""

    consent_id: str
    revision: str
    granted: frozenset[str]
    made_at: int
    seq: int = -1  # the consent log entry of this choice; -1 before the first one
    head: str = ""  # that entry's hash: the head of the consent id's chain


@dataclass(frozen=True, slots=True)
class ConsentState:
    """What this visitor has granted on this request (the ``ConsentView`` of the context).

    ``reason`` says why ``must_show`` is what it is: ``choice_made``,
    ``no_choice``, ``revision_changed`` or ``not_required``.
    """

    granted: frozenset[str]
    must_show: bool
    reason: str
    regime: str
    gpc: bool
    choice: Choice | None

    @property
    def consent_id(self) -> str | None:
        return self.choice.consent_id if self.choice is not None else None

    def allows(self, category: str) -> bool:
        return category in self.granted


def new_consent_id() -> str:
    """128 random bits: the key under which a visitor's analytics rows are kept."""
    return secrets.token_urlsafe(16)


def check_consent_id(value: object) -> str:
    """``value`` if it looks like a consent id, else :class:`CommandError` saying so."""
    if not isinstance(value, str) or not CONSENT_ID.match(value):
        raise CommandError(
            "A consent id is 8 to 64 letters, digits, '-' or '_' (the visitor finds theirs on "
            "the privacy page); check the one given."
        )
    return value


class ConsentPolicy:
    """Reads and writes consent cookies and works out what each visitor has granted."""

    def __init__(
        self,
        keys: list[str],
        categories: tuple[str, ...],
        revision: str,
        lifetime_days: int,
        regimes: dict[str, str],
        gpc_denies_analytics: bool,
        clock: Clock,
        geo: GeoLookup | None = None,
    ) -> None:
        self.categories = categories
        self.revision = revision
        self.lifetime_seconds = lifetime_days * 86400
        self.regimes = regimes
        denied = {"marketing", "analytics"} if gpc_denies_analytics else {"marketing"}
        self.gpc_denied = frozenset(denied)
        self.signer = CookieSigner(keys, salt="cg.consent", clock=clock)
        self.clock = clock
        self.geo = geo  # a country's regime needs it; without one, the default regime

    # -- the cookie --------------------------------------------------------------

    def encode(self, choice: Choice) -> str:
        granted = "+".join(sorted(choice.granted - {NECESSARY}))
        parts = (choice.consent_id, choice.revision, granted, str(choice.seq), choice.head)
        return self.signer.sign(_SEPARATOR.join(parts))

    def decode(self, raw: str | None) -> Choice | None:
        """The choice in a cookie value, or ``None`` for a forged, expired or garbage one."""
        if not raw:
            return None
        checked = self.signer.unsign(raw, max_age=self.lifetime_seconds)
        if checked is None:
            return None
        value, made_at = checked
        parts = value.split(_SEPARATOR)
        if len(parts) == 3:  # written before the consent log: no chain yet
            parts += ["-1", ""]
        if len(parts) != 5 or not parts[0] or not _SEQ.match(parts[3]):
            return None
        granted = frozenset(
            p for p in parts[2].split("+") if p in self.categories or SERVICE.match(p)
        )
        return Choice(parts[0], parts[1], granted | {NECESSARY}, made_at, int(parts[3]), parts[4])

    def choose(self, previous: Choice | None, granted: set[str]) -> Choice:
        """A new choice, keeping the visitor's consent id (and chain) when they had one.

        Its ``seq`` follows the previous choice's; its ``head`` is filled in by the
        consent log once the entry is hashed.
        """
        if previous is None:
            consent_id, seq = new_consent_id(), 0
        else:
            consent_id, seq = previous.consent_id, previous.seq + 1
        kept = frozenset(g for g in granted if g in self.categories or SERVICE.match(g))
        kept |= {NECESSARY}
        return Choice(consent_id, self.revision, kept, int(self.clock()), seq)

    # -- the state ----------------------------------------------------------------

    def regime_for(self, client_ip: str) -> str:
        """``opt-in``, ``opt-out`` or ``none`` for the visitor's country; ``opt-in`` if unknown.

        The lookup runs in memory on the truncated address; nothing is stored.
        """
        if not self.regimes or self.geo is None:
            return "opt-in"
        country = self.geo.lookup(truncate_ip(client_ip)).country
        return self.regimes.get(country, "opt-in")

    def resolve(self, raw_cookie: str | None, gpc: bool, client_ip: str) -> ConsentState:
        """What the visitor has granted, from their cookie, GPC signal and country."""
        choice = self.decode(raw_cookie)
        if choice is not None and choice.revision == self.revision:
            return ConsentState(choice.granted, False, "choice_made", "", gpc, choice)
        regime = self.regime_for(client_ip)
        if regime == "opt-in":
            granted = frozenset({NECESSARY})
        else:
            granted = frozenset(self.categories) | {NECESSARY}
        if gpc:
            granted -= self.gpc_denied
        reason = "revision_changed" if choice is not None else "no_choice"
        if regime == "none":
            reason = "not_required"
        return ConsentState(granted, regime != "none", reason, regime, gpc, choice)
