"""The built-in framework cookies: each from its framework's documentation, all a site needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.consent.cookie_rules import CookieClassifier
from gateway.consent.framework_cookies import FRAMEWORKS

DEFAULTS = CookieClassifier((), "marketing")


def test_every_framework_names_its_documentation_and_known_categories() -> None:
    names = [framework.name for framework in FRAMEWORKS]
    assert len(names) == len(set(names))
    for framework in FRAMEWORKS:
        assert framework.docs.startswith("https://"), framework.name
        assert framework.cookies, framework.name
        for pattern, category in framework.cookies:
            assert category in {"necessary", "preferences", "analytics"}, pattern
            assert pattern.strip("*") and "*" not in pattern.strip("*"), pattern


@pytest.mark.parametrize(
    ("name", "category"),
    [
        # Django: log in, post a form, read a flash message, switch language.
        ("sessionid", "necessary"),
        ("csrftoken", "necessary"),
        ("messages", "necessary"),
        ("django_language", "necessary"),
        ("wordpress_logged_in_0123abcd", "necessary"),
        ("wordpress_test_cookie", "necessary"),
        ("wp-settings-1", "preferences"),
        ("wp-settings-time-1", "preferences"),
        ("wp_woocommerce_session_0123abcd", "necessary"),
        ("woocommerce_cart_hash", "necessary"),
        ("sbjs_first", "analytics"),
        ("MoodleSession", "necessary"),
        ("MoodleSessionschool", "necessary"),
        ("MOODLEID1_", "preferences"),
        ("laravel_session", "necessary"),
        ("st_marys_school_session", "necessary"),  # Laravel's APP_NAME slug
        ("XSRF-TOKEN", "necessary"),
        ("_timetable_session", "necessary"),  # Rails' cookie store
        ("connect.sid", "necessary"),
        ("ASP.NET_SessionId", "necessary"),
        (".AspNetCore.Antiforgery.x1", "necessary"),
        ("PHPSESSID", "necessary"),
        ("SSESS0123456789abcdef", "necessary"),  # Drupal over https
        ("joomla_user_state", "necessary"),
        ("canvas_session", "necessary"),
        ("_csrf_token", "necessary"),
        # Trackers keep their categories, and the unknown stays the strictest.
        ("_ga", "analytics"),
        ("_fbp", "marketing"),
        ("some_unknown_cookie", "marketing"),
    ],
)
def test_the_defaults_classify_framework_cookies(name: str, category: str) -> None:
    assert DEFAULTS.category(name) == category


def test_the_operators_rules_come_before_the_frameworks() -> None:
    rules = CookieClassifier([("messages", "preferences"), ("*_session", "analytics")], "marketing")
    assert rules.category("messages") == "preferences"
    assert rules.category("my_session") == "analytics"
    assert rules.category("sessionid") == "necessary"  # the framework layer, below


def test_docs_sites_lists_every_framework_cookie() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "sites.md").read_text()
    for framework in FRAMEWORKS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {framework.name} |"))
        for pattern, _category in framework.cookies:
            assert f"`{pattern}`" in row, (framework.name, pattern)
