"""The consent API of the public contract, and the GPC well-known resource.

    GET    /_consent/state   the visitor's categories, revision, must_show (and why), csrf
    POST   /_consent/state   {"action": "accept_all"} | {"action": "reject_all"}
                             | {"action": "object"}: refuse what runs without asking
                               (the categories an opt-out regime grants by default)
                             | {"categories": {"analytics": true, ...}}
                             | {"services": {"youtube": true}}: always allow an embed's
                               provider, kept with the categories as ``service:youtube``
    DELETE /_consent/state   withdraw: everything but necessary, effective on the next request
    GET    /.well-known/gpc.json

Rejecting is exactly as easy as accepting: one request of the same shape.
State-changing requests need the same-origin check and the CSRF token (see
``csrf.py``). A withdrawal is kept as a choice of "necessary only", so the
visitor is not asked again on the next page, and every cookie of a category no
longer granted is deleted in the same response. Every choice is appended to the
consent log, and every outcome (a banner that must show included) counted in
``consent_counts`` (see ``log.py``), both with the regime that applied to the
visitor (``regime_label``). ``GET`` also says which categories run without asking
(``opt_out``), for the banner's first layer and its Object button.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.consent.csrf import CsrfTokens, same_origin
from gateway.consent.enforcement import CookieEnforcer
from gateway.consent.log import ConsentLog
from gateway.consent.state import (
    CONSENT_COOKIE,
    NECESSARY,
    ConsentPolicy,
    ConsentState,
    regime_label,
)
from gateway.consent.third_parties import EMBED_SERVICES, SERVICE_PREFIX
from gateway.context import RequestContext
from gateway.cookies import set_cookie_header
from gateway.errors import error_response
from gateway.json_body import parse_json

MAX_CHOICE_BYTES = 4096
GPC_SUPPORT_SINCE = "2026-11-22"
NO_STORE = {"Cache-Control": "no-store"}


class ChoiceError(ValueError):
    """A consent request body the API cannot accept; the message names the problem."""


def parse_choice(body: bytes, categories: tuple[str, ...]) -> tuple[str, set[str], dict[str, bool]]:
    """The action (``accept_all``, ``reject_all``, ``object`` or ``custom``, which a services
    choice is too), the categories a POST body grants and the services it allows or refuses, or
    :class:`ChoiceError` naming what is wrong (and
    :class:`~gateway.exceptions.JsonTooDeep` for a body nested past the bound)."""
    try:
        data = parse_json(body)
    except (ValueError, UnicodeDecodeError):
        raise ChoiceError("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise ChoiceError("The body must be a JSON object.")
    unknown = sorted(set(data) - {"action", "categories", "services"})
    if unknown:
        raise ChoiceError(
            f"Unknown field {unknown[0]!r}: send 'action', 'categories' or 'services'."
        )
    if len(set(data) & {"action", "categories", "services"}) != 1:
        raise ChoiceError("Send exactly one of 'action', 'categories' and 'services'.")
    if "services" in data:
        return "custom", set(), parse_services(data["services"])
    if "action" in data:
        if data["action"] == "accept_all":
            return "accept_all", set(categories), {}
        if data["action"] == "reject_all":
            return "reject_all", set(), {}
        if data["action"] == "object":
            return "object", set(), {}  # the API knows what the visitor objects to
        raise ChoiceError("'action' must be 'accept_all', 'reject_all' or 'object'.")
    chosen = data["categories"]
    if not isinstance(chosen, dict):
        raise ChoiceError("'categories' must be an object of category names to true or false.")
    granted = set()
    for name, value in chosen.items():
        if name not in categories and name != NECESSARY:
            raise ChoiceError(f"Unknown category {name!r} in 'categories'.")
        if not isinstance(value, bool):
            raise ChoiceError(f"'categories.{name}' must be true or false.")
        if name == NECESSARY and not value:
            raise ChoiceError("'categories.necessary' cannot be refused: the site needs it.")
        if value and name != NECESSARY:
            granted.add(name)
    return "custom", granted, {}


def parse_services(chosen: object) -> dict[str, bool]:
    """The services a ``{"services": {...}}`` body allows (true) or refuses (false)."""
    if not isinstance(chosen, dict) or not chosen:
        raise ChoiceError("'services' must be an object of service ids to true or false.")
    for name, value in chosen.items():
        if name not in EMBED_SERVICES:
            raise ChoiceError(
                f"Unknown service {str(name)[:40]!r} in 'services'; "
                f"one of {', '.join(sorted(EMBED_SERVICES))}."
            )
        if not isinstance(value, bool):
            raise ChoiceError(f"'services.{name}' must be true or false.")
    return chosen


class ConsentApi:
    """Endpoints that read and change the visitor's consent."""

    def __init__(
        self,
        policy: ConsentPolicy,
        enforcer: CookieEnforcer,
        csrf: CsrfTokens,
        log: ConsentLog,
    ) -> None:
        self.policy = policy
        self.enforcer = enforcer
        self.csrf = csrf
        self.log = log
        self.privacy_url = "/_consent/privacy"  # set from the prefix in routes()

    def routes(self, prefix: str) -> list[BaseRoute]:
        self.privacy_url = f"{prefix}privacy"
        return [
            Route(prefix + "state", self.state, methods=["GET", "POST", "DELETE"]),
            Route("/.well-known/gpc.json", gpc_well_known, methods=["GET"]),
        ]

    async def state(self, request: Request) -> Response:
        context: RequestContext = request.scope["gateway"]
        consent = context.consent
        assert isinstance(consent, ConsentState)
        if request.method == "GET":
            if consent.must_show:
                self.log.count("shown", gpc=consent.gpc, regime=consent.regime)
            return self._answer(context, consent)

        if not same_origin(
            context, request.headers.get("origin"), request.headers.get("sec-fetch-site")
        ):
            return error_response(
                403, "cross_site", "Consent can only be changed from a page of this site."
            )
        if not self.csrf.check(context.session_id, request.headers.get("x-csrf-token")):
            return error_response(
                403,
                "csrf_failed",
                "The X-CSRF-Token header is missing or stale: read it from GET /_consent/state "
                "and send it with the session cookie.",
            )
        regimes = self.policy.regimes_for(self.policy.country_of(context.client_ip))
        if request.method == "DELETE":
            action, granted, services = "withdraw", set[str](), dict[str, bool]()
        else:
            body = await _read_limited(request, MAX_CHOICE_BYTES)
            if body is None:
                return error_response(
                    413, "body_too_large", f"A consent choice is at most {MAX_CHOICE_BYTES} bytes."
                )
            try:
                action, granted, services = parse_choice(body, self.policy.categories)
            except ChoiceError as error:
                return error_response(400, "invalid_body", str(error))
            if action == "object":
                granted = {g for g in consent.granted if regimes.get(g) != "opt-out"}
            # A service choice keeps the categories; a category choice keeps the services.
            kept = {g for g in consent.granted if g.startswith(SERVICE_PREFIX)}
            if services:
                granted = set(consent.granted) - kept
                kept |= {SERVICE_PREFIX + name for name, on in services.items() if on}
                kept -= {SERVICE_PREFIX + name for name, on in services.items() if not on}
            granted |= kept

        previous = await self.log.resume(consent.choice)
        choice = self.log.record_choice(
            self.policy.choose(previous, granted, consent.default_id),
            previous,
            action,
            client_ip=context.client_ip,
            user_agent=request.headers.get("user-agent", ""),
            gpc=consent.gpc,
            regime=regime_label(regimes),
        )
        new_state = ConsentState(choice.granted, False, "choice_made", "", consent.gpc, choice)
        context.consent = new_state
        self.enforcer.expire_withdrawn(context, choice.granted)
        context.response_cookies.append(
            set_cookie_header(
                CONSENT_COOKIE,
                self.policy.encode(choice),
                max_age=self.policy.lifetime_seconds,
                secure=context.secure,
            )
        )
        # Withdrawing analytics stops collection from the next request on; what was
        # collected before stays until erased, so the answer offers that.
        withdrawn = consent.allows("analytics") and not new_state.allows("analytics")
        offer = {"erase_offer": f"{self.privacy_url}#erase"} if withdrawn else {}
        return self._answer(context, new_state, offer)

    def _answer(
        self, context: RequestContext, consent: ConsentState, extra: dict[str, Any] | None = None
    ) -> JSONResponse:
        payload: dict[str, Any] = {
            "categories": {
                NECESSARY: True,
                **{c: consent.allows(c) for c in self.policy.categories},
            },
            "revision": self.policy.revision,
            "must_show": consent.must_show,
            "reason": consent.reason,
            "regime": consent.regime or None,
            "opt_out": sorted(consent.opt_out),
            "gpc": consent.gpc,
            "services": sorted(
                g.removeprefix(SERVICE_PREFIX)
                for g in consent.granted
                if g.startswith(SERVICE_PREFIX)
            ),
            "csrf": self.csrf.token(context.session_id or ""),
            **(extra or {}),
        }
        return JSONResponse(payload, headers=NO_STORE)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or ``None`` as soon as it passes ``limit`` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return body


async def gpc_well_known(request: Request) -> JSONResponse:
    """The site honours Global Privacy Control: https://privacycg.github.io/gpc-spec/"""
    return JSONResponse({"gpc": True, "lastUpdate": GPC_SUPPORT_SINCE})
