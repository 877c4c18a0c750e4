"""Signed, timestamped cookie values with key rotation, shared by every gateway cookie.

itsdangerous does the cryptography. ``CG_SECRET_KEY`` lists keys newest first;
itsdangerous wants them oldest first and signs with the last, so the order is
flipped here once. Each cookie kind passes its own salt, so a value signed as a
session cookie is never accepted as a consent cookie.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, want_bytes

from gateway.clock import Clock, system_clock

# A cookie larger than this is garbage by construction: ours are far smaller, and
# refusing early keeps a hostile 8 KB value from costing an HMAC.
MAX_SIGNED_LENGTH = 1024


class _ClockedSigner(TimestampSigner):
    """A TimestampSigner that reads the injected clock instead of ``time.time``."""

    def __init__(self, keys: list[str], salt: str, clock: Clock) -> None:
        super().__init__(keys, salt=salt, digest_method=hashlib.sha256)
        self._clock = clock
        self._derived: dict[bytes, bytes] = {}

    def get_timestamp(self) -> int:
        return int(self._clock())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """itsdangerous derives the key from secret and salt on every call; the
        result never changes, so it is kept (one hash saved per cookie check)."""
        raw = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(raw)
        if derived is None:
            derived = self._derived[raw] = super().derive_key(raw)
        return derived


# Verified cookies remembered per signer, so a returning visitor's cookie costs a
# dictionary lookup instead of an HMAC on every request. Bounded: when full it is
# emptied, which only costs the next requests their HMAC again.
VERIFIED_CACHE_SIZE = 8192


class CookieSigner:
    """Signs values for one kind of cookie and checks them back, with an age limit."""

    def __init__(self, keys_newest_first: Sequence[str], salt: str, clock: Clock = system_clock):
        self._signer = _ClockedSigner(list(reversed(keys_newest_first)), salt, clock)
        self._clock = clock
        # signed text -> (value, signing time); only ever holds genuine signatures,
        # and the age limit is checked again on every use.
        self._verified: dict[str, tuple[str, int]] = {}

    def sign(self, value: str) -> str:
        """Return ``value`` with the current time and a signature made with the newest key."""
        return self._signer.sign(value).decode("ascii")

    def unsign(self, signed: str, max_age: int) -> tuple[str, int] | None:
        """Return the value and its signing time, or ``None`` if forged, expired or garbage.

        Never raises: every bad cookie is simply treated as absent.
        """
        if not signed or len(signed) > MAX_SIGNED_LENGTH:
            return None  # before the cache: hashing a hostile 8 KB value costs too
        known = self._verified.get(signed)
        if known is not None:
            age = int(self._clock()) - known[1]
            return known if 0 <= age <= max_age else None
        try:
            value, timestamp = self._signer.unsign(signed, max_age=max_age, return_timestamp=True)
        except (BadSignature, SignatureExpired, UnicodeError, ValueError):
            return None
        verified = value.decode("utf-8", "replace"), int(timestamp.timestamp())
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[signed] = verified
        return verified
