"""Who is not a person: crawlers, monitors, scripts and headless browsers.

Three signals, any of which drops the event with reason ``bot``: ua-parser's
own spider flag, the crawler patterns below (kept in the spirit of the
community crawler-user-agents list: search engines, SEO and social-preview
fetchers, uptime monitors, HTTP libraries), and the marks of headless and
automated browsers. An empty ``User-Agent`` is a script too. Bot events never
reach the ``events`` table.

To add a crawler, add a lower-case fragment of its user agent to
``CRAWLER_FRAGMENTS``; a test runs every fragment.
"""

from __future__ import annotations

import re
from functools import lru_cache

from gateway.analytics.useragent import MAX_USER_AGENT, parse_user_agent

CRAWLER_FRAGMENTS: tuple[str, ...] = (
    # generic words crawlers put in their names
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrape",
    "fetcher",
    "archiver",
    "preview",
    # search engines and SEO tools whose names lack the words above
    "mediapartners-google",
    "google-inspectiontool",
    "adsbot",
    "bingpreview",
    "yandex",
    "baiduspider",
    "duckduckgo",
    "sogou",
    "exabot",
    "facebookexternalhit",
    "facebookcatalog",
    "embedly",
    "quora link preview",
    "whatsapp",
    "telegrambot",
    "skypeuripreview",
    "ia_archiver",
    "semrush",
    "ahrefs",
    "mj12",
    "dataforseo",
    "petalbot",
    "applebot",
    "gptbot",
    "chatgpt-user",
    "claudebot",
    "perplexity",
    "bytespider",
    "ccbot",
    # monitors and checkers
    "pingdom",
    "uptimerobot",
    "statuscake",
    "site24x7",
    "newrelicpinger",
    "datadog",
    "lighthouse",
    "pagespeed",
    "gtmetrix",
    "w3c_validator",
    "validator.nu",
    "check_http",
    "nagios",
    "zabbix",
    "prometheus",
    # HTTP libraries and command-line tools
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "httpie",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    "undici",
    "postmanruntime",
    "insomnia",
    "ruby",
    "php/",
    "guzzlehttp",
    "scrapy",
    "httrack",
    "nutch",
)

HEADLESS_FRAGMENTS: tuple[str, ...] = (
    "headlesschrome",
    "headless",
    "phantomjs",
    "slimerjs",
    "puppeteer",
    "playwright",
    "selenium",
    "webdriver",
    "cypress",
    "electron/",
    "jsdom",
    "splash",
    "htmlunit",
)

_PATTERN = re.compile(
    "|".join(re.escape(fragment) for fragment in CRAWLER_FRAGMENTS + HEADLESS_FRAGMENTS)
)


@lru_cache(maxsize=4096)
def _is_bot(user_agent: str) -> bool:
    if not user_agent.strip():
        return True
    if _PATTERN.search(user_agent.lower()):
        return True
    return parse_user_agent(user_agent).flagged_bot


def is_bot(user_agent: str) -> bool:
    """Whether ``user_agent`` belongs to a crawler, monitor, script or headless browser."""
    return _is_bot(user_agent[:MAX_USER_AGENT])
