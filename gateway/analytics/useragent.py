"""Browser, OS and device from a ``User-Agent`` header, with a bounded cache.

Parsing with ``user-agents`` (ua-parser's regexes) is too slow to run per page
view; but a site's visitors share a few hundred user
agent strings, so an LRU cache makes the common case a dictionary hit. The
cache holds user agents only, never addresses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from user_agents import parse

MAX_USER_AGENT = 512  # longer strings are cut: nothing real needs more, and it bounds the cache
CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    """What the stored columns say about a browser; empty strings when unknown."""

    browser: str
    browser_version: str  # major version only
    os: str
    os_version: str  # major.minor at most
    device: str  # desktop, mobile, tablet, bot or other
    flagged_bot: bool  # what ua-parser itself says
    # The five columns above as a JSONCompactEachRow fragment, encoded once per user
    # agent (the cache keeps it) instead of once per event.
    columns: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = (self.browser, self.browser_version, self.os, self.os_version, self.device)
        text = ",".join(json.encoder.encode_basestring(value) for value in values)
        object.__setattr__(self, "columns", text)


def _device(agent: object) -> str:
    if getattr(agent, "is_bot", False):
        return "bot"
    if getattr(agent, "is_tablet", False):
        return "tablet"
    if getattr(agent, "is_mobile", False):
        return "mobile"
    if getattr(agent, "is_pc", False):
        return "desktop"
    return "other"


UNKNOWN_AGENT = UserAgentInfo("", "", "", "", "", False)
"""No user agent parsed (yet): every column empty."""


@lru_cache(maxsize=CACHE_SIZE)
def _parse(user_agent: str) -> UserAgentInfo:
    agent = parse(user_agent)
    browser = agent.browser
    system = agent.os
    major = browser.version[0] if browser.version else ""
    os_version = ".".join(str(part) for part in system.version[:2]) if system.version else ""
    return UserAgentInfo(
        browser="" if browser.family == "Other" else browser.family,
        browser_version=str(major),
        os="" if system.family == "Other" else system.family,
        os_version=os_version,
        device=_device(agent),
        flagged_bot=bool(agent.is_bot),
    )


def parse_user_agent(user_agent: str) -> UserAgentInfo:
    """The parsed ``user_agent`` (cut to :data:`MAX_USER_AGENT` characters), from the cache."""
    return _parse(user_agent[:MAX_USER_AGENT])
