"""The unsubscribe link of every report: a signed token, answered by the public listener.

Recipients (heads, governors) have no account and cannot reach the admin
listener, which listens on loopback, so the link points at the site's own
address, under the reserved prefix: ``/_consent/reports/unsubscribe?t=TOKEN``.
The token is the site, the list and the address, signed with ``CG_SECRET_KEY``
(its own salt), so nobody can take someone else off a list. Opening the link
shows a button (mail scanners open links, and must not unsubscribe anyone);
the button, or a mail client's one-click POST (RFC 8058), takes the address
off. No login; a second time changes nothing and says the same.

With a sites file each site's listener signs and checks with its own keys, so a
site's link points at that site (``CG_REPORT_URL`` when it is one of the site's
hosts, else its first host) and is signed with its keys; the trust's points at the
site of ``CG_REPORT_URL``, else the first site.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import replace
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.audit import record_audit
from gateway.clock import Clock, system_clock
from gateway.errors import error_response, wants_json
from gateway.exceptions import ReportError
from gateway.reports.lists import site_name, unsubscribe
from gateway.settings import Settings
from gateway.signing import CookieSigner
from gateway.sites_file import load_sites
from gateway.storage import Storage

SALT = "report-unsubscribe"
MAX_AGE = 400 * 24 * 3600  # a link in last year's report still works
PATH = "reports/unsubscribe"


class Unsubscribe:
    """Makes the links and answers them."""

    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.signer = CookieSigner(settings.secret_keys, SALT, clock)

    def link(self, site: str, list_id: str, address: str) -> str:
        """The unsubscribe URL for ``address`` on the list; :class:`ReportError` when the
        gateway does not know its public address."""
        payload = json.dumps([site, list_id, address], separators=(",", ":")).encode()
        answering = _answering(self.settings, site)
        signer = self.signer
        if answering is not self.settings:
            signer = CookieSigner(answering.secret_keys, SALT, self.clock)
        token = signer.sign(base64.urlsafe_b64encode(payload).decode().rstrip("="))
        return f"{public_address(answering)}{answering.prefix}{PATH}?t={quote(token)}"

    def read(self, token: str) -> tuple[str, str, str] | None:
        """The site, list and address a token names, or ``None`` for a forged or old one."""
        found = self.signer.unsign(token, MAX_AGE)
        if found is None:
            return None
        try:
            text = found[0]
            site, list_id, address = json.loads(
                base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            )
        except (ValueError, TypeError):
            return None
        if not all(isinstance(part, str) for part in (site, list_id, address)):
            return None
        return site, list_id, address

    def routes(self, storage: Storage) -> list[BaseRoute]:
        """``GET`` shows the button, ``POST`` unsubscribes."""
        path = f"{self.settings.prefix}{PATH}"

        async def page(request: Request) -> Response:
            token = request.query_params.get("t", "")
            if request.method == "POST" and not token:
                token = str((await request.form()).get("t", ""))[:2000]
            found = self.read(token)
            if found is None:
                return error_response(
                    400,
                    "bad_link",
                    "This unsubscribe link is not valid or has expired; use the link of a "
                    "recent report, or ask the site's administrators.",
                    as_json=wants_json(request.headers.get("accept")),
                )
            site, list_id, address = found
            if request.method == "GET":
                return _page(
                    "Unsubscribe",
                    f"Stop sending the reports of {site_name(site)} to {address}?",
                    f'<form method="post" action="{html.escape(path)}">'
                    f'<input type="hidden" name="t" value="{html.escape(token)}">'
                    '<button type="submit">Unsubscribe</button></form>',
                )
            removed = await storage.run(lambda: unsubscribe(storage, site, list_id, address))
            if removed:
                await storage.run(
                    lambda: record_audit(
                        storage, address, "report.unsubscribe", f"{site}/{list_id}"
                    )
                )
            return _page(
                "Unsubscribed",
                f"{address} will receive no more reports of {site_name(site)} from this list.",
                "",
            )

        return [Route(path, page, methods=["GET", "POST"])]


def _answering(settings: Settings, site: str) -> Settings:
    """The settings of the site whose listener answers the link of ``site``'s report."""
    if not settings.sites_file:
        return settings
    sites = load_sites(settings)
    host = urlsplit(settings.report_url).hostname if settings.report_url else None
    at_url = [each for each in sites if host in each.hosts]
    chosen = next((each for each in sites if each.id == site), None) or (at_url or sites)[0]
    if host in chosen.hosts:
        return chosen.settings
    return replace(chosen.settings, report_url="")  # its own first host, not another site's


def public_address(settings: Settings) -> str:
    """Where the public listener is reached: ``CG_REPORT_URL``, else https:// and the first
    plain name of ``CG_ALLOWED_HOSTS``; :class:`ReportError` when there is neither."""
    if settings.report_url:
        return settings.report_url
    for host in settings.allowed_hosts:
        if host and not host.startswith(("*", ".")):
            return f"https://{host}"
    raise ReportError(
        "Reports link to the site's public address for unsubscribing: set CG_REPORT_URL "
        "(such as https://www.school.example) or CG_ALLOWED_HOSTS."
    )


def _page(title: str, message: str, form: str) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(message)}</p>{form}</html>",
        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"},
    )
