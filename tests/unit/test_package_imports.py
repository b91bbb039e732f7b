"""The installed import package: one name, `reporting_rollups`, with lazy re-exports at its root,
so that importing the model loads no database driver, SQLAlchemy, typer or rich."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import reporting_rollups

HEAVY = ("sqlalchemy", "psycopg", "psycopg_pool", "alembic", "dependency_injector", "typer", "rich")


def loaded_after(statement: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running `statement`."""
    probe = (
        f"{statement}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import reporting_rollups",
        "import reporting_rollups.domain",
        "from reporting_rollups import Event, RollupError, RollupKey, ZoneChangedError",
        "import reporting_rollups.application.service",
    ],
)
def test_the_model_and_use_cases_load_no_driver(statement: str) -> None:
    assert loaded_after(statement) == []


def test_open_rollups_loads_the_composition_root_and_a_sql_backend_only_when_opened() -> None:
    assert loaded_after("from reporting_rollups import open_rollups") == ["dependency_injector"]
    opened = loaded_after(
        "from reporting_rollups import open_rollups\n"
        "import tempfile, os\n"
        "path = os.path.join(tempfile.mkdtemp(), 'r.db')\n"
        "open_rollups(f'sqlite:///{path}').close()"
    )
    assert {"sqlalchemy", "alembic", "dependency_injector"} <= set(opened)


def test_every_public_name_is_importable_from_the_root() -> None:
    for name in reporting_rollups.__all__:
        assert getattr(reporting_rollups, name) is not None, name
    assert set(reporting_rollups.__all__) <= set(dir(reporting_rollups))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = reporting_rollups.nothing_here  # type: ignore[attr-defined]


def test_the_old_top_level_names_are_not_installed() -> None:
    probe = (
        "import importlib.util as u; "
        "print([u.find_spec(n) for n in ('domain', 'application', 'adapters')])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd="/",
    )
    assert done.stdout.strip() == "[None, None, None]"
