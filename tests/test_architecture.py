"""The layers drawn in docs/architecture.md, held: imports point down, never up or around.

Every ``gateway`` module belongs to one layer, by its package (``gateway/stats/``)
or, for the modules at the top of the package, by name. A module may import its
own layer and the layers below it; an import of a higher layer, an import
hidden inside a function (the usual way to dodge a cycle), or a module no layer
claims fails here with the line to fix.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
ARCHITECTURE = GATEWAY.parent / "docs" / "architecture.md"

# Bottom first. A package's name stands for all its modules; a top-level module by name.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "base",
        {
            "gateway",
            "asgi",
            "clock",
            "exceptions",
            "request_id",
            "iptools",
            "processes",
            "histograms",
            "settings_parsers",
            "settings_banner",
            "settings_analytics",
            "settings_reports",
            "settings_fields",
            "settings",
            "settings_reference",
            "hosts",
            "sites",
            "site_scope",
            "sites_file",
            "errors",
            "json_body",
            "request_body",
            "signing",
            "cookies",
            "own_cookies",
            "client_ip",
            "context",
            "ratelimit",
            "session",
            "own_headers",
            "caching",
            "write_coalescing",
            "limits",
        },
    ),
    ("storage", {"storage", "audit", "commands"}),
    ("geo", {"geo"}),
    ("stats", {"stats"}),
    ("analytics", {"analytics"}),
    ("consent", {"consent"}),
    ("proxy", {"proxy"}),
    ("banner", {"banner"}),
    ("privacy", {"privacy"}),
    ("ops", {"ops"}),
    ("reports", {"reports"}),
    ("services", {"services", "site_services"}),
    ("admin", {"admin"}),
    ("assembly", {"app", "site_apps", "front_door", "server", "workers"}),
    ("demo", {"demo"}),
    ("entry points", {"cli", "__main__"}),
]
# Modules that import lazily on purpose: the command line loads a command's code only
# when that command runs, so `--help` and quick commands stay quick.
LAZY_IMPORTS_ALLOWED = {"gateway.cli"}


def module_name(path: Path) -> str:
    parts = path.relative_to(GATEWAY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    unit = parts[1] if len(parts) > 1 else "gateway"
    for index, (_, units) in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and the drawing")


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """The ``gateway`` modules ``path`` imports: name, line, and whether inside a function."""
    tree = ast.parse(path.read_text())
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(sub) for sub in ast.walk(node) if sub is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == "gateway" or name.startswith("gateway."):
                found.append((name, node.lineno, id(node) in nested))
    return found


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for path in sorted(GATEWAY.rglob("*.py")):
        module = module_name(path)
        mine = layer_of(module)
        for name, line, in_function in imports(path):
            theirs = layer_of(name)
            where = f"{path.relative_to(GATEWAY.parent)}:{line} imports {name}"
            if theirs > mine:
                wrong.append(
                    f"{where}, a higher layer ({LAYERS[theirs][0]} over {LAYERS[mine][0]})"
                )
            if in_function and module not in LAZY_IMPORTS_ALLOWED:
                wrong.append(f"{where} inside a function: import it at the top")
    assert not wrong, "\n".join(wrong)


def test_the_drawing_names_the_same_layers() -> None:
    text = ARCHITECTURE.read_text()
    drawn = re.findall(r"^\| (\d+) \| ([a-z ]+) \|", text, re.MULTILINE)
    assert [(int(n), name.strip()) for n, name in drawn] == [
        (index + 1, name) for index, (name, _) in reversed(list(enumerate(LAYERS)))
    ], "docs/architecture.md's table of layers and LAYERS here must agree (top first)"


_LISTED = re.compile(r"^\s*([a-z_]+)(?:\.py)?\s{2,}\S", re.MULTILINE)


def test_a_package_that_lists_its_modules_lists_them_all() -> None:
    wrong = []
    for init in sorted(GATEWAY.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        listed = set(_LISTED.findall(doc))
        if not listed:
            continue
        present = {p.stem for p in init.parent.glob("*.py")} - {"__init__"}
        if listed != present:
            wrong.append(
                f"{init.relative_to(GATEWAY.parent)}: lists {sorted(listed - present)} that are "
                f"not there and misses {sorted(present - listed)}"
            )
    assert not wrong, "\n".join(wrong)
