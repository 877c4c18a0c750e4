"""A stock Django project for tests/test_django_site.py: admin, sessions, CSRF, messages, i18n.

It is what a school's web team would run: nothing in it knows about the gateway,
except the settings docs/sites.md asks a Django site for (``ALLOWED_HOSTS`` with
the public name). The test runs it with ``python -m django runserver`` in a
process of its own, on a SQLite file in the test's temporary folder.
"""
