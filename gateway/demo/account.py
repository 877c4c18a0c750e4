"""The demo's admin account: created on the first run, given a new password on every run.

The password is printed once and kept nowhere but in its argon2 hash, so a
newcomer can log in to the dashboard straight away, and an old terminal's
scrollback stops working at the next start.
"""

from __future__ import annotations

from gateway.admin import accounts
from gateway.admin.passwords import generate_password, hash_password
from gateway.audit import record_audit
from gateway.settings import Settings
from gateway.storage import storage_from_settings
from gateway.storage.migrator import migrate

DEMO_ADMIN = "admin@example.org"


def ensure_demo_admin(settings: Settings) -> tuple[str, str]:
    """Make sure :data:`DEMO_ADMIN` exists as an admin with a fresh password; return both."""
    storage = storage_from_settings(settings)
    migrate(storage)
    password = generate_password()
    digest = hash_password(password)
    existing = accounts.get_user(storage, DEMO_ADMIN)
    if existing is None:
        accounts.add_user(storage, DEMO_ADMIN, "admin", digest)
        record_audit(storage, "demo", "user.add", DEMO_ADMIN, detail="admin")
    else:
        accounts.set_password_hash(storage, DEMO_ADMIN, digest)
        if existing.role != "admin":
            accounts.set_role(storage, DEMO_ADMIN, "admin")
        record_audit(storage, "demo", "user.reset_password", DEMO_ADMIN)
    return DEMO_ADMIN, password
