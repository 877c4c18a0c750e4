"""Logging in to the dashboard: the session cookie, idle logout, CSRF, roles, throttling.

The session is one signed cookie, ``cg_admin`` (:mod:`gateway.own_cookies`), with
a random nonce, the account's e-mail and a stamp of its password hash; re-signed
as the user works, it dies after :data:`IDLE_SECONDS` idle. The account is read
on every request, so a removed account or changed role takes effect at once and a
password reset ends other sessions. Before login the cookie has no e-mail, and
its nonce binds the forms' CSRF token (:class:`gateway.consent.csrf.CsrfTokens`),
with ``Sec-Fetch-Site``/``Origin`` checked too. Logins are throttled per account
and per client network (:mod:`gateway.ratelimit`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.admin import accounts
from gateway.admin.accounts import User
from gateway.admin.services import admin_of
from gateway.client_ip import TrustedProxies
from gateway.clock import Clock
from gateway.consent.csrf import CsrfTokens
from gateway.context import RequestContext
from gateway.cookies import set_cookie_header
from gateway.errors import error_response, wants_json
from gateway.ratelimit import RateLimiter, network_key
from gateway.settings import Settings
from gateway.settings_parsers import Rate
from gateway.signing import CookieSigner
from gateway.storage import Storage

ADMIN_COOKIE = "cg_admin"
IDLE_SECONDS = 30 * 60
REFRESH_AFTER = 60  # seconds between re-signings of a live session cookie
LOGIN_PER_ACCOUNT = Rate(10, 15 * 60)
LOGIN_PER_NETWORK = Rate(30, 15 * 60)

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Session:
    """What the cookie says: a nonce, and the account and password stamp once logged in."""

    nonce: str
    email: str = ""
    stamp: str = ""
    signed_at: int = 0


def password_stamp(password_hash: str) -> str:
    """A short fingerprint of the hash: a new password makes old cookies worthless."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class Auth:
    """The admin listener's authentication, one per admin app."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.clock = clock
        self.signer = CookieSigner(settings.secret_keys, salt="cg.admin", clock=clock)
        self.csrf = CsrfTokens(settings.secret_keys)
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.per_account = RateLimiter(LOGIN_PER_ACCOUNT, clock=clock)
        self.per_network = RateLimiter(LOGIN_PER_NETWORK, clock=clock)

    # -- the cookie -------------------------------------------------------------------

    def read(self, request: Request) -> Session | None:
        context: RequestContext = request.scope["gateway"]
        raw = context.cookie(ADMIN_COOKIE)
        checked = self.signer.unsign(raw, max_age=IDLE_SECONDS) if raw else None
        if checked is None:
            return None
        value, signed_at = checked
        try:
            nonce, email, stamp = json.loads(base64.urlsafe_b64decode(value))
        except (ValueError, TypeError):
            return None
        return Session(str(nonce), str(email), str(stamp), signed_at)

    def set_cookie(self, response: Response, request: Request, session: Session) -> None:
        packed = json.dumps([session.nonce, session.email, session.stamp]).encode()
        value = self.signer.sign(base64.urlsafe_b64encode(packed).decode("ascii"))
        # The scheme as CG_TRUSTED_PROXIES lets a proxy say it, not uvicorn's.
        context: RequestContext = request.scope["gateway"]
        header = set_cookie_header(ADMIN_COOKIE, value, max_age=IDLE_SECONDS, secure=context.secure)
        response.raw_headers.append((b"set-cookie", header))

    def anonymous(self) -> Session:
        return Session(secrets.token_urlsafe(16))

    def logged_in(self, user: User) -> Session:
        """A new session for ``user``, with a new nonce (no session fixation)."""
        return Session(secrets.token_urlsafe(16), user.email, password_stamp(user.password_hash))

    def needs_refresh(self, session: Session) -> bool:
        return self.clock() - session.signed_at >= REFRESH_AFTER

    # -- who is asking ------------------------------------------------------------------

    def client_ip(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        return self.trusted.client(peer, request.headers.get("x-forwarded-for"))

    async def user_for(self, storage: Storage, session: Session | None) -> User | None:
        """The live account a session belongs to, or ``None`` (logged out, removed, reset)."""
        if session is None or not session.email:
            return None
        user = await storage.run(lambda: accounts.get_user(storage, session.email))
        if user is None or password_stamp(user.password_hash) != session.stamp:
            return None
        return user

    # -- CSRF ---------------------------------------------------------------------------

    def token(self, session: Session) -> str:
        return self.csrf.token(session.nonce)

    def same_origin(self, request: Request) -> bool:
        """Whether the browser says the request comes from this listener's own pages.

        ``Sec-Fetch-Site`` decides when the browser sends it. ``Origin`` is only a
        fallback: under ``Referrer-Policy: no-referrer`` browsers send
        ``Origin: null`` with every form POST, so ``null`` proves nothing either way.
        """
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        origin = request.headers.get("origin")
        return origin in (None, "null") or urlsplit(origin).netloc == request.headers.get(
            "host", ""
        )

    def form_is_genuine(self, request: Request, session: Session | None, token: str) -> bool:
        """The form's token matches the cookie's nonce, and the browser says same origin."""
        if not self.same_origin(request):
            return False
        return session is not None and self.csrf.check(session.nonce, token)

    # -- throttling ---------------------------------------------------------------------

    def login_wait(self, email: str, client_ip: str) -> float:
        """Count one login attempt; seconds to wait if either limit is spent, else 0."""
        by_network = self.per_network.hit(network_key(client_ip))
        by_account = self.per_account.hit(email) if email else 0.0
        return max(by_network, by_account)


def safe_next(target: str | None) -> str:
    """Where to go after login: a path on this listener only, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def requires(
    role: accounts.Role, *, answers_per_site: bool = False
) -> Callable[[Endpoint], Endpoint]:
    """Decorator for page endpoints: a logged-in account with ``role`` (admin covers viewer)
    that reaches the site the page is about.

    Anonymous GETs are sent to the login page; everything else short of the role
    is a 403. Sites are checked here, for every route, so a guessed URL gets the
    same 403 as a link: a route with a ``{site}`` in its path needs an account of
    that site; any other route is about the whole deployment and needs an account
    of every site, unless it says ``answers_per_site`` (it then shows only the
    account's sites itself: the site list, the trust view, the audit log). The
    endpoint finds the account in ``request.state.user`` and the session in
    ``request.state.session``; the session cookie is renewed after it.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def guarded(request: Request) -> Response:
            auth = admin_of(request).auth
            storage = admin_of(request).storage
            session = auth.read(request)
            user = await auth.user_for(storage, session)
            if user is None or session is None:
                if request.method == "GET":
                    target = quote(
                        request.url.path + ("?" + request.url.query if request.url.query else ""),
                        safe="",
                    )
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return error_response(401, "login_required", "Log in first.", as_json=False)
            if role == "admin" and not user.is_admin:
                return error_response(
                    403, "forbidden", "This page is for admins only.", as_json=False
                )
            refused = _site_refusal(request, user, answers_per_site)
            if refused:
                as_json = wants_json(request.headers.get("accept"))
                return error_response(403, "forbidden", refused, as_json=as_json)
            request.state.user = user
            request.state.session = session
            response = await endpoint(request)
            if auth.needs_refresh(session) and ADMIN_COOKIE.encode() not in b"".join(
                value for name, value in response.raw_headers if name == b"set-cookie"
            ):
                auth.set_cookie(response, request, session)
            return response

        return guarded

    return decorate


def _site_refusal(request: Request, user: User, answers_per_site: bool) -> str:
    """Why ``user`` may not have this route, or "" when it may."""
    site = request.path_params.get("site")
    if site is not None:
        if user.may_see(str(site)):
            return ""
        return "Your account does not reach this site; the site list shows the ones it does."
    if answers_per_site or user.all_sites:
        return ""
    return "This page covers every site; ask an admin of every site."
