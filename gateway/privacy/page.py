"""The visitor's privacy page, export and erasure, under the reserved prefix.

    GET  /_consent/privacy                  the page (server-rendered, en/fr/de/es/cy)
    GET  /_consent/privacy/export           ?format=json (visits + consent history)
                                            ?format=csv&part=visits|consent
    POST /_consent/privacy/erase            form or JSON; CSRF token and confirmation;
                                            rate-limited per network, 429 when the
                                            erasure queue is full (gateway/privacy/jobs.py)
    GET  /_consent/privacy/erase/{job}      the erasure's state (JSON)
    GET  /_consent/cookies                  the cookie declaration (en/fr/de/es/cy),
                                            also a section of the privacy page

Whose data: only the consent id in the visitor's signed consent cookie, never
anything from the URL or the body, so a forged, altered or absent cookie
shows nothing and no one can ask for another visitor's rows. The erase form
is protected like the consent API: the same-origin check and the CSRF token
bound to the session (``gateway/consent/csrf.py``), here also accepted as the
form field ``csrf``, plus ``confirm``.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.analytics.service import Analytics
from gateway.consent.api import ConsentApi
from gateway.consent.csrf import same_origin
from gateway.consent.declaration import to_html as declaration_html
from gateway.consent.inventory import CookieInventory
from gateway.consent.state import CONSENT_COOKIE, NECESSARY, ConsentState
from gateway.context import RequestContext
from gateway.cookies import set_cookie_header
from gateway.errors import error_response
from gateway.json_body import parse_json
from gateway.privacy import store
from gateway.privacy.erasure import erasure_entry, settle_analytics
from gateway.privacy.jobs import ErasureJobs
from gateway.privacy.retention import apply_analytics_retention, check_retention
from gateway.privacy.texts import TEXTS, pick_language
from gateway.session import SESSION_COOKIE
from gateway.settings import Settings
from gateway.storage import Storage

DECLARATION_SECONDS = 60.0  # how long a rendered cookie declaration is served again
SHOWN_ROWS = 500  # the page lists this many; the export has them all
MAX_FORM_BYTES = 4096
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Vary": "Accept-Language, Cookie",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%;font-size:.9rem}"
    "td,th{border-bottom:1px solid #ccc;padding:.25rem .5rem;text-align:left}"
    ".note{background:#eef;padding:.5rem 1rem}"
)


class PrivacyPages:
    """The visitor-facing privacy routes, sharing the consent API's policy, CSRF and log."""

    def __init__(
        self,
        settings: Settings,
        consent: ConsentApi,
        analytics: Analytics,
        banner_tags: bytes = b"",
        inventory: CookieInventory | None = None,
    ) -> None:
        check_retention(settings)  # a refused retention stops start-up, not a request
        self.settings = settings
        self.prefix = settings.prefix
        self.consent = consent
        self.analytics = analytics
        self.banner_tags = banner_tags.decode("ascii")
        self.inventory = inventory
        self._declarations: dict[tuple[str, str], tuple[float, str]] = {}
        self.jobs = ErasureJobs()

    async def open(self, storage: Storage) -> None:
        """Set the analytics tables' TTL to the configured retention (at start-up)."""
        await storage.run(lambda: apply_analytics_retention(storage, self.settings))

    async def close(self) -> None:
        """Carry out the running and queued erasures (at shutdown, before the writers close)."""
        await self.jobs.close()

    def routes(self) -> list[BaseRoute]:
        base = f"{self.prefix}privacy"
        return [
            Route(base, self.page, methods=["GET"]),
            Route(f"{base}/export", self.export, methods=["GET"]),
            Route(f"{base}/erase", self.erase, methods=["POST"]),
            Route(base + "/erase/{job}", self.status, methods=["GET"]),
            Route(f"{self.prefix}cookies", self.cookies, methods=["GET"]),
        ]

    # -- reading ------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        context: RequestContext = request.scope["gateway"]
        consent = context.consent
        assert isinstance(consent, ConsentState)
        language = pick_language(request.headers.get("accept-language"))
        consent_id = consent.consent_id
        rows: list[dict[str, Any]] = []
        if consent_id:
            rows = await self._read(
                request, lambda client: store.visits(client, consent_id, SHOWN_ROWS)
            )
        job = self.jobs.get(request.query_params.get("erasure", ""))
        body = self._render(language, context, consent, rows, job.state if job else None)
        headers = {**PAGE_HEADERS, "Content-Language": language}
        return HTMLResponse(body, headers=headers)

    def declaration(self, language: str, heading: str = "h2") -> str:
        """The cookie declaration's HTML, from the inventory in memory, made at most once
        a minute per language and heading (anyone may ask for it, as often as they like)."""
        now = time.monotonic()
        made = self._declarations.get((language, heading))
        if made is not None and now - made[0] < DECLARATION_SECONDS:
            return made[1]
        entries = self.inventory.entries() if self.inventory is not None else []
        text = declaration_html(entries, language, heading)
        self._declarations[(language, heading)] = (now, text)
        return text

    async def cookies(self, request: Request) -> Response:
        """The cookie declaration on a page of its own, for a privacy policy to link to."""
        language = pick_language(request.headers.get("accept-language"))
        body = (
            f"<!doctype html><html lang={language}><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(TEXTS[language]['title'])}</title><style>{STYLE}</style>"
            f"{self.banner_tags}{self.declaration(language, 'h1')}</html>"
        )
        headers = {**PAGE_HEADERS, "Vary": "Accept-Language", "Content-Language": language}
        headers["Cache-Control"] = "no-cache"
        return HTMLResponse(body, headers=headers)

    async def export(self, request: Request) -> Response:
        context: RequestContext = request.scope["gateway"]
        consent_id = context.consent.consent_id
        form = request.query_params.get("format", "json")
        part = request.query_params.get("part", "visits")
        if form not in ("json", "csv") or part not in ("visits", "consent"):
            return error_response(
                400, "invalid_query", "format must be json or csv, and part visits or consent."
            )
        if not consent_id:
            return _no_visitor()
        stamp = datetime.now(UTC)
        name = f"privacy-export-{stamp:%Y%m%d}"
        if form == "json":
            data = await self._read(request, lambda client: store.export(client, consent_id, stamp))
            return Response(
                store.dumps(data),
                media_type="application/json",
                headers={**_download(f"{name}.json")},
            )
        reader = store.visits_csv if part == "visits" else store.consent_csv
        text = await self._read(request, lambda client: reader(client, consent_id))
        return Response(
            text, media_type="text/csv; charset=utf-8", headers=_download(f"{name}-{part}.csv")
        )

    async def status(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["job"])
        if job is None:
            return error_response(404, "not_found", "There is no erasure with this id.")
        return JSONResponse(job.public(), headers={"Cache-Control": "no-store"})

    async def _read(self, request: Request, call: Any) -> Any:
        """``call(client)`` on a fresh client, off the event loop."""
        storage = self.analytics.storage

        def run() -> Any:
            client = storage.connect()
            try:
                return call(client)
            finally:
                client.close()

        return await storage.run(run)

    # -- erasing ------------------------------------------------------------------

    async def erase(self, request: Request) -> Response:
        context: RequestContext = request.scope["gateway"]
        consent = context.consent
        assert isinstance(consent, ConsentState)
        if not _same_origin(context, request):
            return error_response(
                403, "cross_site", "Erasure can only be asked for from a page of this site."
            )
        fields, as_form = await _fields(request)
        if fields is None:
            return error_response(400, "invalid_body", "Send a form or a JSON object.")
        token = request.headers.get("x-csrf-token") or str(fields.get("csrf", ""))
        if not self.consent.csrf.check(context.session_id, token):
            return error_response(
                403,
                "csrf_failed",
                "The CSRF token is missing or stale: reload the privacy page and try again.",
            )
        if fields.get("confirm") not in ("yes", True):
            return error_response(
                400, "not_confirmed", "Confirm the erasure: tick the box (or send confirm)."
            )
        consent_id = consent.consent_id
        if not consent_id:
            return _no_visitor()
        if self.jobs.full():  # before anything is logged or expired: the visitor asks again
            return _queue_full(self.jobs.retry_after())
        log = self.consent.log
        entry = erasure_entry(log, consent_id, consent.choice)
        log.put_entry(entry)
        log.count("erase")
        # Forget the visitor: every category withdrawn (so the site's own tracking
        # cookies go too), and the gateway's own cookies expired.
        self.consent.enforcer.expire_withdrawn(context, frozenset({NECESSARY}))
        for name in (CONSENT_COOKIE, SESSION_COOKIE):
            context.response_cookies.append(
                set_cookie_header(name, "", max_age=0, secure=context.secure)
            )
        analytics = self.analytics
        job = self.jobs.start(analytics.storage, consent_id, partial(settle_analytics, analytics))
        status_url = f"{self.prefix}privacy/erase/{job.id}"
        if as_form:
            return RedirectResponse(f"{self.prefix}privacy?erasure={job.id}", status_code=303)
        return JSONResponse(
            {**job.public(), "status_url": status_url},
            status_code=202,
            headers={"Cache-Control": "no-store"},
        )

    # -- the page -------------------------------------------------------------------

    def _render(
        self,
        language: str,
        context: RequestContext,
        consent: ConsentState,
        rows: list[dict[str, Any]],
        erasure: str | None,
    ) -> str:
        t = TEXTS[language]
        e = html.escape
        settings = self.settings
        days = settings.analytics_retention_days
        analytics = t["days"].format(days=days) if days else t["month"]
        granted = [c for c in settings.consent_categories if consent.allows(c)]
        parts = [
            f"<!doctype html><html lang={language}><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{e(t['title'])}</title><style>{STYLE}</style>{self.banner_tags}",
            f"<h1>{e(t['title'])}</h1>",
        ]
        if erasure is not None:
            message = {"done": t["erased"], "failed": t["erase_failed"]}.get(erasure, t["erasing"])
            parts.append(f'<p class=note role=status data-erasure="{e(erasure)}">{e(message)}</p>')
        parts += [
            f"<h2>{e(t['collect_h'])}</h2><p>{e(t['collect'])}</p>",
            f"<h2>{e(t['keep_h'])}</h2><p>"
            + e(
                t["keep"].format(
                    analytics=analytics, consent_log=settings.consent_log_retention_days
                )
            )
            + "</p>",
            f"<h2>{e(t['consent_h'])}</h2>",
        ]
        if consent.choice is None and consent.opt_out:  # the statistics exception
            listed = ", ".join(c for c in settings.consent_categories if c in consent.opt_out)
            parts.append(f"<p>{e(t['consent_unasked'].format(categories=listed))}</p>")
        elif consent.choice is None:
            parts.append(f"<p>{e(t['consent_none'])}</p>")
        else:
            listed = ", ".join(granted) if granted else t["none"]
            parts.append(f"<p>{e(t['consent_now'].format(categories=listed))}</p>")
        parts.append(f"<p><button type=button data-consent-open>{e(t['change'])}</button></p>")
        parts.append(f"<h2>{e(t['data_h'])}</h2>")
        consent_id = consent.consent_id
        if not consent_id:
            parts.append(f"<p>{e(t['no_id'])}</p>")
        elif not rows:
            parts.append(f"<p>{e(t['no_data'])}</p>")
        else:
            if not consent.allows("analytics"):
                parts.append(f"<p class=note>{e(t['withdrawn'])}</p>")
            parts.append(self._table(t, rows))
        if consent_id:
            parts.append(self._downloads(t, consent_id))
            parts.append(self._erase_form(t, context))
        parts.append(self.declaration(language))
        parts.append(f"<h2>{e(t['rights_h'])}</h2><p>{e(t['rights'])}</p></html>")
        return "".join(parts)

    def _table(self, t: dict[str, str], rows: list[dict[str, Any]]) -> str:
        e = html.escape
        heads = ("col_time", "col_page", "col_country", "col_browser", "col_os", "col_device")
        header = "".join(f"<th>{e(t[h])}</th>" for h in (*heads, "col_ip"))
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{e(str(v))}</td>"
                for v in (
                    str(row["time"])[:19].replace("T", " "),
                    row["path"] + (f" ({row['kind']})" if row["kind"] != "pageview" else ""),
                    row["country"],
                    f"{row['browser']} {row['browser_version']}".strip(),
                    f"{row['os']} {row['os_version']}".strip(),
                    row["device"],
                    row["ip"],
                )
            )
            + "</tr>"
            for row in rows
        )
        count = e(t["visits"].format(count=len(rows)))
        return f"<p>{count}</p><table id=visits><tr>{header}</tr>{body}</table>"

    def _downloads(self, t: dict[str, str], consent_id: str) -> str:
        e = html.escape
        base = f"{self.prefix}privacy/export"
        return (
            f"<h2>{e(t['export_h'])}</h2><ul>"
            f'<li><a href="{base}?format=json">{e(t["export_json"])}</a></li>'
            f'<li><a href="{base}?format=csv&amp;part=visits">{e(t["export_csv"])}</a></li>'
            f'<li><a href="{base}?format=csv&amp;part=consent">'
            f"{e(t['export_consent_csv'])}</a></li></ul>"
            f"<p><small>Consent id: <code id=consent-id>{e(consent_id)}</code></small></p>"
        )

    def _erase_form(self, t: dict[str, str], context: RequestContext) -> str:
        e = html.escape
        token = self.consent.csrf.token(context.session_id or "")
        return (
            f"<h2 id=erase>{e(t['erase_h'])}</h2><p>{e(t['erase'])}</p>"
            f'<form method=post action="{self.prefix}privacy/erase">'
            f'<input type=hidden name=csrf value="{e(token)}">'
            f"<label><input type=checkbox name=confirm value=yes required> "
            f"{e(t['erase_confirm'])}</label> "
            f"<button type=submit>{e(t['erase_button'])}</button></form>"
        )


def _same_origin(context: RequestContext, request: Request) -> bool:
    return same_origin(
        context, request.headers.get("origin"), request.headers.get("sec-fetch-site")
    )


async def _fields(request: Request) -> tuple[dict[str, Any] | None, bool]:
    """The body's fields and whether it was a form; ``None`` for anything else."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None, False
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), max_num_fields=10)), True
        except (UnicodeDecodeError, ValueError):
            return None, True
    try:
        data = parse_json(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        return None, False
    return (data, False) if isinstance(data, dict) else (None, False)


def _download(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def _queue_full(wait: int) -> Response:
    response = error_response(
        429,
        "erasure_queue_full",
        f"Too many erasures are waiting; nothing was changed. Try again in {wait} s.",
    )
    response.headers["Retry-After"] = str(wait)
    response.headers["Cache-Control"] = "no-store"
    return response


def _no_visitor() -> Response:
    return error_response(
        404,
        "no_visitor",
        "Your browser carries no consent of this site, so no data can be linked to you.",
    )
