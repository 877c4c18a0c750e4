"""Which values of a property a question keeps: Plausible's filter operators, as SQL.

A :class:`Filter` on one property is a list of clauses that must all hold (``;``
between two filters of the same property in v1, ``and`` in v2). A
:class:`Clause` holds when the value matches any of its patterns (``|`` in v1),
or, negated (``!=``, ``is_not``), none of them. A pattern is an exact value, a
wildcard (``*`` and ``**``, any run of characters, as Plausible reads them), a
substring (``contains``) or a regular expression (``matches``, RE2 as ClickHouse
runs it). Values are always bound parameters, never spliced into the SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.exceptions import BadStatsQuery

MAX_PATTERNS = 100
"""At most this many values in one filter: a longer list is a mistake, or an attack."""


class Match(StrEnum):
    """How a pattern is compared with a value."""

    IS = "is"  # the same text
    WILDCARD = "wildcard"  # ``*`` or ``**`` stand for any run of characters
    CONTAINS = "contains"  # the value contains the text
    MATCHES = "matches"  # a regular expression (RE2) finds a match in the value


_REGEX_SPECIAL = frozenset("\\.^$|?+()[]{}")


def wildcard_regex(pattern: str) -> str:
    """The anchored RE2 expression of a wildcard pattern (Plausible's ``page_regex``)."""
    parts: list[str] = []
    for char in pattern:
        if char == "*":
            if not parts or parts[-1] != ".*":
                parts.append(".*")
        else:
            parts.append("\\" + char if char in _REGEX_SPECIAL else char)
    return "^" + "".join(parts) + "$"


@dataclass(frozen=True)
class Clause:
    """Any of ``patterns`` matches (or, ``negated``, none does)."""

    patterns: tuple[tuple[Match, str], ...]
    negated: bool = False

    def __post_init__(self) -> None:
        if not self.patterns:
            raise BadStatsQuery("A filter needs at least one value.")
        if len(self.patterns) > MAX_PATTERNS:
            raise BadStatsQuery(f"A filter may list at most {MAX_PATTERNS} values.")

    def sql(self, column: str, name: str) -> str:
        """The condition on ``column``, its values bound as ``{NAME_i:...}``."""
        exact = [i for i, (how, _) in enumerate(self.patterns) if how is Match.IS]
        alternatives = [f"{column} IN {{{name}_in:Array(String)}}"] if exact else []
        for i, (how, _) in enumerate(self.patterns):
            if how is Match.CONTAINS:
                alternatives.append(f"position({column}, {{{name}_{i}:String}}) > 0")
            elif how is not Match.IS:
                alternatives.append(f"match({column}, {{{name}_{i}:String}})")
        either = " OR ".join(alternatives)
        return f"NOT ({either})" if self.negated else f"({either})"

    def parameters(self, name: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        exact = [text for how, text in self.patterns if how is Match.IS]
        if exact:
            values[f"{name}_in"] = exact
        for i, (how, text) in enumerate(self.patterns):
            if how is Match.WILDCARD:
                values[f"{name}_{i}"] = wildcard_regex(text)
            elif how is not Match.IS:
                values[f"{name}_{i}"] = text
        return values


@dataclass(frozen=True)
class Filter:
    """Every clause holds; a plain value (the dashboard's filters) is one exact clause."""

    clauses: tuple[Clause, ...]

    @classmethod
    def equal(cls, value: str) -> Filter:
        return cls((Clause(((Match.IS, value),)),))

    def also(self, other: Filter) -> Filter:
        """This filter and ``other`` on the same property, both holding."""
        return Filter(self.clauses + other.clauses)

    @property
    def equals(self) -> str | None:
        """The one value this filter keeps, when it is a plain equality."""
        if len(self.clauses) == 1 and not self.clauses[0].negated:
            patterns = self.clauses[0].patterns
            if len(patterns) == 1 and patterns[0][0] is Match.IS:
                return patterns[0][1]
        return None

    def sql(self, column: str, name: str) -> str:
        return " AND ".join(c.sql(column, f"{name}_{i}") for i, c in enumerate(self.clauses))

    def parameters(self, name: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for i, clause in enumerate(self.clauses):
            values.update(clause.parameters(f"{name}_{i}"))
        return values


def v1_clause(value: str) -> Clause:
    """One v1 filter's value: ``a|b`` is either, ``\\|`` a literal bar, ``*`` a wildcard.

    A leading ``~`` (Plausible's dashboard syntax) asks for the values containing the text.
    """
    contains = value.startswith("~")
    if contains:
        value = value[1:]
    alternatives = _split_bars(value)
    patterns = []
    for text in alternatives:
        if contains:
            patterns.append((Match.CONTAINS, text))
        elif "*" in text:
            patterns.append((Match.WILDCARD, text))
        else:
            patterns.append((Match.IS, text))
    return Clause(tuple(patterns))


def _split_bars(value: str) -> list[str]:
    """``value`` cut at each ``|`` not written ``\\|``, the escapes removed."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append(char if char == "|" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts
