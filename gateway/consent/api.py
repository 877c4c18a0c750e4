"""The consent API of the public contract, and the GPC well-known resource.

    GET    /_consent/state   the visitor's categories, revision, must_show (and why), csrf
    POST   /_consent/state   {"action": "accept_all"} | {"action": "reject_all"}
                             | {"categories": {"analytics": true, ...}}
    DELETE /_consent/state   withdraw: everything but necessary, effective on the next request
    GET    /.well-known/gpc.json

Rejecting is exactly as easy as accepting: one request of the same shape.
State-changing requests need the same-origin check and the CSRF token (see
``csrf.py``). A withdrawal is kept as a choice of "necessary only", so the
visitor is not asked again on the next page, and every cookie of a category no
longer granted is deleted in the same response. Every choice is appended to the
consent log, and every outcome (a banner that must show included) counted in
``consent_counts`` (see ``log.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.consent.csrf import CsrfTokens, same_origin
from gateway.consent.enforcement import CookieEnforcer
from gateway.consent.log import ConsentLog
from gateway.consent.state import CONSENT_COOKIE, NECESSARY, ConsentPolicy, ConsentState
from gateway.context import RequestContext
from gateway.cookies import set_cookie_header
from gateway.errors import error_response
from gateway.json_body import parse_json

MAX_CHOICE_BYTES = 4096
GPC_SUPPORT_SINCE = "2026-11-22"
NO_STORE = {"Cache-Control": "no-store"}


class ChoiceError(ValueError):
    """A consent request body the API cannot accept; the message names the problem."""


def parse_choice(body: bytes, categories: tuple[str, ...]) -> tuple[str, set[str]]:
    """The action (``accept_all``, ``reject_all`` or ``custom``) and the categories a
    POST body grants, or :class:`ChoiceError` naming what is wrong (and
    :class:`~gateway.exceptions.JsonTooDeep` for a body nested past the bound)."""
    try:
        data = parse_json(body)
    except (ValueError, UnicodeDecodeError):
        raise ChoiceError("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise ChoiceError("The body must be a JSON object.")
    unknown = sorted(set(data) - {"action", "categories"})
    if unknown:
        raise ChoiceError(f"Unknown field {unknown[0]!r}: send 'action' or 'categories'.")
    if ("action" in data) == ("categories" in data):
        raise ChoiceError("Send exactly one of 'action' and 'categories'.")
    if "action" in data:
        if data["action"] == "accept_all":
            return "accept_all", set(categories)
        if data["action"] == "reject_all":
            return "reject_all", set()
        raise ChoiceError("'action' must be 'accept_all' or 'reject_all'.")
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
    return "custom", granted


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
                self.log.count("shown", gpc=consent.gpc)
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
        if request.method == "DELETE":
            action, granted = "withdraw", set[str]()
        else:
            body = await _read_limited(request, MAX_CHOICE_BYTES)
            if body is None:
                return error_response(
                    413, "body_too_large", f"A consent choice is at most {MAX_CHOICE_BYTES} bytes."
                )
            try:
                action, granted = parse_choice(body, self.policy.categories)
            except ChoiceError as error:
                return error_response(400, "invalid_body", str(error))

        previous = await self.log.resume(consent.choice)
        choice = self.log.record_choice(
            self.policy.choose(previous, granted),
            previous,
            action,
            client_ip=context.client_ip,
            user_agent=request.headers.get("user-agent", ""),
            gpc=consent.gpc,
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
            "gpc": consent.gpc,
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
