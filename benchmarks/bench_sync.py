"""`rollups sync` (issue 10): how fast captured host writes reach the rollups, on SQLite and
PostgreSQL. The host's rows are written with raw SQL (as the host writes them, not through the
library) into a `reporting_events` with the capture triggers installed; the workload's accounts
have their zones (`rollups.set_timezone`).

- **Throughput** (targets: sync >= 2x record's events/s and >= 10x the reference's). The host
  has inserted N events (`spread` shape; full 1M, quick 20k) in 10k-row statements, so the
  change log holds N changes (then VACUUM ANALYZE / ANALYZE); timed: one `Rollups.sync()`
  applying them all. Baselines of the same run, each in a fresh database: `record()` of the same
  N events in 10k-event batches into an empty database (one round: all the batches), and the
  reference per-event path of `baselines` (one transaction per event) on the first
  `REFERENCE_EVENTS` of them (its rate does not depend on N; a million would take ten minutes on
  PostgreSQL). Checked afterwards: the synced rows equal the recorded ones and `verify()` is
  clean.
- **Lag under a steady host load** (target: p99 < 2 s). A host thread with its own connection
  inserts 100-row statements (one transaction each) every 50 ms, 2,000 events/s, for 60 s
  (quick: 3 s), while `rollups sync --follow --interval 0.5` runs as a real subprocess (started
  first and warmed up on a few events); SIGTERM then stops it, and it must exit 0 with the
  totals. The lag of a host batch is the time from its commit (when the host's commit call
  returned) until it is visible in the rollups. A change leaves the change log in the
  transaction that folds it into the rollups (`application.sync`), so a batch is visible as soon
  as a read of the log finds none of its changes: a poller (its own connection, every
  `POLL_SECONDS`) lists the batches still pending, considering only batches whose commit was
  recorded before the read, and takes the time its read returned. Each lag is thus an upper
  bound, by at most one poll interval plus a read. extra_info has p50, p99 (nearest rank) and
  max, and the rate the host achieved; the benchmark's time is the whole load, until every batch
  is visible (its events/s is the host's rate). The rows are then compared with `record()` of
  the same events.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import psycopg
import pytest

import workload
from baselines import (
    SQLITE_PRAGMAS,
    PostgresReference,
    SQLiteReference,
    create_tables,
    sqlite_connect,
    sqlite_time,
)
from conftest import (
    Databases,
    Sizes,
    configure,
    describe,
    open_library,
    sqlalchemy_url,
    sqlite_path,
)
from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups

ADAPTERS: Final = ("sqlite", "postgres")
SHAPE: Final = "spread"
#: Host events already in the change log when the timed sync starts, per mode.
SYNC_EVENTS: Final = {"quick": 20_000, "full": 1_000_000}
#: Events the per-event reference writes, per mode (a sample of the same events).
REFERENCE_EVENTS: Final = {"quick": 500, "full": 10_000}
#: Rows per host statement in the throughput setup, and events per record() call.
BATCH: Final = 10_000

#: The steady load: host batches of `LOAD_BATCH` rows every `LOAD_PERIOD` s (2,000 events/s).
LOAD_BATCH: Final = 100
LOAD_PERIOD: Final = 0.05
LOAD_SECONDS: Final = {"quick": 3.0, "full": 60.0}
FOLLOW_INTERVAL: Final = 0.5
POLL_SECONDS: Final = 0.05
LAG_TARGET_P99: Final = 2.0
#: The load's first event id (ids below are the warm-up's).
LOAD_FIRST_ID: Final = 1_000_001
WARMUP_EVENTS: Final = 20

_COLUMNS: Final = (
    "id, name, account_id, created_at, value, value_in_business_hours, user_id, inbox_id, "
    "conversation_id, updated_at"
)
_PG_BATCH: Final = (
    f"INSERT INTO reporting_events ({_COLUMNS}) SELECT *, now() FROM unnest("
    "%s::bigint[], %s::text[], %s::int[], %s::timestamp[], %s::float8[], %s::float8[], "
    "%s::int[], %s::int[], %s::int[])"
)
_SQLITE_ROW: Final = f"INSERT INTO reporting_events ({_COLUMNS}) VALUES ({', '.join('?' * 10)})"
#: The load batches with changes still in the log (same SQL on both backends).
_PENDING_BATCHES: Final = (
    f"SELECT DISTINCT (event_id - {LOAD_FIRST_ID}) / {LOAD_BATCH} FROM reporting_rollup_changes "
    f"WHERE event_id >= {LOAD_FIRST_ID}"
)


@functools.cache
def _rows(count: int, shape: str, first_id: int = 1) -> tuple[workload.Row, ...]:
    """The workload's rows, made once per module run (the three throughput measurements of an
    adapter take the same events)."""
    return tuple(workload.rows(count, shape, first_id=first_id))


def _chunks(rows: Sequence[workload.Row], size: int) -> Iterator[Sequence[workload.Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- the host ----------------------------------------------------------------------------------


class Host:
    """The host application's writes: one statement of rows and one commit per call, on its own
    connection, plain psycopg / sqlite3 (the row stamps as the host's ORM writes them)."""

    def __init__(self, adapter: str, url: str) -> None:
        self._pg: psycopg.Connection[Any] | None = None
        self._lite: sqlite3.Connection | None = None
        if adapter == "postgres":
            self._pg = psycopg.connect(url, autocommit=True)
        else:
            # The load thread takes the connection over from the thread that made it.
            self._lite = sqlite3.connect(
                sqlite_path(url), isolation_level=None, check_same_thread=False
            )
            for pragma in (*SQLITE_PRAGMAS, "PRAGMA busy_timeout = 30000"):
                self._lite.execute(pragma)

    def insert(self, rows: Sequence[workload.Row]) -> None:
        """Insert rows in one statement and one transaction."""
        if self._pg is not None:
            self._pg.execute(_PG_BATCH, [list(column) for column in zip(*rows, strict=True)])
            return
        assert self._lite is not None
        stamp = sqlite_time(workload.NOW.replace(tzinfo=None))
        params = [(*row[:3], sqlite_time(row[3]), *row[4:], stamp) for row in rows]
        self._lite.execute("BEGIN IMMEDIATE")
        self._lite.executemany(_SQLITE_ROW, params)
        self._lite.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        if self._pg is not None:
            self._pg.close()
        if self._lite is not None:
            self._lite.close()


class Reader:
    """A read-only connection of its own (autocommit: each query sees what is committed)."""

    def __init__(self, adapter: str, url: str) -> None:
        self._pg: psycopg.Connection[Any] | None = None
        self._lite: sqlite3.Connection | None = None
        if adapter == "postgres":
            self._pg = psycopg.connect(url, autocommit=True)
        else:
            self._lite = sqlite3.connect(sqlite_path(url), isolation_level=None)

    def column(self, statement: str) -> list[Any]:
        """The first column of a query's rows."""
        if self._pg is not None:
            return [row[0] for row in self._pg.execute(statement).fetchall()]
        assert self._lite is not None
        return [row[0] for row in self._lite.execute(statement).fetchall()]

    def close(self) -> None:
        """Close the connection."""
        if self._pg is not None:
            self._pg.close()
        if self._lite is not None:
            self._lite.close()


def _captured_database(adapter: str, databases: Databases, request: pytest.FixtureRequest) -> str:
    """A fresh library database: the workload's zones set, capture installed."""
    url = databases.url(adapter, request)
    with open_library(url) as rollups:
        configure(rollups)
        rollups.capture.install()
    return url


def _analyze(adapter: str, url: str) -> None:
    """Refresh the planner's statistics after a bulk load (as autovacuum would, in time)."""
    if adapter == "postgres":
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("VACUUM ANALYZE")
    else:
        lite = sqlite_connect(sqlite_path(url))
        try:
            lite.execute("ANALYZE")
        finally:
            lite.close()


# --- correctness -------------------------------------------------------------------------------


def assert_same_rows(actual: Rollups, expected: Rollups) -> None:
    """Every workload account has the same rollup rows in both (sums up to float rounding:
    the two add in different orders) and `actual` verifies clean."""
    for account in workload.ACCOUNTS:
        mine, theirs = actual.rows(account), expected.rows(account)
        assert theirs, f"account {account}: nothing to compare with"
        assert [row.key for row in mine] == [row.key for row in theirs], f"account {account}"
        for row, other in zip(mine, theirs, strict=True):
            assert row.value.count == other.value.count, row.key
            assert row.value.sum_value == pytest.approx(other.value.sum_value), row.key
            assert row.value.sum_value_business_hours == pytest.approx(
                other.value.sum_value_business_hours
            ), row.key
        found = actual.verify(account)
        assert found.clean, f"account {account}: {found}"


def _recorded(rows: Sequence[workload.Row]) -> Rollups:
    """An in-memory library that `record()`ed the rows (the expected rollups)."""
    rollups = open_library("memory://")
    configure(rollups)
    for chunk in _chunks(rows, 50_000):
        rollups.record([workload.to_event(row) for row in chunk])
    return rollups


# --- throughput --------------------------------------------------------------------------------


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Move what the benchmark itself holds (the workload's million rows, the prepared events)
    out of the garbage collector's reach while the measured part runs: a sync daemon or a host
    does not carry the benchmark's input in its heap, and neither measured path should pay for
    scanning it. The same for the measurement and its baselines."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _names(shape: str) -> tuple[str, str, str]:
    """(sync, record baseline, reference baseline): names unique among all suites."""
    return (
        f"sync host-written {shape}",
        f"record {BATCH}/batch {shape} (sync's events)",
        f"reference {shape} (sync's events)",
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sync_throughput(
    benchmark: Any,
    adapter: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """`Rollups.sync()` of N host-written events, all in the change log."""
    count = SYNC_EVENTS[sizes.mode]
    rows = _rows(count, SHAPE)
    url = _captured_database(adapter, databases, request)
    host = Host(adapter, url)
    try:
        for chunk in _chunks(rows, BATCH):
            host.insert(chunk)
    finally:
        host.close()
    _analyze(adapter, url)
    with open_library(url) as rollups:
        assert rollups.capture.status().pending == count
        with _frozen_heap():
            result = benchmark.pedantic(rollups.sync, rounds=1, iterations=1, warmup_rounds=0)
        assert (result.applied, result.consumed, result.pending) == (count, count, 0)
        with _recorded(rows) as expected:
            assert_same_rows(rollups, expected)
    name, record, reference = _names(SHAPE)
    describe(
        benchmark,
        bench=name,
        adapter=adapter,
        events=count,
        mode=sizes.mode,
        compare=[{"baseline": record, "min": 2}, {"baseline": reference, "min": 10}],
        events_per_s=count / benchmark.stats.stats.median,
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sync_throughput_baseline_record(
    benchmark: Any,
    adapter: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """Baseline: `record()` of the same events in 10k batches into an empty database."""
    count = SYNC_EVENTS[sizes.mode]
    rows = _rows(count, SHAPE)
    batches = [[workload.to_event(row) for row in chunk] for chunk in _chunks(rows, BATCH)]
    with open_library(databases.url(adapter, request)) as rollups:
        configure(rollups)

        def record_all() -> None:
            for batch in batches:
                rollups.record(batch)

        with _frozen_heap():
            benchmark.pedantic(record_all, rounds=1, iterations=1, warmup_rounds=0)
        for account in workload.ACCOUNTS:
            assert rollups.rows(account)
            found = rollups.verify(account)
            assert found.clean, f"account {account}: {found}"
    describe(
        benchmark,
        bench=_names(SHAPE)[1],
        adapter=adapter,
        events=count,
        mode=sizes.mode,
        role="baseline",
        events_per_s=count / benchmark.stats.stats.median,
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sync_throughput_baseline_reference(
    benchmark: Any,
    adapter: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
) -> None:
    """Baseline: the reference write path, one transaction per event, on the first events."""
    count = REFERENCE_EVENTS[sizes.mode]
    events = [workload.to_event(row) for row in _rows(SYNC_EVENTS[sizes.mode], SHAPE)[:count]]
    url = databases.url(adapter, request, library=False)
    create_tables(sqlalchemy_url(url))
    writer: PostgresReference | SQLiteReference
    if adapter == "postgres":
        writer = PostgresReference(url, workload.zones())
    else:
        writer = SQLiteReference(sqlite_path(url), workload.zones())
    try:

        def write_each() -> None:
            for event in events:
                writer.write(event)

        with _frozen_heap():
            benchmark.pedantic(write_each, rounds=1, iterations=1, warmup_rounds=0)
    finally:
        writer.close()
    with open_rollups(url, clock=lambda: workload.NOW) as rollups:  # the tables are the library's
        assert rollups.events([event.id for event in events]) == events
        assert rollups.rows(1)
    describe(
        benchmark,
        bench=_names(SHAPE)[2],
        adapter=adapter,
        events=count,
        mode=sizes.mode,
        role="baseline",
        events_per_s=count / benchmark.stats.stats.median,
    )


# --- lag under a steady host load --------------------------------------------------------------


def _nearest_rank(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Load:
    """The host's steady load in a thread: batch n is due `n * LOAD_PERIOD` after the start
    (late batches go at once, so the mean rate holds); `committed[n]` is when its commit
    returned (monotonic clock), `done` how many batches are committed."""

    def __init__(self, host: Host, batches: Sequence[Sequence[workload.Row]]) -> None:
        self.host = host
        self.batches = batches
        self.committed: list[float] = []
        self.behind = 0.0  #: how late the latest batch went, at worst
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="host-load", daemon=True)
        self.started = 0.0

    @property
    def done(self) -> int:
        return len(self.committed)

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def _run(self) -> None:
        try:
            for n, batch in enumerate(self.batches):
                due = self.started + n * LOAD_PERIOD
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    self.behind = max(self.behind, -delay)
                self.host.insert(batch)
                self.committed.append(time.monotonic())
        except BaseException as error:  # re-raised by the benchmark's thread
            self.error = error


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


def _follow_daemon(url: str, out: Path, err: Path) -> subprocess.Popen[bytes]:
    """`rollups sync --follow --interval 0.5` in its own process, output to files."""
    with out.open("wb") as stdout, err.open("wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reporting_rollups.adapters.cli",
                "--db",
                url,
                "sync",
                "--follow",
                "--interval",
                str(FOLLOW_INTERVAL),
            ],
            stdout=stdout,
            stderr=stderr,
        )


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_sync_follow_lag(
    benchmark: Any,
    adapter: str,
    sizes: Sizes,
    databases: Databases,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Lag of `sync --follow` behind a host writing 2,000 events/s."""
    seconds = LOAD_SECONDS[sizes.mode]
    batches_count = round(seconds / LOAD_PERIOD)
    count = batches_count * LOAD_BATCH
    rows = _rows(count, "live", LOAD_FIRST_ID)
    batches = list(_chunks(rows, LOAD_BATCH))
    warmup = _rows(WARMUP_EVENTS, "live")
    url = _captured_database(adapter, databases, request)
    host, reader = Host(adapter, url), Reader(adapter, url)
    out, err = tmp_path / "sync.out", tmp_path / "sync.err"
    daemon = _follow_daemon(url, out, err)
    try:
        # The daemon is up once it has applied the warm-up: the load starts on a running worker.
        host.insert(warmup)
        _wait(
            lambda: not reader.column("SELECT 1 FROM reporting_rollup_changes LIMIT 1"),
            60,
            "the daemon's first pass",
        )
        load = Load(host, batches)
        seen: list[float | None] = [None] * batches_count
        polls = 0

        def run() -> None:
            nonlocal polls
            load.start()
            unseen = 0  # batches below are all seen
            while unseen < batches_count:
                if load.error is not None:
                    raise load.error
                committed = load.done  # read before the log: these are in its snapshot
                pending = set(reader.column(_PENDING_BATCHES))
                now = time.monotonic()
                polls += 1
                for n in range(unseen, committed):
                    if seen[n] is None and n not in pending:
                        seen[n] = now
                while unseen < committed and seen[unseen] is not None:
                    unseen += 1
                if now - load.started > seconds + 60:
                    raise AssertionError(f"{batches_count - unseen} batches not applied in 60 s")
                time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - now)))
            load.thread.join()

        benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, err.read_text()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        host.close()
        reader.close()
    lines = out.read_text().strip().splitlines()
    assert lines[-1].startswith(f"stopped: applied {count + WARMUP_EVENTS:,}"), lines[-1:]
    assert "Traceback" not in err.read_text()
    lags = [at - load.committed[n] for n, at in enumerate(seen) if at is not None]
    assert len(lags) == batches_count
    with open_library(url) as rollups, _recorded(warmup + rows) as expected:
        assert rollups.capture.status().pending == 0
        assert_same_rows(rollups, expected)
    # The rate between the first and the last commit (the load's steady state).
    host_rate = (count - LOAD_BATCH) / (load.committed[-1] - load.committed[0])
    describe(
        benchmark,
        bench=f"sync --follow lag, {LOAD_BATCH / LOAD_PERIOD:,.0f} ev/s host load",
        adapter=adapter,
        events=count,
        mode=sizes.mode,
        lag_p50_s=_nearest_rank(lags, 0.50),
        lag_p99_s=_nearest_rank(lags, 0.99),
        lag_max_s=max(lags),
        lag_target_p99_s=LAG_TARGET_P99,
        load_seconds=seconds,
        host_batches=batches_count,
        host_batch_rows=LOAD_BATCH,
        host_events_per_s=host_rate,
        host_behind_max_s=load.behind,
        follow_interval_s=FOLLOW_INTERVAL,
        poll_seconds=POLL_SECONDS,
        polls=polls,
        daemon_passes_printed=len(lines) - 1,
    )
