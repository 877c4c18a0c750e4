"""The dashboard's marketing panels (goals, custom events, downloads, broken links,
funnels) and the admins' goal and funnel management.

The panels answer the same view (range and filters) as the rest of the dashboard,
under the k rule of :mod:`gateway.stats.conversions`. Adding or removing a goal or
a funnel is a form post with the session's CSRF token, written to the audit log
either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import requires
from gateway.admin.services import admin_of
from gateway.audit import record_audit
from gateway.exceptions import BadStatsQuery
from gateway.settings import Settings
from gateway.stats.conversions import (
    broken_links,
    custom_events,
    downloads,
    event_prop_keys,
    event_props,
    goal_figures,
)
from gateway.stats.funnels import Funnel, add_funnel, funnel_figures, list_funnels, remove_funnel
from gateway.stats.goals import StoredGoal, add_goal, list_goals, remove_goal
from gateway.stats.query import StatsQuery
from gateway.storage import Storage

ROWS = 10


@dataclass
class Marketing:
    """The marketing panels of one view."""

    goals: list[StoredGoal]
    goal_rows: list[dict[str, Any]]
    events: list[dict[str, Any]]
    downloads: list[dict[str, Any]]
    broken_links: list[dict[str, Any]]
    funnels: list[tuple[Funnel, list[dict[str, Any]]]]
    event: str = ""  # the custom event broken down by one of its props
    props: list[str] = field(default_factory=list)  # its props (each sent by k visitors)
    prop: str = ""
    prop_rows: list[dict[str, Any]] = field(default_factory=list)


def read_marketing(
    storage: Storage, q: StatsQuery, k: int, event: str = "", prop: str = ""
) -> Marketing:
    """Every marketing panel for ``q``, with custom event ``event`` broken down by its
    prop ``prop`` (the first it has when not one of them); blocking: run it through
    ``storage.run``."""
    goals = list_goals(storage, q.site)
    rows = goal_figures(storage, q, [stored.goal for stored in goals], k=k)
    for stored, row in zip(goals, rows, strict=True):
        row["id"] = stored.id
    found = Marketing(
        goals=goals,
        goal_rows=rows,
        events=custom_events(storage, q, k=k, limit=ROWS),
        downloads=downloads(storage, q, k=k, limit=ROWS),
        broken_links=broken_links(storage, q, k=k, limit=ROWS),
        funnels=[
            (funnel, funnel_figures(storage, q, funnel.steps, k=k, funnel_id=funnel.id))
            for funnel in list_funnels(storage, q.site)
        ],
    )
    if event:
        found.event = event
        found.props = event_prop_keys(storage, q, event, k=k)
        found.prop = prop if prop in found.props else (found.props or [""])[0]
        if found.prop:
            found.prop_rows = event_props(storage, q, event, found.prop, k=k, limit=ROWS)
    return found


async def load_marketing(
    storage: Storage, q: StatsQuery, k: int, event: str = "", prop: str = ""
) -> Marketing:
    """:func:`read_marketing` off the event loop."""
    return await storage.run(functools.partial(read_marketing, storage, q, k, event, prop))


Change = Callable[[Storage, str, str], Any]  # (storage, site, what the form says) -> done


async def audited_change(
    request: Request,
    kind: str,
    add: Change,
    remove: Change,
    text: str,
    *,
    site: str | None = None,
    back: str | None = None,
) -> Response:
    """Add (``text``) or remove (the form's ``remove``: an id) a goal, funnel, annotation
    or report list of ``site`` (the path's, by default); audited as ``KIND.add`` or
    ``KIND.remove``, failures too; then back to ``back`` (the form's dashboard view)."""
    auth = admin_of(request).auth
    storage = admin_of(request).storage
    site = request.path_params["site"] if site is None else site
    form = await request.form()
    if back is None:
        back = f"/sites/{site}?" + str(form.get("back", ""))[:2000] + f"#panel-{kind}s"
    if not auth.form_is_genuine(request, request.state.session, str(form.get("csrf", ""))):
        return Response("The form had expired; go back and try again.", status_code=403)
    actor, ip = request.state.user.email, auth.client_ip(request)
    removing = str(form.get("remove", ""))[:40]
    action = f"{kind}.remove" if removing else f"{kind}.add"
    change, argument = (remove, removing) if removing else (add, text)
    try:
        done = await storage.run(lambda: change(storage, site, argument))
    except BadStatsQuery as error:
        failure = str(error)
        target = f"{site}/{argument.splitlines()[0] if argument else ''}"
        await storage.run(
            lambda: record_audit(
                storage, actor, action, target, ip=ip, outcome="failed", detail=failure
            )
        )
        return Response(failure, status_code=400)
    await storage.run(lambda: record_audit(storage, actor, action, f"{site}/{done.name}", ip=ip))
    return RedirectResponse(back, status_code=303)


def goal_routes(settings: Settings) -> list[BaseRoute]:
    """``POST /sites/{site}/goals`` and ``/funnels``: add or remove (``remove``: an id)."""

    async def goals(request: Request) -> Response:
        actor = request.state.user.email
        written = str((await request.form()).get("goal", ""))[:600]
        return await audited_change(
            request,
            "goal",
            lambda storage, site, text: add_goal(storage, site, text, actor),
            remove_goal,
            written,
        )

    async def funnels(request: Request) -> Response:
        actor = request.state.user.email
        form = await request.form()
        # The name on the first line, the steps after it.
        text = str(form.get("name", ""))[:200] + "\n" + str(form.get("steps", ""))[:5000]

        def add(storage: Storage, site: str, text: str) -> Funnel:
            name, *steps = text.splitlines()
            return add_funnel(storage, site, name, steps, actor)

        return await audited_change(
            request,
            "funnel",
            add,
            lambda storage, site, funnel_id: remove_funnel(storage, site, funnel_id, actor),
            text,
        )

    del settings
    return [
        Route("/sites/{site}/goals", requires("admin")(goals), methods=["POST"]),
        Route("/sites/{site}/funnels", requires("admin")(funnels), methods=["POST"]),
    ]
