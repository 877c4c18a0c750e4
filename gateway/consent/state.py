"""The consent cookie, and what a visitor has granted on this request.

The signed cookie ``cg_consent`` carries a random consent id, the policy
revision, the granted categories and the head of the consent log's hash chain
(see ``proof.py``); its signature's timestamp is the time of the choice. Signing
means a visitor can neither grant what the gateway did not record nor forge
another's consent id. A choice counts only while younger than
``CG_CONSENT_LIFETIME_DAYS`` and made under the current ``CG_POLICY_REVISION``;
otherwise the banner shows again, and the defaults follow the legal regime of
the visitor's country, category by category (``GB.analytics=opt-out``: the UK's
statistics exception), less what a Global Privacy Control signal denies.

A visitor whose defaults grant analytics before any choice gets a consent cookie
that carries only a fresh consent id (no revision, no categories): the key of
their statistics, and of their privacy page, until they choose or object.
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
_NO_CHOICE = ""  # the revision field of a cookie that carries only a consent id
# What a GPC signal objects to beyond CG_GPC_DENIES_ANALYTICS where a category is opt-out
# under the statistics exception: GPC says "do not track me", which statistics are.
GPC_OBJECTS_TO = frozenset({"analytics"})
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
    ``no_choice``, ``revision_changed`` or ``not_required``. ``regime`` labels the
    regimes that gave the defaults (:func:`regime_label`; empty once a choice is made);
    ``opt_out`` holds the categories granted by default under their own opt-out regime
    (``GB.analytics=opt-out``), which the banner's notice names and "Object" refuses;
    ``default_id`` the consent id of a visitor without a choice (``new_id`` when it was
    made on this request, so its cookie must be set).
    """

    granted: frozenset[str]
    must_show: bool
    reason: str
    regime: str
    gpc: bool
    choice: Choice | None
    opt_out: frozenset[str] = frozenset()
    default_id: str = ""
    new_id: bool = False

    @property
    def consent_id(self) -> str | None:
        if self.choice is not None:
            return self.choice.consent_id
        return self.default_id or None

    def allows(self, category: str) -> bool:
        return category in self.granted


def regime_label(regimes: dict[str, str]) -> str:
    """One regime when every category has it, else ``category=regime`` pairs, sorted.

    The consent log and counts record it, so the consent panel can split by it.
    """
    values = set(regimes.values())
    if len(values) <= 1:
        return values.pop() if values else "opt-in"
    return ",".join(f"{c}={r}" for c, r in sorted(regimes.items()))


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
        self._default_cache: dict[
            tuple[str, bool], tuple[frozenset[str], frozenset[str], bool, str]
        ] = {}

    # -- the cookie --------------------------------------------------------------

    def encode(self, choice: Choice) -> str:
        granted = "+".join(sorted(choice.granted - {NECESSARY}))
        parts = (choice.consent_id, choice.revision, granted, str(choice.seq), choice.head)
        return self.signer.sign(_SEPARATOR.join(parts))

    def encode_id(self, consent_id: str) -> str:
        """A consent cookie that carries only ``consent_id``: no choice made yet."""
        return self.signer.sign(_SEPARATOR.join((consent_id, _NO_CHOICE, "", "-1", "")))

    def decode(self, raw: str | None) -> Choice | None:
        """The choice in a cookie value, or ``None`` for a forged, expired or garbage one.

        A cookie that carries only a consent id gives a choice whose revision is empty.
        """
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

    def choose(self, previous: Choice | None, granted: set[str], default_id: str = "") -> Choice:
        """A new choice, keeping the visitor's consent id (and chain) when they had one.

        Its ``seq`` follows the previous choice's; its ``head`` is filled in by the
        consent log once the entry is hashed. A first choice keeps ``default_id``, the
        id a default grant's statistics were kept under, when there is one.
        """
        if previous is None:
            consent_id, seq = default_id or new_consent_id(), 0
        else:
            consent_id, seq = previous.consent_id, previous.seq + 1
        kept = frozenset(g for g in granted if g in self.categories or SERVICE.match(g))
        kept |= {NECESSARY}
        return Choice(consent_id, self.revision, kept, int(self.clock()), seq)

    # -- the state ----------------------------------------------------------------

    def country_of(self, client_ip: str) -> str:
        """The visitor's country when a regime may depend on it, else ``""``.

        The lookup runs in memory on the truncated address; nothing is stored.
        """
        if not self.regimes or self.geo is None or not client_ip:
            return ""
        return self.geo.lookup(truncate_ip(client_ip)).country

    def regimes_for(self, country: str) -> dict[str, str]:
        """Each category's regime in ``country``: its own, the country's, or ``opt-in``."""
        base = self.regimes.get(country, "opt-in") if country else "opt-in"
        return {c: self.regimes.get(f"{country}.{c}", base) for c in self.categories}

    def regime_for(self, client_ip: str) -> str:
        """The :func:`regime_label` of the visitor's country; ``opt-in`` if unknown."""
        return regime_label(self.regimes_for(self.country_of(client_ip)))

    def _defaults(
        self, country: str, gpc: bool
    ) -> tuple[frozenset[str], frozenset[str], bool, str]:
        """What a visitor of ``country`` without a choice is granted: the categories, those
        of them under their own opt-out regime, whether the banner must show, and the
        regime's label. The same for every visitor of a country, so kept per country."""
        found = self._default_cache.get((country, gpc))
        if found is not None:
            return found
        regimes = self.regimes_for(country)
        granted = frozenset(c for c, r in regimes.items() if r != "opt-in") | {NECESSARY}
        if gpc:
            granted -= self.gpc_denied
            # Under the statistics exception GPC is an objection (docs/privacy.md).
            granted -= {c for c in GPC_OBJECTS_TO if f"{country}.{c}" in self.regimes}
        # The banner's notice speaks of statistics and appearance: only a category's own
        # opt-out (the exception's form) is listed, not a whole country's.
        opt_out = frozenset(
            c for c in granted if regimes.get(c) == "opt-out" and f"{country}.{c}" in self.regimes
        )
        must_show = any(r != "none" for r in regimes.values())
        found = granted, opt_out, must_show, regime_label(regimes)
        if len(self._default_cache) < 1024:  # countries by two: bounded anyway
            self._default_cache[(country, gpc)] = found
        return found

    def resolve(self, raw_cookie: str | None, gpc: bool, client_ip: str) -> ConsentState:
        """What the visitor has granted, from their cookie, GPC signal and country."""
        choice = self.decode(raw_cookie)
        default_id = ""
        if choice is not None and choice.revision == _NO_CHOICE:
            default_id, choice = choice.consent_id, None
        if choice is not None and choice.revision == self.revision:
            return ConsentState(choice.granted, False, "choice_made", "", gpc, choice)
        granted, opt_out, must_show, label = self._defaults(self.country_of(client_ip), gpc)
        reason = "revision_changed" if choice is not None else "no_choice"
        if not must_show:
            reason = "not_required"
        new_id = False
        if choice is None and not default_id and "analytics" in granted:
            default_id, new_id = new_consent_id(), True
        if choice is not None:
            default_id = ""
        return ConsentState(
            granted, must_show, reason, label, gpc, choice, opt_out, default_id, new_id
        )
