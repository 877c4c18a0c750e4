"""Parsers for the analytics settings that describe what counts: downloads and goals.

``settings.py`` stays the one module that reads the environment and calls them
with each variable's name and raw value. Every bad value raises
:class:`SettingsError` with a sentence that names the variable and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.exceptions import SettingsError

# The extensions Plausible's file-download tracking knows, and the open formats
# schools publish in (odt, ods, odp, epub).
DEFAULT_DOWNLOAD_TYPES = (
    "pdf,doc,docx,xls,xlsx,ppt,pptx,pps,odt,ods,odp,rtf,txt,csv,epub,"
    "zip,7z,rar,gz,dmg,exe,pkg,mp3,wav,wma,midi,mp4,avi,mov,mpeg,wmv"
)
_EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")

MAX_GOAL_NAME = 120  # as the beacon's event names
MAX_GOAL_PATTERN = 256
_PROP_MATCH = re.compile(r"^(?P<name>.+?)\s*\[(?P<key>[^=\]]{1,64})=(?P<value>[^\]]{1,256})\]$")


def parse_download_types(name: str, raw: str) -> frozenset[str]:
    """Comma-separated file extensions without the dot; ``off`` or empty: none."""
    if raw.strip().lower() == "off":
        return frozenset()
    types = [item.strip().lower().lstrip(".") for item in raw.split(",") if item.strip()]
    for item in types:
        if not _EXTENSION.match(item):
            raise SettingsError(
                f"{name}: {item!r} is not a file extension; list extensions such as "
                "pdf,docx,zip (or set off)."
            )
    return frozenset(types)


@dataclass(frozen=True, slots=True)
class Goal:
    """What a visitor reaches to count for a goal: a page (``page``, a pattern where
    ``*`` matches anything) or an event name, optionally with one prop matching
    ``prop_value`` (a pattern too)."""

    kind: str  # "page" or "event"
    target: str
    prop_key: str = ""
    prop_value: str = ""

    @property
    def name(self) -> str:
        """The goal's display name, as Plausible shows it: ``Visit /apply*`` or the event's
        name, with the prop match after it."""
        base = f"Visit {self.target}" if self.kind == "page" else self.target
        return f"{base} [{self.prop_key}={self.prop_value}]" if self.prop_key else base


def parse_goal(text: str) -> Goal:
    """One goal from its written form: ``/apply*`` (a page), ``Booking made`` (an event)
    or ``File Download [url=*prospectus*]`` (an event with a prop match). Raises
    :class:`ValueError` with what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("a goal must not be empty")
    if text.startswith("/"):
        if len(text) > MAX_GOAL_PATTERN or any(c in text for c in "\r\n\t "):
            raise ValueError(
                f"{text[:40]!r}: a page goal is a path pattern of at most "
                f"{MAX_GOAL_PATTERN} characters without spaces"
            )
        return Goal("page", text)
    match = _PROP_MATCH.match(text)
    goal = Goal("event", text)
    if match is not None:
        goal = Goal("event", match["name"].strip(), match["key"].strip(), match["value"].strip())
    elif "[" in text or "]" in text:
        raise ValueError(f"{text[:40]!r}: a prop match is written [key=pattern] after the name")
    if not goal.target or len(goal.target) > MAX_GOAL_NAME:
        raise ValueError(f"{text[:40]!r}: an event name has 1 to {MAX_GOAL_NAME} characters")
    return goal


def parse_goals(name: str, raw: str) -> tuple[Goal, ...]:
    """Goals separated by ``;`` or new lines, each as :func:`parse_goal` reads it."""
    goals: list[Goal] = []
    for item in re.split(r"[;\n]", raw):
        if not item.strip():
            continue
        try:
            goal = parse_goal(item)
        except ValueError as error:
            raise SettingsError(
                f"{name}: {error}; write goals such as /apply*; Booking made; "
                "File Download [url=*prospectus*]."
            ) from None
        if goal in goals:
            raise SettingsError(f"{name} names the goal {goal.name!r} twice.")
        goals.append(goal)
    return tuple(goals)
