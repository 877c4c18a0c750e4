"""Signed cookie values: the verified-signature cache never outlives the age limit."""

from __future__ import annotations

from gateway.signing import CookieSigner

KEY = "s" * 40


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_remembered_signature_still_expires_and_never_comes_back_early() -> None:
    clock = Clock(1_000_000)
    signer = CookieSigner([KEY], salt="test", clock=clock)
    signed = signer.sign("visitor")
    assert signer.unsign(signed, max_age=60) == ("visitor", 1_000_000)
    clock.now += 30
    assert signer.unsign(signed, max_age=60) == ("visitor", 1_000_000)  # from the cache
    clock.now += 31
    assert signer.unsign(signed, max_age=60) is None
    clock.now = 999_000  # a clock set back: a signature from the future is refused
    assert signer.unsign(signed, max_age=60) is None


def test_a_remembered_signature_does_not_vouch_for_a_tampered_copy() -> None:
    signer = CookieSigner([KEY], salt="test", clock=Clock(5_000))
    signed = signer.sign("visitor")
    assert signer.unsign(signed, max_age=60) is not None
    tampered = "intruder" + signed[len("visitor") :]
    assert signer.unsign(tampered, max_age=60) is None
    other_salt = CookieSigner([KEY], salt="other", clock=Clock(5_000))
    assert other_salt.unsign(signed, max_age=60) is None
