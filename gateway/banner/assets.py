"""The banner's files under ``/_consent/``: read once, served from memory.

Every visitor's first page loads both, so they are made cheap at start-up: each
file is hashed (its version) and compressed once with gzip and brotli. The
injected tags carry the version in the URL (``banner.js?v=1f2e...``), and a
request for the current version is cached for a year (``immutable``): a new
banner is a new URL. A request without it (a site that embeds the tag by
hand) is revalidated with the ``ETag`` each time, answered 304 when unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

from gateway.exceptions import SettingsError

# static/consent-banner/ of the source tree, through the link gateway/banner/static, which
# a wheel holds as a folder of its own (package data).
STATIC_DIR = Path(__file__).resolve().parent / "static"
# What a visitor downloads before any choice, banner.js and banner.css gzipped together:
# the banner's promise to stay small.
FIRST_LOAD_BUDGET = 6 * 1024
FIRST_LOAD = ("banner.js", "banner.css")


def first_load_gzipped(folder: Path = STATIC_DIR) -> int:
    """The bytes :data:`FIRST_LOAD_BUDGET` applies to: the first-load files, gzipped."""
    return sum(
        len(gzip.compress((folder / name).read_bytes(), compresslevel=9, mtime=0))
        for name in FIRST_LOAD
    )


YEAR = 365 * 86400
TYPES = {
    "banner.js": "text/javascript; charset=utf-8",
    "banner.css": "text/css; charset=utf-8",
    # Loaded only by pages with third-party tags held back (holdback.py).
    "third-parties.js": "text/javascript; charset=utf-8",
    "third-parties.css": "text/css; charset=utf-8",
    # Loaded only once a visitor grants analytics (measure.py).
    "measure.js": "text/javascript; charset=utf-8",
    # Loaded only for a visitor under an opt-out regime, by banner.js: the Object button.
    "object.js": "text/javascript; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    """One file with its version and its precompressed forms."""

    name: str
    media_type: str
    version: str
    forms: dict[str, bytes]  # content coding ("identity", "br", "gzip") to body

    @classmethod
    def load(cls, folder: Path, name: str) -> Asset:
        path = folder / name
        try:
            body = path.read_bytes()
        except OSError as error:
            raise SettingsError(
                f"The consent banner's {path} cannot be read ({error.strerror}); it ships in "
                "static/consent-banner/ of the gateway's source: install from the source tree "
                "or set CG_BANNER=off."
            ) from None
        return cls(
            name,
            TYPES[name],
            hashlib.sha256(body).hexdigest()[:16],
            {
                "identity": body,
                "br": brotli.compress(body, quality=11),
                "gzip": gzip.compress(body, compresslevel=9, mtime=0),
            },
        )


def accepted_codings(header: str | None) -> set[str]:
    """The content codings an ``Accept-Encoding`` header allows (RFC 9110 section 12.5.3)."""
    allowed: set[str] = set()
    for item in (header or "").lower().split(","):
        coding, _, params = item.partition(";")
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        try:
            if float(quality) > 0:
                allowed.add(coding.strip())
        except ValueError:
            continue
    return allowed


class BannerAssets:
    """The banner's files and the endpoint that serves them."""

    def __init__(self, folder: Path = STATIC_DIR) -> None:
        self.files = {name: Asset.load(folder, name) for name in TYPES}

    def url(self, prefix: str, name: str) -> str:
        """The versioned address of ``name``, cacheable for a year."""
        return f"{prefix}{name}?v={self.files[name].version}"

    async def serve(self, request: Request) -> Response:
        asset = self.files[request.url.path.rsplit("/", 1)[-1]]
        allowed = accepted_codings(request.headers.get("accept-encoding"))
        coding = next((c for c in ("br", "gzip") if c in allowed), "identity")
        etag = f'"{asset.version}-{coding}"'
        current = request.query_params.get("v") == asset.version
        headers = {
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "Cache-Control": f"public, max-age={YEAR}, immutable" if current else "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if coding != "identity":
            headers["Content-Encoding"] = coding
        if_none_match = request.headers.get("if-none-match", "")
        if etag in if_none_match or if_none_match.strip() == "*":
            return Response(status_code=304, headers=headers)
        body = asset.forms[coding]
        return Response(
            b"" if request.method == "HEAD" else body,
            media_type=asset.media_type,
            headers={**headers, "Content-Length": str(len(body))},
        )
