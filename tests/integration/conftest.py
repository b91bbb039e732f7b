"""Contract-suite fixtures: the same tests on every backend (memory, SQLite, PostgreSQL).

- `backend_name`: "memory", "sqlite", "postgres" or "citus" (a Citus coordinator, with
  ROLLUPS_TEST_CITUS_URL; skipped otherwise). Their params carry the `postgres` / `citus` mark.
- `backend_api`: "sync", or "async" for the params "memory:async", "sqlite:async" and
  "postgres:async" of the contract suites (`test_contract_*`): the same tests through
  `open_rollups_async`'s coroutines, each run to its end on the test's event loop
  (`Blocking`).
- `backend_url`: the URL of an empty database of that backend for this test (memory: a fresh
  "memory://" each time it is opened, so reopening does not keep data).
- `backend`: a `Rollups` opened on `backend_url` with the fixed clock.
- `open_backend(**options)`: open another `Rollups` on `backend_url` (e.g. with `chunk_days`).
- `reset_backend()`: empty the database behind `backend` (between hypothesis examples).
- `db`: an empty SQLite or PostgreSQL database URL, for end-to-end tests (CLI, processes).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.asynchronous import open_rollups_async
from reporting_rollups.application.async_service import AsyncCapture, AsyncReports
from reporting_rollups.application.service import Rollups
from reporting_rollups.testing import memory_rollups
from tests.conftest import fixed_clock, reset_postgres
from tests.host_db import host_url  # noqa: F401 (a fixture: a database laid out like the host's)

BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("citus", marks=pytest.mark.citus),
]
#: The contract suites (`test_contract_*` modules) run through the async API too.
ASYNC_BACKENDS = [
    "memory:async",
    "sqlite:async",
    pytest.param("postgres:async", marks=pytest.mark.postgres),
]
_VERSION_TABLES = {"alembic_version", "reporting_rollup_alembic_version"}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    open_rollups(f"sqlite:///{path}", clock=fixed_clock).close()
    return path


def copy_sqlite(template: Path, target: Path) -> None:
    """Copy a closed SQLite database, with its WAL files if it left any."""
    for suffix in ("", "-wal", "-shm"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copyfile(source, target.with_name(target.name + suffix))


def reset_sqlite(path: Path) -> None:
    """Empty every table of a SQLite database except the migration bookkeeping."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        with connection:
            for name in names:
                if name not in _VERSION_TABLES:
                    connection.execute(f'DELETE FROM "{name}"')
    finally:
        connection.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """For end-to-end tests of the SQL backends: an empty database URL, a fresh SQLite file or
    the session's PostgreSQL database reset."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rollups.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    yield url
    reset_postgres(url)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every backend for the tests that use one; the async API too in the contract suites."""
    if "backend_choice" in metafunc.fixturenames:
        contract = metafunc.module.__name__.rsplit(".", 1)[-1].startswith("test_contract_")
        params = BACKENDS + ASYNC_BACKENDS if contract else BACKENDS
        metafunc.parametrize("backend_choice", params, indirect=True)


@pytest.fixture
def backend_choice(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(backend, api) of this run of the test (`pytest_generate_tests`)."""
    name, _, api = str(request.param).partition(":")
    return name, api or "sync"


@pytest.fixture
def backend_name(backend_choice: tuple[str, str]) -> str:
    """Which backend this run of the test uses."""
    return backend_choice[0]


@pytest.fixture
def backend_api(backend_choice: tuple[str, str]) -> str:
    """Which API this run of the test goes through: "sync" or "async"."""
    return backend_choice[1]


class Blocking:
    """An `AsyncRollups` (or its `reports`, `capture`) as the synchronous tests call it: each
    coroutine run to its end on `loop`; a call from a callback of a call in progress (which
    cannot wait for the loop) goes to `side()`, as another caller's would. What it has no
    coroutine for (a store a test reaches into, as a host writing raw rows would) is also
    `side()`'s: synchronous rollups on the same database (on PostgreSQL another pool, since
    the async one needs the greenlet bridge)."""

    def __init__(
        self, target: Any, loop: asyncio.AbstractEventLoop, side: Callable[[], Any]
    ) -> None:
        self._target = target
        self._loop = loop
        self._side = side

    def __getattr__(self, name: str) -> Any:
        if not hasattr(self._target, name):
            return getattr(self._side(), name)
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):

            def run(*args: Any, **kwargs: Any) -> Any:
                if self._loop.is_running():  # called back from a call in progress: as another
                    return getattr(self._side(), name)(*args, **kwargs)  # caller would call
                return self._loop.run_until_complete(value(*args, **kwargs))

            return run
        if isinstance(value, AsyncReports | AsyncCapture):
            return Blocking(value, self._loop, lambda: getattr(self._side(), name))
        return value

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def backend_url(backend_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of the backend."""
    if backend_name == "memory":
        return "memory://"
    if backend_name == "sqlite":
        path = tmp_path / "rollups.db"
        copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("citus_url" if backend_name == "citus" else "postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture
def open_backend(backend_url: str, backend_api: str) -> Iterator[Callable[..., Rollups]]:
    """Opens `Rollups` on the test's database (closed at the end of the test); through the
    async API (`Blocking`) when `backend_api` says so."""
    opened: list[Any] = []
    loop = asyncio.new_event_loop() if backend_api == "async" else None

    def opener(**options: Any) -> Rollups:
        options.setdefault("clock", fixed_clock)
        rollups: Any
        if loop is not None:
            url = None if backend_url == "memory://" else backend_url
            opened_async = loop.run_until_complete(open_rollups_async(url, **options))
            if url is None or url.startswith("sqlite"):
                side = functools.partial(lambda target: target, opened_async.target)
            else:
                side = functools.cache(lambda: opener_sync(**{**options, "migrate": False}))
            rollups = Blocking(opened_async, loop, side)
        else:
            rollups = opener_sync(**options)
            return rollups
        opened.append(rollups)
        return cast(Rollups, rollups)

    def opener_sync(**options: Any) -> Rollups:
        rollups = (
            # through the testing kit, so that the contract suite verifies the fake hosts use
            memory_rollups(**options)
            if backend_url == "memory://"
            else open_rollups(backend_url, **options)
        )
        opened.append(rollups)
        return rollups

    yield opener
    for rollups in reversed(opened):
        rollups.close()
    if loop is not None:
        loop.close()


@pytest.fixture
def backend(open_backend: Callable[..., Rollups]) -> Rollups:
    """A `Rollups` on an empty database of the backend, with the fixed clock."""
    return open_backend()


@pytest.fixture
def reset_backend(backend: Rollups, backend_name: str, backend_url: str) -> Callable[[], None]:
    """Empties the database behind `backend`."""

    def reset() -> None:
        if backend_name == "memory":
            db = backend.uow_factory.db  # type: ignore[attr-defined]
            for table in (
                db.events,
                db.event_accounts,
                db.applied,
                db.rollups,
                db.members,
                db.accounts,
                db.horizons,
                db.windows,
                db.jobs,
                db.job_accounts,
            ):
                table.clear()
        elif backend_name == "sqlite":
            reset_sqlite(Path(backend_url.removeprefix("sqlite:///")))
        else:
            reset_postgres(backend_url)

    return reset
