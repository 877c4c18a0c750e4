"""Which of the gateway's own cookies (``cg_*``) a request may believe, and which to delete.

Anyone who can plant a cookie in a visitor's browser (a sibling subdomain, a
plain-HTTP page of the host) could plant a consent or session cookie of their
own, signed by this gateway for them, and have the visitor's choices and page
views land under it. Behind HTTPS the gateway's cookies carry the ``__Host-``
prefix (:func:`gateway.cookies.own_cookie_name`), which no such page can set,
and only that name is believed; the unprefixed one is deleted. A browser that
sends two cookies of one name holds one the gateway did not set: neither is
believed and both are deleted, at every place this request shows they can be.
"""

from __future__ import annotations

import re

from gateway.cookies import HOST_PREFIX, cookie_domains, expire_cookie, own_cookie_name, unprefixed

# Every cookie the gateway itself sets starts with this, after a ``__Host-`` prefix
# behind HTTPS; none is ever forwarded upstream.
GATEWAY_COOKIE_PREFIX = "cg_"
_OWN_SECURE = own_cookie_name(GATEWAY_COOKIE_PREFIX, secure=True)  # "__Host-cg_"
# At most this many of the gateway's names are deleted per response (it sets three).
MAX_NAMES_DELETED = 3
# A cookie's path is the request path or one of its ancestors: "/" and this many more.
MAX_PATH_DEPTH = 3
# One segment of a path that may go into a ``Path=`` attribute as it came (RFC 3986
# pchar, without ";", which would add an attribute).
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@%-]+")


def is_gateway_cookie(name: str) -> bool:
    """Whether ``name`` is one of the gateway's cookies, prefixed or not.

    Such a cookie never goes upstream and the upstream may never set one.
    """
    return GATEWAY_COOKIE_PREFIX in name and unprefixed(name).startswith(GATEWAY_COOKIE_PREFIX)


def read_own_cookies(
    pairs: list[tuple[str, str]], *, secure: bool, host: str, raw_path: bytes
) -> tuple[dict[str, str], list[bytes]]:
    """The gateway cookies this request may believe, by unprefixed name, and the deletions due.

    Behind HTTPS only ``__Host-cg_*`` counts; over plain HTTP only ``cg_*``. Any
    other spelling of a gateway name (another prefix, a ``__Host-`` name over HTTP)
    counts for nothing.
    """
    own = _OWN_SECURE if secure else GATEWAY_COOKIE_PREFIX
    skip = len(own) - len(GATEWAY_COOKIE_PREFIX)
    believed: dict[str, str] = {}
    doomed: dict[str, None] = {}  # names in the order met, each once
    for name, value in pairs:
        if name.startswith(own):
            base = name[skip:]
            if base in believed or name in doomed:
                doomed[name] = None  # two of one name: neither is ours for sure
            else:
                believed[base] = value
        elif secure and name.startswith(GATEWAY_COOKIE_PREFIX):
            doomed[name] = None  # planted over HTTP or by a sibling, or set before the prefix
    if not doomed:
        return believed, []
    for name in doomed:
        if name.startswith(own):
            del believed[name[skip:]]
    expiries = [
        line
        for name in list(doomed)[:MAX_NAMES_DELETED]
        for line in _deletions(name, secure, host, raw_path)
    ]
    return believed, expiries


def _deletions(name: str, secure: bool, host: str, raw_path: bytes) -> list[bytes]:
    """``Set-Cookie`` values deleting ``name`` wherever this request shows it may be."""
    if name.startswith(HOST_PREFIX):
        return [expire_cookie(name, "/", "", secure=True)]  # only ever host-only at "/"
    domains = ["", *cookie_domains(host)]
    return [
        expire_cookie(name, path, domain, secure)
        for domain in domains
        for path in _ancestor_paths(raw_path)
    ]


def _ancestor_paths(raw_path: bytes) -> list[str]:
    """``/`` and the first :data:`MAX_PATH_DEPTH` ancestors of the request path, as sent.

    A cookie is sent only to paths under its own, so these are where another one
    of the name can sit. A segment that could not go into ``Path=`` as it is ends
    the list.
    """
    paths = ["/"]
    prefix = ""
    for segment in raw_path.decode("latin-1").split("/")[1 : MAX_PATH_DEPTH + 1]:
        if not _SEGMENT.fullmatch(segment):
            break
        prefix += "/" + segment
        paths.append(prefix)
    return paths
