"""A stock Django site behind the gateway, used in headless Chromium as three visitors would.

The site (tests/django_site/) runs in a process of its own under Django's own
server, with the admin, sessions, CSRF, messages and two languages; the gateway
runs with its defaults in front. Each visitor, whatever they chose in the banner
(nothing, reject all, accept all), logs in to /admin/, adds a group, reads
Django's "was added successfully", switches to French and logs out: Django's
CSRF origin check sees its public Host, and its session, CSRF, messages and
language cookies are the necessary ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_settings
from tests.servers import free_port, run_gateway

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "head", "correct horse battery staple"


def django_env(folder: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.django_site.settings",
        "DJANGO_SITE_DB": str(folder / "db.sqlite3"),
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", *args], env=env, check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def django_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Django project on a free loopback port: migrated, with a superuser."""
    folder = tmp_path_factory.mktemp("django")
    env = django_env(folder)
    manage(env, "migrate", "--noinput")
    manage(env, "createsuperuser", "--noinput", "--username", USER, "--email", "head@school.test")
    port = free_port()
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", "--noreload", "--insecure", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url + "/", timeout=2)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((folder / "server.log").read_text()) from None
                    time.sleep(0.1)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=15)


@pytest.fixture(scope="module")
def site(django_site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway, with its defaults, in front of the Django site."""
    settings = make_settings(django_site, tmp_path_factory.mktemp("django-gateway"))
    with run_gateway(settings) as (public, _admin):
        yield public


@pytest.mark.parametrize("choice", ["no choice", "Reject all", "Accept all"])
def test_a_visitor_logs_in_adds_a_group_switches_language_and_logs_out(
    page: Page, page_errors: list[str], site: str, choice: str
) -> None:
    page.goto(site + "/")
    banner = page.locator(".cg")
    expect(banner).to_be_visible()
    if choice != "no choice":
        banner.get_by_role("button", name=choice, exact=True).click()
        expect(banner).to_be_hidden()

    page.goto(site + "/admin/")
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    page.goto(site + "/admin/auth/group/add/")
    page.fill("#id_name", f"Year 7 ({choice})")
    page.press("#id_name", "Enter")  # the form's first button, "Save", which the banner may cover
    expect(page.locator(".messagelist")).to_contain_text(
        f"The group “Year 7 ({choice})” was added successfully."
    )

    page.goto(site + "/")
    page.select_option("#language", "fr")
    page.get_by_role("button", name="Change").click()
    page.wait_for_url(site + "/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Site d\u2019administration")).to_be_visible()

    page.locator("#logout-form button").click()
    expect(page.get_by_role("link", name="Connectez-vous à nouveau")).to_be_visible()
    page.goto(site + "/admin/")
    assert "/admin/login/" in page.url
    assert page_errors == []
