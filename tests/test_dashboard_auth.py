"""Dashboard accounts on a real gateway: login, roles, CSRF, throttling, idle logout, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.admin import accounts
from gateway.admin.auth import IDLE_SECONDS, LOGIN_PER_ACCOUNT, LOGIN_PER_NETWORK
from gateway.admin.headers import CSP
from gateway.admin.passwords import hash_password
from gateway.audit import audit_entries
from gateway.storage import Storage, storage_from_settings
from tests.admin_helpers import PASSWORD, ManualClock, add_account, csrf_of, login
from tests.conftest import TEST_KEY, make_settings
from tests.servers import run_gateway

ADMIN, VIEWER = "admin@example.org", "viewer@example.org"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def admin_site(demo_site: str, tmp_path: Path, clock: ManualClock) -> Iterator[tuple[str, Storage]]:
    """The admin listener's URL and the storage, with one admin and one viewer."""
    settings = make_settings(demo_site, tmp_path)
    with run_gateway(settings, clock=clock) as (_, admin):
        storage = storage_from_settings(settings)
        add_account(storage, ADMIN, "admin")
        add_account(storage, VIEWER, "viewer")
        yield admin, storage


def test_anonymous_visitors_are_sent_to_login_and_every_answer_has_the_headers(
    admin_site: tuple[str, Storage],
) -> None:
    admin, _ = admin_site
    for path in ("/", "/sites/x", "/users", "/audit", "/audit.csv", "/sites/x/export/top.csv"):
        answer = httpx.get(admin + path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    for path in ("/login", "/static/admin.css", "/nowhere", "/users"):
        headers = httpx.get(admin + path).headers
        assert headers["content-security-policy"] == CSP
        assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    assert httpx.get(admin + "/login").headers["cache-control"] == "no-store"


def test_login_and_logout_are_audited_with_the_network_only(
    admin_site: tuple[str, Storage],
) -> None:
    admin, storage = admin_site
    _, wrong = login(admin, ADMIN, "not the password at all")
    assert wrong.status_code == 401
    assert "Wrong e-mail address or password." in wrong.text
    _, unknown = login(admin, "nobody@example.org")
    assert unknown.status_code == 401
    client, right = login(admin, ADMIN)
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert "cg_admin=" in right.headers["set-cookie"]
    assert "HttpOnly" in right.headers["set-cookie"]
    assert client.get("/users").status_code == 200
    logout = client.post("/logout", data={"csrf": csrf_of(client.get("/users").text)})
    assert logout.status_code == 303
    assert client.get("/users").status_code == 303  # logged out
    entries = audit_entries(storage)
    seen = [(e.actor, e.action, e.target, e.outcome, e.ip) for e in reversed(entries)]
    assert seen == [
        (ADMIN, "login", ADMIN, "failed", "127.0.0.0"),
        ("nobody@example.org", "login", "nobody@example.org", "failed", "127.0.0.0"),
        (ADMIN, "login", ADMIN, "ok", "127.0.0.0"),
        (ADMIN, "logout", ADMIN, "ok", "127.0.0.0"),
    ]


def test_a_viewer_sees_statistics_but_no_admin_page(admin_site: tuple[str, Storage]) -> None:
    admin, storage = admin_site
    client, answer = login(admin, VIEWER)
    assert answer.status_code == 303
    page = client.get("/sites/example")
    assert page.status_code == 200
    assert 'href="/users"' not in page.text and 'href="/audit"' not in page.text
    assert "export/" not in page.text  # exports are an admin right
    for path in ("/users", "/audit", "/audit.csv", "/settings", "/sites/example/export/pages.csv"):
        assert client.get(path).status_code == 403, path
    token = csrf_of(page.text)
    forbidden = client.post(
        "/users", data={"csrf": token, "action": "add", "email": "x@example.org", "role": "admin"}
    )
    assert forbidden.status_code == 403
    assert accounts.get_user(storage, "x@example.org") is None


def test_forms_without_the_right_token_or_from_another_site_change_nothing(
    admin_site: tuple[str, Storage],
) -> None:
    admin, storage = admin_site
    bare = httpx.post(admin + "/login", data={"email": ADMIN, "password": PASSWORD})
    assert bare.status_code == 403
    assert "cg_admin=" in bare.headers["set-cookie"]  # a fresh form's cookie, to try again
    client, _ = login(admin, ADMIN)
    add = {"action": "add", "email": "new@example.org", "role": "admin"}
    assert client.post("/users", data={**add, "csrf": "forged"}).status_code == 403
    token = csrf_of(client.get("/users").text)
    cross = client.post(
        "/users", data={**add, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    other_origin = client.post(
        "/users", data={**add, "csrf": token}, headers={"Origin": "http://evil.example"}
    )
    assert other_origin.status_code == 403
    assert accounts.get_user(storage, "new@example.org") is None
    # What a browser sends under Referrer-Policy: no-referrer: Origin null, same-origin fetch.
    browser_like = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert (
        client.post("/users", data={**add, "csrf": "forged"}, headers=browser_like).status_code
        == 403
    )
    client.post("/logout", data={"csrf": "forged"})
    assert client.get("/users").status_code == 200  # a forged logout did nothing
    assert (
        client.post("/users", data={**add, "csrf": token}, headers=browser_like).status_code == 200
    )
    assert accounts.get_user(storage, "new@example.org") is not None

    # A POST to /login without the right token, even from another site, ends no session.
    guess = {"email": "mallory@example.org", "password": "guessed"}
    refused = None
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}, {}):
        refused = client.post("/login", data={**guess, "csrf": "forged"}, headers=headers)
        assert refused.status_code == 403
        assert "set-cookie" not in refused.headers, headers  # the admin's cookie stays
        assert client.get("/users").status_code == 200
    # The same hostile POST without the cookie (a browser holds SameSite=Lax back from
    # another site): still no cookie, so none can replace the one the browser keeps.
    cross = httpx.post(admin + "/login", data=guess, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    # The refused page carries the session's own token, and a wrong password typed into
    # it fails without ending the session either.
    assert refused is not None
    wrong = client.post(
        "/login", data={"csrf": csrf_of(refused.text), "email": ADMIN, "password": "wrong one"}
    )
    assert wrong.status_code == 401
    assert client.get("/users").status_code == 200


def test_login_is_throttled_per_account_then_per_network(
    admin_site: tuple[str, Storage], clock: ManualClock
) -> None:
    admin, storage = admin_site
    for _ in range(LOGIN_PER_ACCOUNT.count):
        assert login(admin, ADMIN, "wrong wrong wrong")[1].status_code == 401
    _, refused = login(admin, ADMIN)  # even the right password waits
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert audit_entries(storage, action="login")[0].outcome == "throttled"
    assert login(admin, VIEWER)[1].status_code == 303  # another account is not locked
    clock.advance(LOGIN_PER_ACCOUNT.period)
    assert login(admin, ADMIN)[1].status_code == 303
    # Spraying many accounts from one network hits the network's limit (one attempt,
    # the login just above, is already spent in this window).
    answers = [
        login(admin, f"guess{n}@example.org", "nope nope nope")[1].status_code
        for n in range(LOGIN_PER_NETWORK.count)
    ]
    assert answers[-1] == 429 and set(answers[:-1]) == {401}


def test_idle_sessions_end_after_thirty_minutes_busy_ones_do_not(
    admin_site: tuple[str, Storage], clock: ManualClock
) -> None:
    admin, _ = admin_site
    client, _ = login(admin, ADMIN)
    for _ in range(4):  # two hours of steady work, a request every 25 minutes
        clock.advance(25 * 60)
        assert client.get("/users").status_code == 200
    clock.advance(IDLE_SECONDS + 1)
    answer = client.get("/users")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fusers"


def test_a_new_password_or_a_removal_ends_open_sessions(admin_site: tuple[str, Storage]) -> None:
    admin, storage = admin_site
    viewer, _ = login(admin, VIEWER)
    assert viewer.get("/sites/example").status_code == 200
    accounts.set_password_hash(storage, VIEWER, hash_password("another long password"))
    assert viewer.get("/sites/example").status_code == 303
    viewer, _ = login(admin, VIEWER, "another long password")
    assert viewer.get("/sites/example").status_code == 200
    accounts.remove_user(storage, VIEWER)
    assert viewer.get("/sites/example").status_code == 303


def test_admins_manage_accounts_from_the_users_page(admin_site: tuple[str, Storage]) -> None:
    admin, storage = admin_site
    client, _ = login(admin, ADMIN)

    def act(**form: str) -> httpx.Response:
        return client.post("/users", data={"csrf": csrf_of(client.get("/users").text), **form})

    added = act(action="add", email="Mia@Example.org", role="viewer")
    assert "Added mia@example.org as viewer." in added.text
    one_time = added.text.split('id="one-time-password">')[1].split("<")[0]
    assert login(admin, "mia@example.org", one_time)[1].status_code == 303
    assert (
        "mia@example.org is now admin."
        in act(action="set_role", email="mia@example.org", role="admin").text
    )
    refused = act(action="remove", email=ADMIN)
    assert refused.status_code == 400 and "your own account" in refused.text
    assert "Removed mia@example.org." in act(action="remove", email="mia@example.org").text
    bad = act(action="add", email="not an address", role="viewer")
    assert bad.status_code == 400
    actions = [(e.action, e.target, e.outcome) for e in reversed(audit_entries(storage))]
    assert actions[-7:] == [
        ("login", ADMIN, "ok"),
        ("user.add", "mia@example.org", "ok"),
        ("login", "mia@example.org", "ok"),
        ("user.set_role", "mia@example.org", "ok"),
        ("user.remove", ADMIN, "failed"),
        ("user.remove", "mia@example.org", "ok"),
        ("user.add", "not an address", "failed"),
    ]


def test_admins_read_the_settings_without_secrets(admin_site: tuple[str, Storage]) -> None:
    admin, _ = admin_site
    client, _ = login(admin, ADMIN)
    page = client.get("/settings")
    assert page.status_code == 200
    assert "CG_UPSTREAM" in page.text and "CG_STATS_MIN_VISITORS" in page.text
    assert TEST_KEY not in page.text and "(1 key, hidden)" in page.text
