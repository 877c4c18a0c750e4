"""Password hashing for dashboard accounts: argon2id, memory-hard, via argon2-cffi.

argon2-cffi's defaults follow RFC 9106's second recommended option (64 MiB,
3 passes), which makes each guess cost real memory on a GPU. A hash made with
older parameters is upgraded at the next successful login
(:func:`needs_rehash`). Verifying for an unknown account still runs a full
hash (:func:`verify` with ``None``) so the answer time does not reveal which
addresses have accounts.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 would hash a megabyte; nobody types one

_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def check_strength(password: str) -> str | None:
    """A sentence saying what is wrong with ``password``, or ``None`` when it will do."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"The password must have at most {MAX_LENGTH} characters."
    if password.strip() != password or not password.isprintable():
        return "The password must not start or end with spaces or hold control characters."
    return None


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, with its parameters and salt, as one string."""
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; ``None`` (no such account) is always False.

    Takes the same time either way, and never raises on a corrupt hash.
    """
    if len(password) > MAX_LENGTH:
        return False
    try:
        ok = _hasher.verify(stored or _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def generate_password() -> str:
    """A random password to hand out once (the demo's admin, a reset): 128 bits."""
    return secrets.token_urlsafe(16)
