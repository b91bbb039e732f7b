"""No circular imports inside the package: the graph of every import between its modules (at
module level, in functions and under TYPE_CHECKING alike) has no cycle. An import names the
module it imports (`from a.b import c` names `a.b.c` when that is a module, else `a.b`), and the
subpackages it passes through below the layers (`adapters.cli` for `adapters.cli.tables`: their
`__init__` runs first). The package root and the layers' `__init__` modules are the doors of the
public API (lazy or thin), not counted as passed through."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "reporting_rollups"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in SRC.rglob("*.py")}


def passed_through(name: str) -> list[str]:
    """The subpackages below the layers that importing module `name` initialises first."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(3, len(parts))]


def imports(path: Path, known: set[str]) -> set[str]:
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                if name in known:
                    named.add(name)
                elif node.module in known:
                    named.add(node.module)
    # A module inside a subpackage runs after that subpackage's __init__: not a dependency.
    own = set(passed_through(module_name(path) + ".x"))
    return named | {p for name in named for p in passed_through(name) if p not in own}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [{"a", "b", "c"}]
