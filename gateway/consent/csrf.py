"""Cross-site request forgery defences for the consent API.

Two independent checks, both required for a state-changing request:

1. Same origin: a browser's ``Sec-Fetch-Site`` must say ``same-origin``, and an
   ``Origin`` header, when sent, must name this very host. Clients that send
   neither (curl, old browsers) fall back on the token alone.
2. A token bound to the visitor's session: the HMAC of the session id, handed
   out by ``GET /_consent/state`` and sent back in ``X-CSRF-Token``. A page on
   another site can neither read it nor compute it.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from itsdangerous import Signer

from gateway.context import RequestContext


class CsrfTokens:
    """Issues and checks tokens bound to a session id, with key rotation."""

    def __init__(self, keys_newest_first: list[str]) -> None:
        self._signer = Signer(
            list(reversed(keys_newest_first)), salt="cg.csrf", digest_method=hashlib.sha256
        )

    def token(self, session_id: str) -> str:
        return self._signer.get_signature(session_id).decode("ascii")

    def check(self, session_id: str | None, token: str | None) -> bool:
        if not session_id or not token or len(token) > 128:
            return False
        try:
            return self._signer.verify_signature(session_id, token)
        except (UnicodeError, ValueError):
            return False


def same_origin(context: RequestContext, origin: str | None, fetch_site: str | None) -> bool:
    """Whether the request comes from a page of this same site, as far as headers tell."""
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    if origin is None:
        return True
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc.lower() == context.host.lower() and parts.scheme in ("http", "https")
