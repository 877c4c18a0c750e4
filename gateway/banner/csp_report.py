"""The gateway's own Content-Security-Policy for pages, and the reports it brings back.

Every page the banner goes into gets one more policy, a separate header beside the
site's own: the page's origin, inline code, ``data:`` and ``blob:``, the hosts of
``third_parties.py`` classed necessary, and those of the categories (and services)
this visitor has granted. A browser checks each policy on its own and needs all of
them to allow a request, so an added policy can only narrow what the site's allows,
never widen it. By default it is ``Content-Security-Policy-Report-Only``: nothing is
blocked, and the browser reports each other host the page contacts (a tag the
rewrite did not know, an unknown third party) to ``POST /_consent/csp-report``.
With ``CG_CSP_ENFORCE=on`` it is enforced: the browser itself refuses any host the
visitor has not consented to, unknown ones too (list a site's own CDN as
``necessary`` in ``CG_THIRD_PARTY_RULES``).
https://www.w3.org/TR/CSP3/#multiple-policies
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from gateway.consent.host_inventory import HostInventory
from gateway.consent.third_parties import NECESSARY, SERVICE_PREFIX, ThirdParties, service_id
from gateway.errors import error_response
from gateway.exceptions import JsonTooDeep
from gateway.json_body import parse_json

REPORT_HEADER = b"content-security-policy-report-only"
ENFORCE_HEADER = b"content-security-policy"
MAX_REPORT_BYTES = 16 * 1024
_BASE = b"default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:"


class PagePolicy:
    """The policy header for a visitor's granted categories, built once per combination."""

    def __init__(
        self,
        parties: ThirdParties,
        prefix: str,
        enforce: bool,
        categories: frozenset[str] = frozenset(),
    ) -> None:
        self.parties = parties
        self.categories = categories  # when all are granted, any host is allowed
        self.header = ENFORCE_HEADER if enforce else REPORT_HEADER
        self.report_to = f"report-uri {prefix}csp-report".encode()
        self.built: dict[frozenset[str], tuple[bytes, bytes]] = {}

    def for_granted(self, granted: frozenset[str]) -> tuple[bytes, bytes]:
        """The header (name, value) for a visitor who granted ``granted``."""
        found = self.built.get(granted)
        if found is None:
            found = self.header, self._value(granted)
            if len(self.built) < 256:  # combinations of a handful of categories and services
                self.built[granted] = found
        return found

    def _value(self, granted: frozenset[str]) -> bytes:
        if self.categories and self.categories <= granted:
            # Every category granted, the strictest (where unknown hosts fall) too: any
            # host may load, and listing hundreds would only make every header longer.
            return _BASE.replace(b"'self'", b"*") + b"; " + self.report_to
        sources = []
        for key, party in sorted(self.parties.hosts.items()):
            allowed = party.category == NECESSARY or party.category in granted
            if allowed or SERVICE_PREFIX + service_id(party.provider) in granted:
                host, slash, path = key.partition("/")
                sources.append(f"{host}{slash}{path}{'/' if slash else ''}")
                if not slash:
                    sources.append(f"*.{host}")
        return b" ".join([_BASE, *(s.encode() for s in sources)]) + b"; " + self.report_to


class ReportReceiver:
    """``POST /_consent/csp-report``: browsers' violation reports, counted per host."""

    def __init__(self, hosts: HostInventory) -> None:
        self.hosts = hosts

    async def endpoint(self, request: Request) -> Response:
        """``POST /_consent/csp-report``: a browser's violation reports."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REPORT_BYTES:
                return error_response(
                    413, "body_too_large", f"A report is at most {MAX_REPORT_BYTES} bytes."
                )
        hosts = blocked_hosts(body)
        if hosts is None:
            return error_response(
                400,
                "invalid_report",
                "The body must be a CSP violation report: a JSON object with 'csp-report', "
                "or a list of Reporting API reports.",
            )
        now = int(time.time())
        for host in hosts:
            self.hosts.add(host, now)
        return Response(status_code=204)


def blocked_hosts(body: bytes) -> list[str] | None:
    """The hosts a report body names as blocked, or ``None`` if it is not a report.

    Two shapes: ``report-uri``'s ``{"csp-report": {"blocked-uri": ...}}`` and the
    Reporting API's ``[{"type": "csp-violation", "body": {"blockedURL": ...}}]``.
    """
    try:
        data = parse_json(body)
    except (ValueError, UnicodeDecodeError, JsonTooDeep):
        return None
    if isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        reports = [data["csp-report"].get("blocked-uri")]
    elif isinstance(data, list) and all(isinstance(item, dict) for item in data):
        reports = [
            item["body"].get("blockedURL")
            for item in data[:50]
            if isinstance(item.get("body"), dict)
        ]
    else:
        return None
    hosts = []
    for url in reports:
        if not isinstance(url, str) or len(url) > 2048:
            continue
        try:
            host = urlsplit(url).hostname
        except ValueError:
            continue
        if host and "." in host and len(host) <= 253:
            hosts.append(host)
    return hosts
