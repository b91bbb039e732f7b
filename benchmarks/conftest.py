"""Benchmark fixtures: sizes by mode, databases per adapter, and how results are described.

Mode: ``ROLLUPS_BENCH_MODE=quick`` (the default: tiny sizes, one round, for CI) or ``full`` (the
sizes of the issue; for the README's figures), or ``--bench-mode``. PostgreSQL comes from
``ROLLUPS_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); every
PostgreSQL benchmark gets its own fresh database, dropped afterwards. Files named ``bench_*.py``
are collected here, whatever ``python_files`` says.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import itertools
import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from psycopg import sql

sys.path.insert(0, str(Path(__file__).parent))

import baselines
import workload
from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.sql import tables
from reporting_rollups.application.service import Rollups

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ADAPTERS = ("memory", "sqlite", "postgres")


@attrs.frozen
class Sizes:
    """How big each benchmark is in a mode."""

    mode: str
    rounds: int  #: rounds of the write benchmarks
    query_rounds: int  #: rounds of the report queries
    single: int  #: events per round, one per record() call
    reference: int  #: events per round of the per-event reference write path
    batches: tuple[int, int]  #: events per record() call: (small, large)
    backfill: int  #: raw events of the backfilled account-year
    backfill_rounds: int
    reports: tuple[int, int]  #: raw events in the database: (small, large)
    projection: int  #: events per round of the pure projection
    ingest: tuple[int, int]  #: events in the file given to `rollups ingest`: (small, large)
    huge: int = 1_000_000  #: events of the one huge `record()` whose memory is measured


QUICK = Sizes(
    mode="quick",
    rounds=1,
    query_rounds=2,
    single=30,
    reference=30,
    batches=(100, 1_000),
    backfill=5_000,
    backfill_rounds=1,
    reports=(2_000, 20_000),
    projection=5_000,
    ingest=(2_000, 20_000),
    huge=30_000,
)
FULL = Sizes(
    mode="full",
    rounds=5,
    query_rounds=15,
    single=2_000,
    reference=2_000,
    batches=(1_000, 10_000),
    backfill=1_000_000,
    backfill_rounds=2,
    reports=(200_000, 2_000_000),
    projection=200_000,
    ingest=(100_000, 1_000_000),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-mode",
        choices=("quick", "full"),
        default=None,
        help="benchmark sizes (default: $ROLLUPS_BENCH_MODE or quick)",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``bench_*.py`` files unless pytest already does (``python_files`` matches them, or
    the file was named on the command line)."""
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if parent.session.isinitpath(file_path):
        return None
    patterns = parent.config.getini("python_files")
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns):
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def mode_of(config: pytest.Config) -> str:
    """The benchmark mode in force."""
    option = config.getoption("--bench-mode")
    mode = option or os.environ.get("ROLLUPS_BENCH_MODE", "quick")
    if mode not in ("quick", "full"):
        raise pytest.UsageError(f"ROLLUPS_BENCH_MODE={mode!r}: use quick or full")
    return str(mode)


@pytest.fixture(scope="session")
def sizes(pytestconfig: pytest.Config) -> Sizes:
    """The sizes of this run's mode."""
    return FULL if mode_of(pytestconfig) == "full" else QUICK


# --- databases ---------------------------------------------------------------------------------


def _server_url() -> str:
    return os.environ.get("ROLLUPS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of a reachable PostgreSQL server, or skip."""
    url = _server_url()
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        pytest.skip(f"PostgreSQL not reachable at {url.split('@')[-1]}: {error}".strip())
    return url


def create_database(server_url: str) -> tuple[str, str]:
    """Create a uniquely named database; return (name, url)."""
    name = f"rollups_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop a database made by `create_database`, disconnecting its sessions."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class Databases:
    """Makes fresh databases for one test (or module) and removes them afterwards."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._pg: list[tuple[str, str]] = []

    def url(self, adapter: str, request: pytest.FixtureRequest, *, library: bool = True) -> str:
        """A fresh, empty database of the adapter; for the library's use (the default), skips
        when the library's adapter is not available."""
        if library:
            require_adapter(adapter)
        if adapter == "memory":
            return "memory://"
        if adapter == "sqlite":
            path = self.tmp / f"bench_{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}"
        server = request.getfixturevalue("pg_server")
        name, url = create_database(server)
        self._pg.append((server, name))
        return url

    def close(self) -> None:
        """Drop every PostgreSQL database made."""
        for server, name in self._pg:
            drop_database(server, name)
        self._pg.clear()


def require_adapter(adapter: str) -> None:
    """Skip unless the library's adapter module exists (the SQL adapters landed later)."""
    module = {
        "memory": "reporting_rollups.adapters.memory",
        "sqlite": "reporting_rollups.adapters.sqlite",
    }.get(adapter, "reporting_rollups.adapters.postgres")
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not available yet")


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    """Fresh databases for one benchmark, removed afterwards."""
    made = Databases(tmp_path)
    try:
        yield made
    finally:
        made.close()


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL."""
    return url.removeprefix("sqlite:///")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL of a database URL (psycopg 3 driver for PostgreSQL)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def open_library(url: str, **options: Any) -> Rollups:
    """The library on a database, with the workload's fixed clock (`options` as `open_rollups`
    takes them)."""
    return open_rollups(url, clock=lambda: workload.NOW, **options)


def configure(rollups: Rollups, accounts: tuple[int, ...] = workload.ACCOUNTS) -> None:
    """Give the accounts their reporting zones (nothing to rebuild yet)."""
    for account in accounts:
        rollups.set_timezone(account, workload.zone_of(account), rebuild=False)


# --- describing results ------------------------------------------------------------------------


def describe(
    benchmark: Any,
    *,
    bench: str,
    adapter: str,
    events: int,
    mode: str,
    role: str = "library",
    compare: list[dict[str, Any]] | None = None,
    min_events_per_s: float | None = None,
    expect: str | None = None,
    **more: Any,
) -> None:
    """Record what `benchmark` measured, for `report.py`.

    `bench` names the measurement (unique per adapter); `events` is the number of events one
    round handles; `compare` lists baselines of the same adapter: ``{"baseline": bench, "min":
    ratio}`` (throughput ratio, higher is better) or ``{"baseline": bench, "measure": "time",
    "max": ratio}`` (time ratio); no ``min``/``max`` means information only. `expect` is a
    calibration figure. ``throughput=False`` (in `more`) hides events/s where a round is not
    a pass over `events` (report queries: `events` is the database's size).
    """
    benchmark.extra_info.update(
        {
            "bench": bench,
            "adapter": adapter,
            "events": events,
            "mode": mode,
            "role": role,
            "compare": compare or [],
            "min_events_per_s": min_events_per_s,
            "expect": expect,
            **more,
        }
    )


# --- datasets shared by consecutive benchmarks -------------------------------------------------


@attrs.define
class Dataset:
    """A loaded database shared by the benchmarks of one module that need the same data."""

    adapter: str
    url: str
    rollups: Rollups
    events: int  #: raw events loaded
    info: dict[str, Any] = attrs.field(factory=dict)


class DatasetCache:
    """Holds one dataset at a time: asking for another key tears the current one down."""

    def __init__(self, tmp: Path) -> None:
        self.databases = Databases(tmp)
        self.key: tuple[Any, ...] | None = None
        self.current: Dataset | None = None

    def get(
        self,
        key: tuple[Any, ...],
        adapter: str,
        request: pytest.FixtureRequest,
        build: Any,
    ) -> Dataset:
        """The dataset of `key`, built by ``build(adapter, url) -> Dataset`` when missing."""
        if self.key == key and self.current is not None:
            return self.current
        self.close()
        url = self.databases.url(adapter, request)
        self.current = build(adapter, url)
        self.key = key
        return self.current

    def close(self) -> None:
        """Tear down the current dataset."""
        if self.current is not None:
            self.current.rollups.close()
            self.current = None
            self.key = None
        self.databases.close()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatasetCache]:
    """The module's dataset cache (tests that share a dataset must be consecutive)."""
    cache = DatasetCache(tmp_path_factory.mktemp("datasets"))
    try:
        yield cache
    finally:
        cache.close()


def load_raw(dataset_adapter: str, url: str, rollups: Rollups, rows: Iterable[workload.Row]) -> int:
    """Write raw events as the host would, without the library (memory: `record()` while the
    accounts have no zone, which stores them only). Returns how many were written."""
    if dataset_adapter == "postgres":
        return baselines.postgres_load_raw(url, rows)
    if dataset_adapter == "sqlite":
        return baselines.sqlite_load_raw(sqlite_path(url), rows)
    count = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, 50_000)):
        count += rollups.record([workload.to_event(row) for row in chunk]).stored
    return count


#: The library's tables that hold derived state (rollups, members, applied marks).
DERIVED_TABLES = (
    tables.reporting_events_rollups.name,
    tables.rollup_members.name,
    tables.rollup_applied_events.name,
)


def clear_derived(adapter: str, url: str, rollups: Rollups, account: int) -> None:
    """Empty the rollups, members and applied marks (memory: of `account`, by resetting its
    zone), leaving raw events and settings."""
    if adapter == "postgres":
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(sql.Identifier(name) for name in DERIVED_TABLES)
                )
            )
    elif adapter == "sqlite":
        connection = baselines.sqlite_connect(sqlite_path(url))
        try:
            for name in DERIVED_TABLES:
                connection.execute(f"DELETE FROM {name}")
        finally:
            connection.close()
    else:
        rollups.set_timezone(account, None)
        rollups.set_timezone(account, workload.zone_of(account), rebuild=False)
