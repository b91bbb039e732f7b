"""The import rule: domain uses stdlib + attrs; application adds domain; nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

ALLOWED: dict[str, set[str]] = {
    "domain": {"attrs", "domain"},
    "application": {"attrs", "domain", "application"},
}
#: Named explicitly so that a wrong stdlib list can never let them through.
FORBIDDEN = {
    "adapters",
    "sqlalchemy",
    "psycopg",
    "psycopg_pool",
    "alembic",
    "dependency_injector",
    "typer",
    "rich",
}


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


PACKAGE = "reporting_rollups"


def root_of(module: str) -> str:
    """The layer (`domain`, `application`, `adapters`) of a module of the package, or the
    top-level name of any other module."""
    parts = module.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else parts[0]


def imported_roots(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, layer or top-level package) of every import in the module of `package`, including
    nested and conditional ones and `importlib.import_module("...")` calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, root_of(alias.name)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside the package
                found.append((node.lineno, package))
            elif node.module:
                found.append((node.lineno, root_of(node.module)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, root_of(node.args[0].value)))
    return found


def violations(package: str) -> list[str]:
    allowed = ALLOWED[package]
    problems = []
    for path in modules(package):
        for line, root in imported_roots(path, package):
            if root in FORBIDDEN or (root not in allowed and root not in sys.stdlib_module_names):
                problems.append(f"{path.relative_to(SRC)}:{line} imports {root}")
    return problems


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert modules(package), f"no modules found under {SRC / package}"
    problems = violations(package)
    assert not problems, "\n".join(problems)


def test_the_checker_sees_forbidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from reporting_rollups.adapters.memory import InMemoryDatabase\n"
        "def f():\n"
        "    import sqlalchemy.orm\n"
        "    import reporting_rollups.application.ports\n"
        "    return importlib.import_module('psycopg')\n",
        encoding="utf-8",
    )
    roots = [root for _, root in imported_roots(sample, "domain")]
    assert roots == ["os", "typing", "adapters", "sqlalchemy", "application", "psycopg"]


#: The storage adapters: they see the application only through its ports.
STORAGE = ("memory", "sql", "sqlite", "postgres")


def application_modules_imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `reporting_rollups.application...` module a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module
            else []
        )
        found += [
            (node.lineno, name) for name in names if name.startswith(f"{PACKAGE}.application")
        ]
    return found


@pytest.mark.parametrize("backend", STORAGE)
def test_storage_adapters_import_only_the_ports_of_the_application(backend: str) -> None:
    paths = modules(f"adapters/{backend}")
    assert paths
    problems = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in paths
        for line, name in application_modules_imported(path)
        if name != f"{PACKAGE}.application.ports"
    ]
    assert problems == []


def test_the_storage_check_sees_a_use_case_import(tmp_path: Path) -> None:
    sample = tmp_path / "store.py"
    sample.write_text(
        "from reporting_rollups.application.ports import AppliedRef\n"
        "from reporting_rollups.application.live import fold\n"
        "import reporting_rollups.application.reports\n"
    )
    assert application_modules_imported(sample) == [
        (1, "reporting_rollups.application.ports"),
        (2, "reporting_rollups.application.live"),
        (3, "reporting_rollups.application.reports"),
    ]
