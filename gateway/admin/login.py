"""The login and logout forms of the dashboard; every attempt goes to the audit log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin import accounts
from gateway.admin.auth import Session, safe_next
from gateway.admin.passwords import hash_password, needs_rehash, verify
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.audit import record_audit
from gateway.exceptions import CommandError
from gateway.ratelimit import retry_after_seconds


def _page(
    request: Request,
    session: Session,
    *,
    error: str = "",
    status: int = 200,
    email: str = "",
    set_cookie: bool = True,
) -> Response:
    request.state.session = session
    response = render(
        request,
        "login.html",
        status_code=status,
        error=error,
        email=email,
        next=safe_next(request.query_params.get("next")),
    )
    if set_cookie:
        admin_of(request).auth.set_cookie(response, request, session)
    return response


def _refused(request: Request, session: Session | None, typed: str) -> Response:
    """The answer to a form without a valid token: it must not end anyone's session.

    A valid session (signed in or not) stays as it is, and its token goes into the
    form so that trying again works. Without one, a fresh anonymous cookie is set
    only when the browser says the form came from our own pages: a cross-site POST
    (or one whose SameSite cookie the browser held back) would otherwise replace a
    signed-in admin's cookie.
    """
    auth = admin_of(request).auth
    fresh = session is None and auth.same_origin(request)
    return _page(
        request,
        session or auth.anonymous(),
        error="The form had expired or came from elsewhere; please try again.",
        status=403,
        email=typed,
        set_cookie=fresh,
    )


async def login_form(request: Request) -> Response:
    auth = admin_of(request).auth
    session = auth.read(request)
    storage = admin_of(request).storage
    if await auth.user_for(storage, session) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _page(request, session if session and not session.email else auth.anonymous())


async def login(request: Request) -> Response:
    auth = admin_of(request).auth
    storage = admin_of(request).storage
    session = auth.read(request)
    form = await request.form()
    typed = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))
    ip = auth.client_ip(request)
    if not auth.form_is_genuine(request, session, str(form.get("csrf", ""))):
        return _refused(request, session, typed)
    assert session is not None
    try:
        email = accounts.normalize_email(typed)
    except CommandError:
        email = ""
    target = email or "(not an e-mail address)"
    wait = auth.login_wait(email, ip)
    if wait > 0:
        await storage.run(
            lambda: record_audit(storage, email or "-", "login", target, ip=ip, outcome="throttled")
        )
        response = _page(
            request,
            session,
            error=f"Too many attempts; try again in {retry_after_seconds(wait)} seconds.",
            status=429,
            email=typed,
        )
        response.headers["Retry-After"] = str(retry_after_seconds(wait))
        return response
    user = await storage.run(lambda: accounts.get_user(storage, email)) if email else None
    stored = user.password_hash if user else None
    if not await storage.run(lambda: verify(stored, password)) or user is None:
        await storage.run(
            lambda: record_audit(storage, email or "-", "login", target, ip=ip, outcome="failed")
        )
        return _page(
            request, session, error="Wrong e-mail address or password.", status=401, email=typed
        )
    account = user
    if needs_rehash(account.password_hash):  # parameters grew stronger since it was set
        fresh = hash_password(password)
        account = await storage.run(
            lambda: accounts.set_password_hash(storage, account.email, fresh)
        )
    await storage.run(lambda: record_audit(storage, account.email, "login", account.email, ip=ip))
    response = RedirectResponse(safe_next(str(form.get("next", "/"))), status_code=303)
    auth.set_cookie(response, request, auth.logged_in(account))
    return response


async def logout(request: Request) -> Response:
    auth = admin_of(request).auth
    storage = admin_of(request).storage
    session = auth.read(request)
    form = await request.form()
    response = RedirectResponse("/login", status_code=303)
    if not auth.form_is_genuine(request, session, str(form.get("csrf", ""))):
        return response  # a forged logout changes nothing
    user = await auth.user_for(storage, session)
    if user is not None:
        ip = auth.client_ip(request)
        await storage.run(lambda: record_audit(storage, user.email, "logout", user.email, ip=ip))
    auth.set_cookie(response, request, auth.anonymous())
    return response


def login_routes() -> list[BaseRoute]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
