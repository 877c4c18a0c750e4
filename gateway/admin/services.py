"""What every admin handler may use, typed: the process's services and the sign-in rules.

The admin app's front door puts one :class:`Admin` in each request's scope;
handlers read it with :func:`admin_of`, never attributes stuck onto ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from starlette.requests import Request

from gateway.services import Services
from gateway.storage import Storage

if TYPE_CHECKING:
    from gateway.admin.auth import Auth

SCOPE_KEY = "gateway.admin"


@dataclass(frozen=True)
class Admin:
    """The admin listener's view of the process: its services and its :class:`Auth`."""

    services: Services
    auth: Auth

    @property
    def storage(self) -> Storage:
        return self.services.storage


def admin_of(request: Request) -> Admin:
    """The :class:`Admin` of the listener serving ``request``."""
    return cast(Admin, request.scope[SCOPE_KEY])
