"""Reads never wait for writers, and writers never wait for reads (issue 8, items 13 and 14).

- Read-only units of work (`uow_factory(read_only=True)`) cannot commit, on every backend.
- SQLite: while another connection holds the write lock with an uncommitted write, `rows()`,
  reports, `verify`, the backfill plan and `account()` return the committed state at once (the
  library's busy timeout is short here, so a read that waited for the lock would fail fast).
- SQLite and PostgreSQL: a live `record()` of the account commits while `verify` is in the middle
  of its run (held there by a hook), and that verify still finds its own snapshot exact.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from reporting_rollups.adapters import build_container
from reporting_rollups.adapters.sqlite import SQLiteUnitOfWorkFactory
from reporting_rollups.application.ports import UnitOfWork, UnitOfWorkFactory
from reporting_rollups.application.read_path import Source
from reporting_rollups.application.service import Rollups
from reporting_rollups.application.verify import Verify
from reporting_rollups.domain.errors import StorageError
from tests.builders import event, utc
from tests.conftest import fixed_clock

#: The library's busy timeout in the SQLite test: a read that queued for the write lock would
#: fail with "database is locked" after this long instead of succeeding.
SHORT_BUSY_MS = 100
#: How long a concurrent `record()` may take before the test calls it blocked (seconds); it
#: never waits for anything in the passing case.
RECORD_JOIN_SECONDS = 20


def test_read_only_unit_of_work_cannot_commit(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    with backend.uow_factory(read_only=True) as uow:
        assert uow.accounts.get(1).timezone == "UTC"
        with pytest.raises(StorageError, match="read-only"):
            uow.commit()
    assert backend.account(1).timezone == "UTC"


# --- SQLite: reads under another connection's write lock ---------------------------------------


@pytest.fixture
def sqlite_rollups(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Rollups, Path]]:
    """Rollups on a SQLite file whose busy timeout is `SHORT_BUSY_MS`."""
    from tests.integration.conftest import copy_sqlite

    path = tmp_path / "reads.db"
    copy_sqlite(sqlite_template, path)
    url = f"sqlite:///{path}"
    container = build_container(url)
    container.clock.override(providers.Object(fixed_clock))
    container.uow_factory.override(
        providers.Object(SQLiteUnitOfWorkFactory.from_url(url, busy_timeout_ms=SHORT_BUSY_MS))
    )
    rollups: Rollups = container.rollups()
    try:
        yield rollups, path
    finally:
        rollups.close()


def test_sqlite_reads_do_not_wait_for_a_writer(sqlite_rollups: tuple[Rollups, Path]) -> None:
    rollups, path = sqlite_rollups
    rollups.set_timezone(1, "UTC")
    rollups.record(
        [
            event(1, "reply_time", value=2.0, user_id=3),
            event(2, "conversation_resolved", value=5.0, at=utc(2026, 11, 10, 8)),
        ]
    )
    rollups.enable_read_path(1)
    before = rollups.rows(1)
    since, until = date(2026, 11, 1), date(2026, 11, 22)
    raw_summary = rollups.reports.summary(1, "agent", since, until, timezone="Asia/Tokyo")
    assert raw_summary.source is Source.RAW

    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO reporting_events (id, name, account_id, created_at, updated_at, value) "
            "VALUES (9, 'reply_time', 1, '2026-11-20 13:00:00', '2026-11-20 13:00:00', 100.0)"
        )
        writer.execute("UPDATE reporting_events_rollups SET count = count + 5 WHERE account_id = 1")
        # Every read returns the committed state while the write lock is held.
        assert rollups.rows(1) == before
        assert rollups.account(1).read_path_enabled
        summary = rollups.reports.summary(1, "account", since, until)
        assert summary.source is Source.ROLLUPS
        assert summary.rows[0].resolutions_count == 1
        assert rollups.reports.summary(1, "agent", since, until, timezone="Asia/Tokyo") == (
            raw_summary
        )
        series = rollups.reports.timeseries(1, "avg_reply_time", since, until, group_by="hour")
        assert series.source is Source.RAW
        assert [p.value for p in series.points if p.count] == [2.0]
        assert rollups.verify(1).mismatches == []
        plan = rollups.backfiller.plan(1)
        assert (plan.first_event, plan.last_event) == (date(2026, 11, 10), date(2026, 11, 20))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert rollups.rows(1) == before


# --- live writes during verify ------------------------------------------------------------------


class _HookedUnitOfWork:
    """A unit of work whose `rollups.rows` first calls `hook` (once per factory)."""

    def __init__(self, inner: UnitOfWork, factory: _HookedFactory) -> None:
        self._inner = inner
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _HookedUnitOfWork:
        self._inner.__enter__()
        inner_rollups = self._inner.rollups
        factory = self._factory

        class Rollups:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner_rollups, name)

            def rows(self, *args: Any, **kwargs: Any) -> Any:
                factory.fire()
                return inner_rollups.rows(*args, **kwargs)

        self.rollups = Rollups()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


class _HookedFactory:
    """Wraps a factory: the first `rollups.rows` read of its units of work runs `hook` first,
    i.e. after the first chunk's raw aggregation and before its rollup read."""

    def __init__(self, inner: UnitOfWorkFactory, hook: Callable[[], None]) -> None:
        self._inner = inner
        self._hook: Callable[[], None] | None = hook

    def fire(self) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()

    def __call__(self, **options: Any) -> Any:
        return _HookedUnitOfWork(self._inner(**options), self)


@pytest.mark.parametrize(
    "backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_live_record_commits_while_verify_runs(
    backend_name: str, open_backend: Callable[..., Rollups]
) -> None:
    reader, writer = open_backend(), open_backend()
    reader.set_timezone(1, "UTC")
    first = utc(2026, 6, 1, 12)
    reader.record(
        [
            event(n, "reply_time", value=float(n), user_id=n % 3 + 1, at=first + timedelta(days=n))
            for n in range(1, 100)
        ]
    )
    # Recorded into the first chunk's days, after verify aggregated them and before it reads
    # their rollups: a verify without one snapshot would see the rows but not the raw events.
    late = [event(500, "reply_time", value=7.0, user_id=1, at=first + timedelta(days=2, hours=1))]
    committed: list[Any] = []

    def record_meanwhile() -> None:
        worker = threading.Thread(target=lambda: committed.append(writer.record(late)))
        worker.start()
        worker.join(RECORD_JOIN_SECONDS)
        assert not worker.is_alive(), "record() waited for verify"

    progress: list[tuple[int, int, date]] = []
    verify = Verify(
        _HookedFactory(reader.uow_factory, record_meanwhile), fixed_clock, chunk_days=31
    )
    assert verify(1, progress=lambda *done: progress.append(done)).clean
    assert [c.stored for c in committed] == [1]
    assert len(progress) > 1  # held mid-way: in the first of several chunks
    assert progress[-1][0] == progress[-1][1]
    # The event is committed and counted; a new verify sees it, still exact.
    assert any(key.date == date(2026, 6, 3) and value.count == 2 for key, value in reader.rows(1))
    assert reader.verify(1).mismatches == []
