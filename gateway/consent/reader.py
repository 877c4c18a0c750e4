"""Reads each visitor's consent once per request into ``context.consent``.

The front door runs it after the session step and before everything that asks
about consent: the proxy's cookie filter, the page-view recorder, the beacon.
A visitor whose defaults grant analytics before any choice gets the cookie that
keeps their consent id here, so the recorder and the beacon can count them.
"""

from __future__ import annotations

from gateway.asgi import RawHeaders
from gateway.consent.state import CONSENT_COOKIE, ConsentPolicy
from gateway.context import RequestContext
from gateway.cookies import set_cookie_header


class ConsentReader:
    """Resolve the visitor's consent from their cookie, GPC signal and country."""

    def __init__(self, policy: ConsentPolicy, honour_dnt: bool) -> None:
        self.policy = policy
        self.honour_dnt = honour_dnt

    def attach(self, context: RequestContext, headers: RawHeaders) -> None:
        """Put what the visitor granted, as of this request, into ``context.consent``."""
        gpc = False
        for key, value in headers:
            # Sec-GPC: https://privacycg.github.io/gpc-spec/ ; DNT only when configured.
            if (key == b"sec-gpc" or (key == b"dnt" and self.honour_dnt)) and value.strip() == b"1":
                gpc = True
                break
        consent = self.policy.resolve(context.cookie(CONSENT_COOKIE), gpc, context.client_ip)
        context.consent = consent
        if consent.new_id:
            context.response_cookies.append(
                set_cookie_header(
                    CONSENT_COOKIE,
                    self.policy.encode_id(consent.default_id),
                    max_age=self.policy.lifetime_seconds,
                    secure=context.secure,
                )
            )
