"""Parsers for the ``CG_BANNER_*`` settings: path patterns, Consent Mode signals, texts.

``settings.py`` stays the one module that reads the environment and calls them
with each variable's name and raw value. Every bad value raises
:class:`SettingsError` with a sentence that names the variable and the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.exceptions import SettingsError

# Google Consent Mode v2 types: https://developers.google.com/tag-platform/security/concepts/consent-mode
CONSENT_MODE_SIGNALS = frozenset(
    {
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "analytics_storage",
        "functionality_storage",
        "personalization_storage",
        "security_storage",
    }
)
DEFAULT_CONSENT_MODE = (
    "ad_storage=marketing,ad_user_data=marketing,ad_personalization=marketing,"
    "analytics_storage=analytics"
)
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_TEXT_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_TEXT = 2000


def parse_path_patterns(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated path patterns such as ``/admin/*,/api/*`` (``*`` matches anything)."""
    patterns = tuple(item.strip() for item in raw.split(",") if item.strip())
    for pattern in patterns:
        if not pattern.startswith("/"):
            raise SettingsError(
                f"{name} must be comma-separated path patterns that start with /, such as "
                f"/admin/*,/api/*; {pattern!r} does not start with /."
            )
    return patterns


def parse_consent_mode(name: str, raw: str) -> dict[str, str]:
    """``signal=category`` pairs: which consent category grants each Consent Mode signal."""
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        signal, sep, category = (part.strip() for part in item.partition("="))
        if not sep or signal not in CONSENT_MODE_SIGNALS or not category:
            raise SettingsError(
                f"{name} must be comma-separated signal=category pairs with signals among "
                f"{', '.join(sorted(CONSENT_MODE_SIGNALS))} (such as {DEFAULT_CONSENT_MODE}); "
                f"{item.strip()!r} is not one."
            )
        mapping[signal] = category
    return mapping


def parse_banner_texts(name: str, raw: str) -> dict[str, dict[str, str]]:
    """Text overrides by language: a JSON object, or the path of a JSON file holding one.

    The shape is ``{"en": {"title": "...", "analytics": "Statistics|What it does"}}``;
    any key replaces the built-in text of that name, languages not built in are added.
    """
    if not raw:
        return {}
    source = "the JSON"
    text = raw
    if not raw.lstrip().startswith("{"):
        source = repr(raw)
        try:
            text = Path(raw).read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(
                f"{name} names {raw!r}, which cannot be read ({error.strerror}); give a JSON "
                "object or the path of a JSON file."
            ) from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{name}: {source} is not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise SettingsError(f'{name} must be a JSON object of languages, such as {{"en": {{}}}}.')
    texts: dict[str, dict[str, str]] = {}
    for language, entries in data.items():
        if not _LANGUAGE.match(language) or not isinstance(entries, dict):
            raise SettingsError(
                f"{name}: {language!r} must be a lower-case language code (such as en or cy) "
                "mapped to an object of texts."
            )
        for key, value in entries.items():
            if not _TEXT_KEY.match(key) or not isinstance(value, str) or len(value) > MAX_TEXT:
                raise SettingsError(
                    f"{name}: {language}.{key} must be a text of at most {MAX_TEXT} characters "
                    "under a lower-case key such as title, text, accept or analytics."
                )
        texts[language] = dict(entries)
    return texts
