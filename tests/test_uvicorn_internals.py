"""The private parts of uvicorn that ``gateway/limits.py`` builds on are still there.

``LimitedHttpToolsProtocol`` subclasses uvicorn's httptools protocol and reads
attributes of its request cycle and flow control, none of which uvicorn
promises to keep. pyproject pins uvicorn to the versions checked; this test
says which part moved when a new one is tried.
"""

from __future__ import annotations

import ast
import inspect
from importlib.metadata import version

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

# What limits.py calls or reads, by the class that must provide it.
USED = {
    HttpToolsProtocol: [
        "connection_made",
        "connection_lost",
        "data_received",
        "on_message_begin",
        "on_url",
        "on_header",
        "on_headers_complete",
        "on_body",
        "on_message_complete",
        "send_400_response",
        "_should_upgrade",
        "cycle",
        "parser",
        "transport",
        "flow",
        "logger",
        "headers",
        "loop",
    ],
    RequestResponseCycle: [
        "scope",
        "disconnected",
        "keep_alive",
        "message_event",
        "more_body",
        "response_complete",
        "response_started",
    ],
    FlowControl: ["read_paused"],
}


def provided(cls: type) -> set[str]:
    """The class's attributes and the names its ``__init__`` (or its methods) assign on self."""
    names = set(dir(cls))
    tree = ast.parse(inspect.getsource(cls))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            names.add(node.attr)
    return names


@pytest.mark.parametrize("cls", list(USED), ids=lambda cls: cls.__name__)
def test_the_private_parts_limits_relies_on_exist(cls: type) -> None:
    missing = sorted(set(USED[cls]) - provided(cls))
    assert not missing, (
        f"uvicorn {version('uvicorn')}: {cls.__name__} no longer has {', '.join(missing)}, "
        "which gateway/limits.py relies on; adapt limits.py or keep uvicorn below this version "
        "in pyproject.toml"
    )


def test_every_private_attribute_limits_uses_is_listed_here() -> None:
    import gateway.limits

    tree = ast.parse(inspect.getsource(gateway.limits))
    ours = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)} | {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ast.Store)
    }
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
        and node.value.attr in ("cycle", "flow")
    } | {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ast.Load)
    }
    listed = {name for names in USED.values() for name in names}
    unlisted = sorted(used - ours - listed - {"limits"})
    assert not unlisted, f"limits.py uses uvicorn's {unlisted}: add them to USED above"
