"""The built wheel, installed into a fresh virtualenv beside a host project that has packages of
its own named `domain`, `application` and `adapters` (common in layered apps): the host's
packages and reporting_rollups are both importable and work, the `rollups` command runs, and
the testing kit's pytest plugin is registered.

The wheel is built from a copy of the project (pyproject, README, src) with pip's isolated
build; the fresh virtualenv reaches the dependencies through a path entry to this interpreter's
site-packages, behind its own, so that only the wheel provides reporting_rollups.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

HOST_FILES = {
    "domain/__init__.py": "",
    "domain/events.py": "class HostEvent:\n    kind = 'host'\n",
    "application/__init__.py": "",
    "application/services.py": "def greet() -> str:\n    return 'host application'\n",
    "adapters/__init__.py": "NAME = 'host adapters'\n",
}

HOST_SCRIPT = textwrap.dedent(
    """
    from datetime import UTC, datetime

    import adapters
    from application.services import greet
    from domain.events import HostEvent

    import reporting_rollups
    from reporting_rollups import Event, open_rollups

    assert reporting_rollups.__file__.startswith(SITE), reporting_rollups.__file__
    assert HostEvent.kind == "host" and greet() == "host application"
    assert adapters.NAME == "host adapters"
    with open_rollups("sqlite:///" + DB) as rollups:
        rollups.set_timezone(1, "UTC")
        result = rollups.record(
            [Event(id=1, name="reply_time", account_id=1,
                   created_at=datetime(2026, 11, 20, 9, tzinfo=UTC), value=5.0)]
        )
        assert result.rolled_up == 1, result
        assert rollups.verify(1).mismatches == []
    from importlib.metadata import entry_points

    plugins = {entry.value for entry in entry_points(group="pytest11")}
    assert "reporting_rollups.testing.plugin" in plugins, plugins
    from reporting_rollups.testing import EventFactory, memory_rollups

    with memory_rollups() as fake:
        assert fake.record(EventFactory().many(2)).stored == 2
    print("ok")
    """
)


def test_the_wheel_installs_beside_a_host_with_its_own_domain_application_adapters(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("reporting_rollups-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies from this interpreter, after the fresh environment's own site-packages.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # pip of this interpreter installs into the fresh environment (console script included).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    host = tmp_path / "host"
    for relative, text in HOST_FILES.items():
        path = host / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    script = host / "main.py"
    script.write_text(f"SITE = {str(site)!r}\nDB = {str(tmp_path / 'r.db')!r}\n" + HOST_SCRIPT)
    done = subprocess.run(
        [str(python), str(script)], cwd=host, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

    command = subprocess.run(
        [
            str(env_dir / "bin" / "rollups"),
            "--db",
            f"sqlite:///{tmp_path / 'r.db'}",
            "rows",
            "--account",
            "1",
            "--format",
            "csv",
        ],
        cwd=host,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert command.returncode == 0, command.stderr
    assert "reply_time" in command.stdout
