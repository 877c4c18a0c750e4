"""The cookies that common school and training platforms need to work, by framework.

Data only: one entry per framework, with the page of its own documentation that
names the cookies, so each rule can be checked against its source. The list is
one layer of :mod:`gateway.consent.cookie_rules`, below the operator's rules and
above the lists of trackers, so a visitor who rejected everything can still log
in, post a form, read a flash message and switch language.

A name is exact, ``prefix*`` or ``*suffix``. Session, CSRF, login and load
balancer cookies are ``necessary``. So is a language a visitor picked: a cookie
that only remembers a choice the visitor made on the page is exempt from
consent (Article 29 Working Party, Opinion 04/2012, section 3.6). Conveniences
a site works without (a remembered user name, a "recently viewed" list) are
``preferences``; attribution cookies are ``analytics``.
"""

from __future__ import annotations

from typing import NamedTuple

NECESSARY = "necessary"
PREFERENCES = "preferences"
ANALYTICS = "analytics"


class Framework(NamedTuple):
    """One framework's cookies, as its documentation names them."""

    name: str
    docs: str
    cookies: tuple[tuple[str, str], ...]


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "Django",
        "https://docs.djangoproject.com/en/stable/ref/settings/#sessions",
        (
            ("sessionid", NECESSARY),  # SESSION_COOKIE_NAME
            ("csrftoken", NECESSARY),  # CSRF_COOKIE_NAME
            # contrib.messages' CookieStorage: "was added successfully" and the like
            ("messages", NECESSARY),
            ("django_language", NECESSARY),  # LANGUAGE_COOKIE_NAME, set by set_language
            ("django_timezone", NECESSARY),
        ),
    ),
    Framework(
        "WordPress",
        "https://developer.wordpress.org/advanced-administration/wordpress/cookies/",
        (
            ("wordpress_*", NECESSARY),  # wordpress_[hash], _logged_in_, _sec_, _test_cookie
            ("wp-postpass_*", NECESSARY),  # a password-protected post, unlocked
            ("wp_lang", NECESSARY),  # the language picked on the login screen
            ("wp-settings-*", PREFERENCES),  # the dashboard's layout, per user
            ("comment_author_*", PREFERENCES),  # "save my name for the next comment"
        ),
    ),
    Framework(
        "WooCommerce",
        "https://woocommerce.com/document/woocommerce-cookies/",
        (
            ("woocommerce_cart_hash", NECESSARY),
            ("woocommerce_items_in_cart", NECESSARY),
            ("wp_woocommerce_session_*", NECESSARY),
            ("woocommerce_recently_viewed", PREFERENCES),
            ("store_notice*", PREFERENCES),  # a dismissed store notice
            ("sbjs_*", ANALYTICS),  # order attribution (Sourcebuster)
        ),
    ),
    Framework(
        "Moodle",
        "https://docs.moodle.org/en/Cookies",
        (
            ("MoodleSession*", NECESSARY),  # MoodleSession plus $CFG->sessioncookie, and Test
            ("MOODLEID1_*", PREFERENCES),  # "remember username"
        ),
    ),
    Framework(
        "Laravel",
        "https://laravel.com/docs/session#configuration",
        (
            ("laravel_session", NECESSARY),
            ("*_session", NECESSARY),  # SESSION_COOKIE: Str::slug(APP_NAME)."_session"
            ("XSRF-TOKEN", NECESSARY),  # https://laravel.com/docs/csrf#csrf-x-xsrf-token
            ("remember_web_*", NECESSARY),  # "remember me", asked for at login
        ),
    ),
    Framework(
        "Rails",
        "https://guides.rubyonrails.org/security.html#sessions",
        (
            ("_session_id", NECESSARY),
            # "*_session" (Laravel) covers the default cookie store's _<app>_session.
            ("remember_user_token", NECESSARY),  # Devise's "remember me"
        ),
    ),
    Framework(
        "Express",
        "https://expressjs.com/en/resources/middleware/session.html",
        (
            ("connect.sid", NECESSARY),  # express-session
            ("session", NECESSARY),  # cookie-session
            ("session.sig", NECESSARY),
            ("_csrf", NECESSARY),  # csurf
        ),
    ),
    Framework(
        "ASP.NET",
        "https://learn.microsoft.com/en-us/aspnet/core/security/gdpr",
        (
            ("ASP.NET_SessionId", NECESSARY),
            (".AspNetCore.*", NECESSARY),  # Session, Antiforgery, Identity, Culture
            (".ASPXAUTH", NECESSARY),  # forms authentication
            ("__RequestVerificationToken*", NECESSARY),
            ("ARRAffinity", NECESSARY),  # Azure App Service's sticky sessions
            ("ARRAffinitySameSite", NECESSARY),
        ),
    ),
    Framework(
        "PHP",
        "https://www.php.net/manual/en/session.configuration.php#ini.session.name",
        (("PHPSESSID", NECESSARY),),
    ),
    Framework(
        "Java servlets",
        "https://jakarta.ee/specifications/servlet/6.0/",  # section 7.1.1, Cookies
        (("JSESSIONID", NECESSARY),),
    ),
    Framework(
        "Drupal",
        "https://api.drupal.org/api/drupal/core%21lib%21Drupal%21Core%21Session%21SessionConfiguration.php/class/SessionConfiguration",
        (
            ("SESS*", NECESSARY),  # SESS<hash> over http
            ("SSESS*", NECESSARY),  # SSESS<hash> over https
            ("Drupal.visitor.*", PREFERENCES),  # a contact form's remembered name
        ),
    ),
    Framework(
        "Joomla",
        "https://docs.joomla.org/Cookies",
        (
            # The session cookie's name is a per-site hash: name it in CG_COOKIE_RULES.
            ("joomla_user_state", NECESSARY),
            ("joomla_remember_me_*", NECESSARY),
        ),
    ),
    Framework(
        "Canvas LMS",
        "https://github.com/instructure/canvas-lms/blob/master/config/session_store.yml.example",
        (
            ("canvas_session", NECESSARY),
            ("_normandy_session", NECESSARY),
            ("_legacy_normandy_session", NECESSARY),
            ("log_session_id", NECESSARY),
            ("_csrf_token", NECESSARY),
        ),
    ),
)

FRAMEWORK_RULES: tuple[tuple[str, str], ...] = tuple(
    rule for framework in FRAMEWORKS for rule in framework.cookies
)
"""Every framework's cookies as one list of ``(pattern, category)`` rules."""
