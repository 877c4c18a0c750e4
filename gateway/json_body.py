"""Parsing a JSON request body with a bound on how deep it nests.

Python's ``json`` recurses once per array or object, so a few kilobytes of
``[[[[...`` raise ``RecursionError`` deep inside the parser. Every endpoint that
reads JSON from outside (the beacon, the consent API, the erase form, the admin
listener's local commands) parses through :func:`parse_json`, which measures the
nesting before ``json.loads`` runs and raises
:class:`~gateway.exceptions.JsonTooDeep` (a 400) past :data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from gateway.exceptions import JsonTooDeep

# No body the gateway takes nests more than a few levels (a beacon's props: four).
MAX_JSON_DEPTH = 32

# What is not a bracket: a JSON string with its escapes (RFC 8259 §7), inside which
# brackets do not nest, and any run of other characters. A string left open runs to
# the end, so that every quote matches at once and the scan stays linear.
_NOT_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[^\[\]{}"]+', re.DOTALL)
# Opening brackets become the signed byte 1, closing ones -1, so that the running
# sum (in C, through a memoryview) is the depth at each bracket.
_STEP = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``: 0 for a scalar, 1 for ``[]``.

    Brackets inside strings are skipped; in text that is not JSON the count is
    still bounded by the brackets present, which is all the guard needs.
    """
    brackets = _NOT_BRACKET.sub("", text)
    steps = memoryview(brackets.translate(_STEP).encode("latin-1")).cast("b")
    return max(accumulate(steps), default=0)


def parse_json(body: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(body)``, refusing with :class:`JsonTooDeep` a body nested past ``max_depth``.

    Bytes are decoded as ``json.loads`` decodes them (UTF-8, -16 or -32, a BOM
    allowed); bad bytes raise ``UnicodeDecodeError`` and bad JSON ``ValueError``,
    as ``json.loads`` does. A body with no more opening brackets than the bound
    cannot nest past it, so only bodies with many brackets are scanned.
    """
    if isinstance(body, str):
        text = body
    else:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JsonTooDeep(
            f"The JSON body nests arrays and objects more than {max_depth} levels deep; "
            "send a flatter body."
        )
    return json.loads(text)
