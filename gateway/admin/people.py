"""Admin-only pages: the accounts, the audit log and the effective settings.

Account changes made here go through the same functions as
``consent-gateway user`` and are audited the same way, with the admin's
e-mail as the actor. A password reset shows a generated password once; it is
never stored or logged in clear. Accounts and settings are for admins of every
site; an admin of some sites reads the audit log of those sites only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin import accounts
from gateway.admin.auth import requires
from gateway.admin.exports import csv_response
from gateway.admin.passwords import generate_password, hash_password
from gateway.admin.rendering import render
from gateway.admin.services import admin_of
from gateway.audit import audit_entries, record_audit
from gateway.exceptions import CommandError
from gateway.settings import FIELDS, Settings
from gateway.site_scope import named_sites, split_sites
from gateway.sites import site_ids

AUDIT_PAGE = 100


async def users_page(
    request: Request,
    *,
    message: str = "",
    error: str = "",
    status: int = 200,
    shown_password: str = "",
) -> Response:
    storage = admin_of(request).storage
    users = await storage.run(lambda: accounts.list_users(storage))
    return render(
        request,
        "users.html",
        status_code=status,
        users=users,
        roles=accounts.ROLES,
        served=site_ids(admin_of(request).services.settings),
        message=message,
        error=error,
        shown_password=shown_password,
    )


async def users_get(request: Request) -> Response:
    return await users_page(request)


async def users_post(request: Request) -> Response:
    """One form endpoint for every account change: ``action`` says which."""
    auth = admin_of(request).auth
    storage = admin_of(request).storage
    form = await request.form()
    if not auth.form_is_genuine(request, request.state.session, str(form.get("csrf", ""))):
        return await users_page(request, error="The form had expired; try again.", status=403)
    actor = request.state.user.email
    ip = auth.client_ip(request)
    action = str(form.get("action", ""))
    shown = ""
    detail: str = ""
    served = site_ids(admin_of(request).services.settings)
    try:
        email = accounts.normalize_email(str(form.get("email", "")))
        sites = named_sites(split_sites(str(form.get("sites", ""))[:5000]), served)
        change: Callable[[], Any]
        if action == "add":
            role = accounts.check_role(str(form.get("role", "")))
            shown = generate_password()
            digest = hash_password(shown)
            change = lambda: accounts.add_user(storage, email, role, digest, sites)  # noqa: E731
            detail, said = _role_text(role, sites), f"Added {email} as {_role_text(role, sites)}."
        elif action == "set_sites":
            change = lambda: accounts.set_sites(storage, email, sites)  # noqa: E731
            detail = ",".join(sites) or "all sites"
            said = f"{email} now reaches {', '.join(sites) or 'every site'}."
        elif action == "set_role":
            role = accounts.check_role(str(form.get("role", "")))
            change = lambda: accounts.set_role(storage, email, role)  # noqa: E731
            detail, said = role, f"{email} is now {role}."
        elif action == "remove":
            if email == actor:
                raise CommandError("You cannot remove your own account here; ask another admin.")
            change = lambda: accounts.remove_user(storage, email)  # noqa: E731
            detail, said = "", f"Removed {email}."
        elif action == "reset_password":
            shown = generate_password()
            digest = hash_password(shown)
            change = lambda: accounts.set_password_hash(storage, email, digest)  # noqa: E731
            detail, said = "", f"Set a new password for {email}; their sessions have ended."
        else:
            raise CommandError(f"Unknown action {action!r}.")
        await storage.run(change)
    except CommandError as failure:
        error = str(failure)
        await storage.run(
            lambda: record_audit(
                storage,
                actor,
                f"user.{action}"[:40],
                str(form.get("email", "")),
                ip=ip,
                outcome="failed",
                detail=error,
            )
        )
        return await users_page(request, error=error, status=400)
    await storage.run(
        lambda: record_audit(storage, actor, f"user.{action}", email, ip=ip, detail=detail)
    )
    return await users_page(request, message=said, shown_password=shown)


def _role_text(role: str, sites: tuple[str, ...]) -> str:
    return f"{role} of {', '.join(sites)}" if sites else role


async def audit_page(request: Request) -> Response:
    storage = admin_of(request).storage
    sites = request.state.user.sites
    actor = request.query_params.get("actor", "")[:254]
    action = request.query_params.get("action", "")[:40]
    try:
        page = max(0, int(request.query_params.get("page", "0")))
    except ValueError:
        page = 0
    entries = await storage.run(
        lambda: audit_entries(
            storage,
            actor=actor,
            action=action,
            limit=AUDIT_PAGE + 1,
            offset=page * AUDIT_PAGE,
            sites=sites,
        )
    )
    return render(
        request,
        "audit.html",
        entries=entries[:AUDIT_PAGE],
        more=len(entries) > AUDIT_PAGE,
        page=page,
        actor=actor,
        action=action,
    )


async def audit_csv(request: Request) -> Response:
    auth = admin_of(request).auth
    storage = admin_of(request).storage
    user, ip = request.state.user, auth.client_ip(request)
    sites = user.sites
    entries = await storage.run(lambda: audit_entries(storage, limit=1_000_000, sites=sites))
    await storage.run(lambda: record_audit(storage, user.email, "export", "audit_log", ip=ip))
    header = ["time", "actor", "action", "target", "ip", "outcome", "detail"]
    rows = [
        [e.time.isoformat(), e.actor, e.action, e.target, e.ip, e.outcome, e.detail]
        for e in entries
    ]
    return csv_response("audit_log.csv", header, rows)


def _shown(attribute: str, value: Any) -> str:
    """A setting as the settings page shows it: secrets hidden, tuples joined."""
    if attribute == "secret_key":
        return f"({len(value)} key{'s' if len(value) != 1 else ''}, hidden)"
    if attribute == "clickhouse_dsn" and value:
        parts = urlsplit(str(value))
        return str(value).replace(f":{parts.password}@", ":***@", 1) if parts.password else value
    if isinstance(value, tuple):
        return ", ".join(str(item) if not isinstance(item, tuple) else "=".join(item)
                         for item in value)  # fmt: skip
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def settings_routes(settings: Settings) -> list[BaseRoute]:
    """The effective configuration, read-only, for admins (secrets never shown)."""

    async def settings_page(request: Request) -> Response:
        rows = [
            (item.env_name, _shown(item.attribute, getattr(settings, item.attribute, "")), item.doc)
            for item in FIELDS
            if hasattr(settings, item.attribute)
        ]
        return render(request, "settings.html", rows=rows)

    return [Route("/settings", requires("admin")(settings_page), methods=["GET"])]


def people_routes() -> list[BaseRoute]:
    admin, per_site = requires("admin"), requires("admin", answers_per_site=True)
    return [
        Route("/users", admin(users_get), methods=["GET"]),
        Route("/users", admin(users_post), methods=["POST"]),
        Route("/audit", per_site(audit_page), methods=["GET"]),
        Route("/audit.csv", per_site(audit_csv), methods=["GET"]),
    ]
