"""The banner's tags under the page's Content-Security-Policy.

The Consent Mode defaults must run before any script of the page, so the
banner comes as one inline script. Under a policy that trusts scripts by nonce,
it carries the page's nonce (and hands it on to ``banner.js``); under one that
allows no inline script (``script-src 'self'``), its hash is added to the
directive that would block it, which lets that one script run and nothing else.
A policy that allows inline scripts already, or no script at all (``'none'``), is
left as it is. Report-only policies get the same treatment, so they do not report
the banner either.
https://www.w3.org/TR/CSP3/#match-element-to-source-list
"""

from __future__ import annotations

import base64
import hashlib
import re

from gateway.asgi import RawHeaders

POLICY_HEADERS = (b"content-security-policy", b"content-security-policy-report-only")
_NONCE = re.compile(rb"'nonce-([A-Za-z0-9+/_=-]+)'")
# Which directive governs an inline <script>: the first of these the policy has.
_GOVERNING = (b"script-src-elem", b"script-src", b"default-src")
_TRUSTED_BY_TOKEN = (b"'nonce-", b"'sha256-", b"'sha384-", b"'sha512-")


def script_hash(script: bytes) -> bytes:
    """The CSP source expression that allows exactly the inline script ``script``."""
    return b"'sha256-" + base64.b64encode(hashlib.sha256(script).digest()) + b"'"


def page_nonce(headers: RawHeaders) -> bytes | None:
    """The nonce the page's enforced policy trusts scripts by, if it has one."""
    for key, value in headers:
        if key == POLICY_HEADERS[0]:
            found = _NONCE.search(value)
            if found is not None:
                return found.group(1)
    return None


def with_nonce(tags: bytes, nonce: bytes | None) -> bytes:
    """``tags`` with every ``<script`` carrying ``nonce`` (under ``'strict-dynamic'`` what
    the banner then loads and unblocks is trusted through it)."""
    if nonce is None:
        return tags
    return tags.replace(b"<script", b'<script nonce="' + nonce + b'"')


def blocks_inline(sources: list[bytes], nonce: bytes | None) -> bool:
    """Whether a directive's ``sources`` would block an inline script carrying ``nonce``."""
    if nonce is not None and b"'nonce-" + nonce + b"'" in sources:  # nonces are case-sensitive
        return False
    lowered = [source.lower() for source in sources]
    if lowered == [b"'none'"]:  # no script at all: nothing of ours will run there anyway
        return False
    # 'unsafe-inline' counts only without a nonce, a hash or 'strict-dynamic' beside it.
    trusted_by_token = any(s.startswith(_TRUSTED_BY_TOKEN) for s in lowered)
    if b"'unsafe-inline'" in lowered and not trusted_by_token:
        return b"'strict-dynamic'" in lowered
    return True


def allow_inline(policy: bytes, source: bytes, nonce: bytes | None) -> bytes:
    """``policy`` (one header value, perhaps several comma-separated policies) with
    ``source`` added to each directive that would block the inline script."""
    out = []
    for one in policy.split(b","):
        directives = one.split(b";")
        names = [(d.split() or [b""])[0].lower() for d in directives]
        governing = next((name for name in _GOVERNING if name in names), None)
        if governing is not None:
            index = names.index(governing)
            directive = directives[index]
            if blocks_inline(directive.split()[1:], nonce):
                kept = directive.rstrip()  # the source goes after the last, spacing kept
                directives[index] = kept + b" " + source + directive[len(kept) :]
        out.append(b";".join(directives))
    return b",".join(out)


def fit_policies(tags: bytes, source: bytes, headers: RawHeaders) -> tuple[bytes, RawHeaders]:
    """``tags`` and ``headers`` such that the page's policies let the tags run."""
    nonce = page_nonce(headers)
    fitted = [
        (key, allow_inline(value, source, nonce) if key in POLICY_HEADERS else value)
        for key, value in headers
    ]
    return with_nonce(tags, nonce), fitted
