"""The one essential cookie: a signed, random session id with a rolling idle expiry.

It keeps the promise that visitors are logged out after a configured idle time,
and binds the CSRF tokens. It carries a random id and the time it was last
signed, nothing else; a tampered, expired, oversized or garbage value is
treated as absent and replaced, never an error. To spare an HMAC and a header
per response it is re-issued only once ``REFRESH_AFTER`` seconds have passed, so
the idle expiry is at most the configured time, never longer.
"""

from __future__ import annotations

import secrets

from gateway.clock import Clock, system_clock
from gateway.context import RequestContext
from gateway.cookies import set_cookie_header
from gateway.signing import CookieSigner

SESSION_COOKIE = "cg_session"
REFRESH_AFTER = 60  # seconds between re-issues of a still-valid cookie


def new_session_id() -> str:
    """128 random bits, URL-safe: unguessable and meaningless outside this gateway."""
    return secrets.token_urlsafe(16)


class Sessions:
    """Read, check and renew the session cookie; put its id in the request context."""

    def __init__(self, keys: list[str], idle_seconds: int, clock: Clock = system_clock) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.signer = CookieSigner(keys, salt="cg.session", clock=clock)

    def attach(self, context: RequestContext) -> None:
        """Give ``context`` its session id, issuing or re-issuing the cookie when due."""
        raw = context.cookie(SESSION_COOKIE)
        checked = self.signer.unsign(raw, max_age=self.idle_seconds) if raw else None
        if checked is None:
            session_id = new_session_id()
            renew = True
        else:
            session_id, signed_at = checked
            renew = self.clock() - signed_at >= REFRESH_AFTER
        context.session_id = session_id
        if renew:
            context.response_cookies.append(
                set_cookie_header(
                    SESSION_COOKIE,
                    self.signer.sign(session_id),
                    max_age=self.idle_seconds,
                    secure=context.secure,
                )
            )
