"""The admin listener: dashboard, stats API and operations, never on the public port."""

from gateway.admin.app import create_admin_app

__all__ = ["create_admin_app"]
