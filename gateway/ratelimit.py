"""Per-network rate limits for the gateway's own endpoints, answered 429 with ``Retry-After``.

The limiter is GCRA (generic cell rate algorithm, ITU-T I.371, as in redis-cell
and Envoy): per key one float, the *theoretical arrival time* (TAT). A request
is let in when ``now >= TAT - period`` and then pushes TAT on by
``period / count``; a refusal changes nothing, so ``Retry-After`` is exact.

Keys are the client's /24 or /48 network (:func:`gateway.iptools.truncate_ip`),
so hopping addresses does not dodge the limit and no full address is held; the
defaults are generous because one NAT address may hide a whole school. Memory is
bounded by ``max_keys``. :class:`RateLimitMiddleware` wraps only the gateway's
own routes; other limits (the dashboard login) call :meth:`RateLimiter.hit`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

from starlette.responses import Response

from gateway.asgi import ASGIApp, Receive, Scope, Send
from gateway.clock import Clock, system_clock
from gateway.errors import error_response, send_error
from gateway.iptools import truncate_ip
from gateway.settings_parsers import Rate

DEFAULT_MAX_KEYS = 100_000


class RateLimiter:
    """GCRA over string keys, with bounded memory and an injectable clock.

    Not thread-safe by design: it runs on the event loop, and :meth:`hit` never
    awaits, so two requests cannot interleave inside it.
    """

    def __init__(
        self, rate: Rate, *, clock: Clock = system_clock, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.max_keys = max_keys
        # key -> theoretical arrival time, least recently seen first.
        self._tat: OrderedDict[str, float] = OrderedDict()
        self.refused = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._tat)

    def hit(self, key: str) -> float:
        """Count one request for ``key``: 0.0 if it may go on, else seconds until it may."""
        now = self.clock()
        tat = self._tat.get(key)
        if tat is None or tat < now:
            tat = now
        allowed_from = tat + self.rate.interval - self.rate.period
        if now < allowed_from:
            self.refused += 1
            self._tat.move_to_end(key)
            return allowed_from - now
        self._tat[key] = tat + self.rate.interval
        self._tat.move_to_end(key)
        self._evict(now)
        return 0.0

    def _evict(self, now: float) -> None:
        # Expired keys at the old end cost nothing to forget: a new key starts the same way.
        while self._tat:
            key, tat = next(iter(self._tat.items()))
            if tat > now and len(self._tat) <= self.max_keys:
                break
            del self._tat[key]
            if tat > now:
                self.evicted += 1


def network_key(client_ip: str) -> str:
    """The limiter key of a client: its /24 or /48, or the raw text if it is not an IP.

    A non-IP peer (a Unix socket, a test transport) is one key of its own, which
    is the conservative reading: such peers share one budget.
    """
    return truncate_ip(client_ip) or client_ip


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds (RFC 9110 section 10.2.3): round up, at least 1."""
    return max(1, math.ceil(wait))


def _message(wait: float) -> str:
    return f"Too many requests from your network; try again in {retry_after_seconds(wait)} s."


def too_many_requests(wait: float) -> Response:
    """The 429 answer in the one error shape, for Starlette handlers (the login form)."""
    response = error_response(429, "rate_limited", _message(wait))
    response.headers["Retry-After"] = str(retry_after_seconds(wait))
    response.headers["Cache-Control"] = "no-store"
    return response


class RateLimitMiddleware:
    """Limits the listed paths (exact match) per client network; every other path is free.

    It sits inside the front door (the client address comes from
    ``scope["gateway"]``) and around the gateway's own routes only.
    """

    def __init__(self, app: ASGIApp, limits: Mapping[str, RateLimiter]) -> None:
        self.app = app
        self.limits = dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limits.get(scope["path"]) if scope["type"] == "http" else None
        if limiter is not None:
            wait = limiter.hit(network_key(scope["gateway"].client_ip))
            if wait > 0:
                await send_error(
                    send,
                    429,
                    "rate_limited",
                    _message(wait),
                    request_id=None,
                    as_json=True,
                    extra_headers=[(b"retry-after", str(retry_after_seconds(wait)).encode())],
                )
                return
        await self.app(scope, receive, send)
