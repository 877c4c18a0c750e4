"""Helpers for the dashboard tests: accounts, a movable clock, a logged-in HTTP client."""

from __future__ import annotations

import re
import time

import httpx

from gateway.admin import accounts
from gateway.admin.passwords import hash_password
from gateway.storage import Storage

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ManualClock:
    """A clock the test moves by hand (starting now, so stored rows stay in range)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def add_account(storage: Storage, email: str, role: accounts.Role) -> None:
    accounts.add_user(storage, email, role, hash_password(PASSWORD))


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on ``page``."""
    found = _CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(admin: str, email: str, password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    """A client on the admin listener after a login attempt, and the login's answer."""
    # An operator's erasure rewrites the visitor's parts while the page waits: seconds on
    # a loaded machine, past httpx's default 5 s.
    client = httpx.Client(base_url=admin, timeout=60)
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "email": email, "password": password, "next": "/"},
    )
    return client, answer
