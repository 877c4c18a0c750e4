"""Which headers cross the gateway, and how they are rewritten on the way.

Hop-by-hop headers belong to one connection and are never forwarded (RFC 9110
section 7.6.1): ``Connection`` and every header it names, ``Keep-Alive``,
``Proxy-*``, ``TE``, ``Trailer``, ``Transfer-Encoding`` and ``Upgrade`` (the
websocket proxy makes its own upgrade). A ``Connection`` token cannot remove
what frames or identifies the request or what the gateway sets, and the
headers that tell the upstream who the visitor is come from the gateway
alone. ``Sec-GPC`` is always passed on, since the GPC specification forbids an
intermediary to remove it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.asgi import RawHeaders, Scope
from gateway.client_ip import TrustedProxies
from gateway.consent.enforcement import CookieEnforcer
from gateway.context import RequestContext
from gateway.cookies import join_cookie_pairs

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)

# Request headers the gateway sets itself, so the visitor's copies are dropped:
# a visitor must not be able to forge the forwarding headers, the consent
# header or the Host the upstream sees, and cookies are rebuilt after the
# consent filter. The framing (Content-Length, or chunked coding) comes from
# what the gateway parsed, never from the visitor's header list (RFC 9112 6.3).
_REPLACED_ON_REQUEST = frozenset(
    {
        b"host",
        b"cookie",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-real-ip",
        b"forwarded",
        b"expect",
        b"x-consent",
    }
)

# Headers that frameworks and other proxies read as the client's address, scheme,
# port, prefix or URL: only the gateway may say these, so a visitor's are dropped.
_SPOOFABLE = frozenset(
    {
        b"true-client-ip",
        b"cf-connecting-ip",
        b"fastly-client-ip",
        b"x-client-ip",
        b"x-cluster-client-ip",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-forwarded-server",
        b"x-forwarded-ssl",
        b"x-forwarded-scheme",
        b"x-url-scheme",
        b"front-end-https",
        b"x-original-url",
        b"x-rewrite-url",
    }
)
_DROPPED_ON_REQUEST = HOP_BY_HOP | _REPLACED_ON_REQUEST | _SPOOFABLE

# The handshake headers a websocket client makes itself for the upstream (RFC 6455 4.1).
_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)

# What a Connection token can never remove: the framing, the request's identity,
# what the gateway sets, and Sec-GPC (the GPC specification forbids removing it).
_NEVER_HOP_BY_HOP = _REPLACED_ON_REQUEST | {b"transfer-encoding", b"sec-gpc"}


def _connection_tokens(headers: RawHeaders) -> frozenset[bytes]:
    """The header names listed in ``Connection``, which are hop-by-hop too."""
    tokens: set[bytes] = set()
    for key, value in headers:
        if key.lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b","))
    return frozenset(tokens)


def _dropped_as_spelled_with_dashes(key: bytes) -> bool:
    """Whether a name with ``_`` is, read with ``-``, one the gateway drops: WSGI and CGI
    servers read ``X_Consent`` as ``X-Consent`` and would merge it with the gateway's
    (nginx drops such names by default)."""
    key = key.replace(b"_", b"-")
    return key in _DROPPED_ON_REQUEST or key.startswith(b"proxy-")


class RequestTranslator:
    """The upstream's request target and headers for a visitor's request, HTTP or websocket.

    One translation for both, so a websocket handshake loses the same headers and
    cookies and carries the same labels as a page request. The target is the
    upstream's base path, then the request's raw path and query. The headers come
    ``Host`` first: ``fixed_host`` (CG_UPSTREAM_HOST) when set, else the visitor's, which
    the front door has checked against CG_ALLOWED_HOSTS (the upstream's own name for an
    HTTP/1.0 request without one), so the site builds links and checks CSRF origins for
    its public name. Then the visitor's headers, less the dropped ones, then the gateway's:
    ``X-Forwarded-For`` extends a chain only a trusted peer may have started (from
    anyone else it starts afresh with the peer's address), ``X-Real-IP`` is the
    client address the trusted-proxy rule gives, then the ``Cookie`` the consent
    allows and ``X-Consent``. For a websocket, the ``Sec-WebSocket-*`` handshake
    headers are dropped too: the gateway's websocket client makes its own.
    """

    __slots__ = ("_base_path", "_dropped", "_enforcer", "_fallback_host", "_fixed_host", "_trusted")

    def __init__(
        self,
        fixed_host: str,
        fallback_host: str,
        base_path: str,
        trusted: TrustedProxies,
        enforcer: CookieEnforcer,
        *,
        websocket: bool = False,
    ) -> None:
        self._fixed_host = fixed_host
        self._fallback_host = fallback_host
        self._base_path = base_path
        self._trusted = trusted
        self._enforcer = enforcer
        self._dropped = _DROPPED_ON_REQUEST | _HANDSHAKE if websocket else _DROPPED_ON_REQUEST

    def translate(self, scope: Scope, context: RequestContext) -> tuple[str, list[tuple[str, str]]]:
        """``(target, headers)`` for the request in ``scope``, without its framing."""
        # One function on the proxy's hot path: every call and lookup here is per request.
        target = self._base_path + (scope.get("raw_path") or scope["path"].encode()).decode(
            "latin-1"
        )
        query = scope.get("query_string")
        if query:
            target += "?" + query.decode("latin-1")
        client = scope.get("client")
        peer = client[0] if client else ""
        headers: RawHeaders = scope["headers"]
        nominated = _connection_tokens(headers)
        if nominated:
            nominated -= _NEVER_HOP_BY_HOP
        dropped = self._dropped
        out: list[tuple[str, str]] = [
            ("Host", self._fixed_host or context.host or self._fallback_host)
        ]
        forwarded_for = None
        for key, value in headers:
            if (
                key in dropped
                or key in nominated
                or key.startswith(b"proxy-")
                or (b"_" in key and _dropped_as_spelled_with_dashes(key))
            ):
                if key == b"x-forwarded-for" and self._trusted.is_trusted(peer):
                    forwarded_for = value.decode("latin-1")
                continue
            out.append((key.decode("latin-1"), value.decode("latin-1")))
        out.append(("X-Forwarded-For", f"{forwarded_for}, {peer}" if forwarded_for else peer))
        out.append(("X-Forwarded-Proto", "https" if context.secure else "http"))
        if context.host:
            out.append(("X-Forwarded-Host", context.host))
        out.append(("X-Real-IP", context.client_ip))
        enforcer = self._enforcer
        cookies = enforcer.upstream_cookies(context)
        if cookies:
            out.append(("Cookie", join_cookie_pairs(cookies)))
        out.append(("X-Consent", enforcer.consent_header(context)))
        return target, out


class LocationRewriter:
    """Turns redirects to the upstream's own origin into redirects to the public origin.

    The upstream's own origin is its address in CG_UPSTREAM and, when CG_UPSTREAM_HOST
    gives it a name, that name under either scheme (a site that believes itself served
    over https redirects so).
    """

    def __init__(self, upstream: str, fixed_host: str = "") -> None:
        parts = urlsplit(upstream)
        origins = {f"{parts.scheme}://{parts.netloc}", f"//{parts.netloc}"}
        if fixed_host:
            origins |= {f"http://{fixed_host}", f"https://{fixed_host}", f"//{fixed_host}"}
        self.origins = tuple(origin.encode("latin-1") for origin in origins)

    def rewrite(self, location: bytes, public_origin: bytes) -> bytes:
        for origin in self.origins:
            if location.startswith(origin):
                rest = location[len(origin) :]
                if not rest or rest[:1] in (b"/", b"?", b"#"):
                    return public_origin + rest
        return location


def downstream_response_headers(
    raw: tuple[tuple[bytes, bytes], ...] | RawHeaders,
    rewriter: LocationRewriter,
    public_origin: bytes,
) -> RawHeaders:
    """The upstream's response headers, less hop-by-hop ones, with ``Location`` rewritten."""
    connection = _connection_tokens(list(raw))
    out: RawHeaders = []
    for key, value in raw:
        name = key.lower()
        if name in HOP_BY_HOP or name in connection:
            continue
        if name == b"location":
            value = rewriter.rewrite(value, public_origin)
        out.append((name, value))
    return out
