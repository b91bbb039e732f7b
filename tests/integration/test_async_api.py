"""`open_rollups_async`: the use cases as coroutines. The contract suite runs through them on
every backend (`backend_api`); here what only the async API has: the event loop keeps running
while a call waits, coroutines interleave on one thread and the result is still exact, the
PostgreSQL calls wait on psycopg's asyncio connections, and the coroutines are the synchronous
methods (same signatures, documents, results and errors)."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from reporting_rollups import AsyncRollups, Rollups, open_rollups_async
from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.postgres import one_call
from reporting_rollups.domain.errors import (
    ConfigurationError,
    EventConflictError,
    InvalidTimezoneError,
)
from reporting_rollups.domain.events import Event
from tests.builders import event, row_map, utc
from tests.conftest import empty_database, fixed_clock
from tests.readme import readme_block

ZONE = "Europe/Berlin"
#: `Rollups` methods that have no coroutine: they return synchronous objects or are the
#: synchronous API's own (`using` binds a synchronous connection).
NOT_BRIDGED = {"using", "fleet", "close"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'async.db'}"
    found: str = request.getfixturevalue("database_url")
    return found


def history(count: int, seed: int) -> list[Event]:
    names = ["conversation_resolved", "first_response", "reply_time", "conversation_bot_handoff"]
    return [
        event(
            event_id,
            names[(event_id * seed) % 4],
            at=utc(2026, 10, 20) + timedelta(minutes=(event_id * 7919 * seed) % (30 * 24 * 60)),
            account_id=1 + event_id % 2,
            value=float(event_id % 97),
            user_id=[None, 1, 2][event_id % 3],
            conversation_id=[None, 1, 2, 3][event_id % 4],
        )
        for event_id in range(1, count + 1)
    ]


def reference(events: list[Event], retracted: set[int]) -> list[dict[Any, Any]]:
    with open_rollups("memory://", clock=fixed_clock) as memory:
        for account in (1, 2):
            memory.set_timezone(account, ZONE)
        memory.record(events)
        memory.retract(sorted(retracted))
        return [row_map(memory.rows(account)) for account in (1, 2)]


def test_the_coroutines_are_the_synchronous_methods() -> None:
    """Every use case of `Rollups` has its coroutine, with the same signature and document
    (what `help()` shows)."""
    public = {
        name
        for name, member in inspect.getmembers(Rollups, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public - NOT_BRIDGED <= set(dir(AsyncRollups))
    for name in sorted(public - NOT_BRIDGED):
        coroutine = getattr(AsyncRollups, name)
        assert inspect.iscoroutinefunction(coroutine), name
        assert inspect.signature(coroutine) == inspect.signature(getattr(Rollups, name)), name
        assert coroutine.__doc__ == getattr(Rollups, name).__doc__, name


def test_coroutines_interleave_on_one_loop_and_stay_exact(url: str) -> None:
    """Four writers (redeliveries included) and a retraction interleave on one event loop:
    the rollups equal the reference aggregation, and verify finds nothing."""
    events = history(300, seed=3)
    retracted = {event.id for event in events if event.id % 7 == 0}

    async def scenario() -> tuple[list[dict[Any, Any]], list[bool], int]:
        async with open_rollups_async(url, clock=fixed_clock) as rollups:
            checked_out = [0, 0]  # now, most at once
            if url.startswith("postgresql"):
                engine = rollups.target.uow_factory.engine  # type: ignore[attr-defined]

                def out(*_: object) -> None:
                    checked_out[0] += 1
                    checked_out[1] = max(checked_out)

                def back(*_: object) -> None:
                    checked_out[0] -= 1

                sa_event.listen(engine, "checkout", out)
                sa_event.listen(engine, "checkin", back)
            for account in (1, 2):
                await rollups.set_timezone(account, ZONE)

            async def writer(part: list[Event]) -> None:
                for start in range(0, len(part), 20):
                    await rollups.record(part[start : start + 20])

            await asyncio.gather(*(writer(events[i::4] + events[i::8]) for i in range(4)))
            await rollups.retract(sorted(retracted))
            clean = [(await rollups.verify(account)).clean for account in (1, 2)]
            rows = [row_map(await rollups.rows(account)) for account in (1, 2)]
            return rows, clean, checked_out[1]

    rows, clean, most_at_once = asyncio.run(scenario())
    assert rows == reference(events, retracted)
    assert all(rows)
    assert clean == [True, True]
    if url.startswith("postgresql"):
        assert most_at_once > 1  # the writers' transactions overlapped, on one thread


def _hold_the_write_lock(url: str) -> Callable[[], None]:
    """Take what a `record()` of account 1 must wait for (PostgreSQL: its account row FOR
    UPDATE; SQLite: the write lock) on a connection of its own; return its release."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")
    else:
        connection = psycopg.connect(url)  # type: ignore[assignment]
        connection.execute(
            "SELECT 1 FROM reporting_rollup_accounts WHERE account_id = 1 FOR UPDATE"
        )
    lock = threading.Lock()

    def release() -> None:
        with lock:
            connection.rollback()
            connection.close()

    return release


def test_the_event_loop_runs_while_a_call_waits(url: str) -> None:
    """While a `record()` waits for a lock another connection holds, the loop runs other
    coroutines; once the lock is released the call completes."""

    async def scenario() -> tuple[int, bool, int]:
        async with open_rollups_async(url, clock=fixed_clock) as rollups:
            await rollups.set_timezone(1, ZONE)
            release = _hold_the_write_lock(url)
            safety = threading.Timer(20, release)  # a blocked loop would never release it
            safety.start()
            try:
                call = asyncio.create_task(rollups.record([event(1, value=1.0)]))
                ticks = 0
                for _ in range(20):
                    await asyncio.sleep(0.01)
                    ticks += 1
                waiting = not call.done()
                await asyncio.to_thread(release)
                result = await call
            finally:
                safety.cancel()
            return ticks, waiting, result.rolled_up

    ticks, waiting, rolled_up = asyncio.run(scenario())
    assert (ticks, waiting, rolled_up) == (20, True, 1)


@pytest.mark.postgres
def test_postgres_calls_wait_on_psycopg_asyncio_connections(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is psycopg's asyncio driver, and the one-call path of a few new events runs
    on it too."""
    calls: list[object] = []
    original = one_call.PostgresOneCall.record_new

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = original(self, *args, **kwargs)
        calls.append(outcome)
        return outcome

    monkeypatch.setattr(one_call.PostgresOneCall, "record_new", counted)

    async def scenario() -> list[Any]:
        async with open_rollups_async(database_url, clock=fixed_clock) as rollups:
            dialect = rollups.target.uow_factory.engine.dialect  # type: ignore[attr-defined]
            assert (dialect.is_async, dialect.driver) == (True, "psycopg")  # psycopg_async
            await rollups.set_timezone(1, ZONE)
            for event_id in range(1, 6):
                await rollups.record([event(event_id, "reply_time", value=2.0)])
            return await rollups.rows(1)

    rows = asyncio.run(scenario())
    assert [outcome.recorded for outcome in calls] == [True] * 4  # type: ignore[attr-defined]
    expected = reference([event(n, "reply_time", value=2.0) for n in range(1, 6)], set())[0]
    assert row_map(rows) == expected


def test_errors_and_results_are_the_synchronous_ones(url: str) -> None:
    async def scenario() -> None:
        rollups = await open_rollups_async(url, clock=fixed_clock)  # awaited, then closed
        try:
            with pytest.raises(InvalidTimezoneError):
                await rollups.set_timezone(1, "Mars/Olympus")
            await rollups.set_timezone(1, ZONE)
            first = await rollups.record([event(1, value=1.0)])
            assert (first.stored, first.rolled_up) == (1, 1)
            assert (await rollups.record([event(1, value=1.0)])).duplicates == 1
            with pytest.raises(EventConflictError):
                await rollups.record([event(1, value=2.0)])
            assert (await rollups.retract([1, 2])).unknown == 1
            day = utc(2026, 11, 20).date()
            report = await rollups.reports.summary(1, "account", day, day)
            assert report.source.value == "raw"
        finally:
            await rollups.close()

    asyncio.run(scenario())


def test_a_bad_url_is_refused_when_opened() -> None:
    async def scenario() -> None:
        with pytest.raises(ConfigurationError, match="unsupported scheme"):
            await open_rollups_async("mysql://x/y")

    asyncio.run(scenario())


def test_the_readme_fastapi_example_records_and_reports(url: str) -> None:
    """The README's application, served by FastAPI's test client: the lifespan opens the
    rollups, a request records an event, another reports it from rollups."""
    with open_rollups(url, clock=fixed_clock) as rollups:
        rollups.set_timezone(42, ZONE)
        rollups.enable_read_path(42)
    namespace: dict[str, Any] = {"DATABASE_URL": url}
    exec(readme_block("tests/integration/test_async_api.py"), namespace)
    row = {
        "id": 1001,
        "name": "conversation_resolved",
        "account_id": 42,
        "created_at": "2026-11-20T15:04:00+00:00",
        "value": 5400,
        "user_id": 7,
    }
    with TestClient(namespace["app"]) as client:
        posted = client.post("/events", json=row)
        assert posted.status_code == 200
        assert posted.json() == {"stored": 1, "rolled_up": 1}
        again = client.post("/events", json=row)
        assert again.json() == {"stored": 0, "rolled_up": 0}
        report = client.get(
            "/accounts/42/agents", params={"since": "2026-11-01", "until": "2026-11-30"}
        )
    assert report.status_code == 200
    (agent,) = report.json()
    assert (agent["dimension_id"], agent["resolutions_count"]) == (7, 1)
    assert agent["avg_resolution_time"] == 5400


@pytest.mark.citus
def test_the_async_api_on_a_distributed_database(citus_url: str) -> None:
    """On Citus the coroutines route as the synchronous calls do, the one-call path (the routed
    function) included."""
    empty_database(citus_url)
    events = history(60, seed=5)

    async def scenario() -> tuple[list[dict[Any, Any]], list[bool]]:
        async with open_rollups_async(citus_url, clock=fixed_clock) as rollups:
            assert rollups.target.uow_factory.distributed  # type: ignore[attr-defined]
            for account in (1, 2):
                await rollups.set_timezone(account, ZONE)
            for single in events[:4]:
                await rollups.record([single])
            await rollups.record(events[4:])
            await rollups.retract([7], account_id=2)
            rows = [row_map(await rollups.rows(account)) for account in (1, 2)]
            return rows, [(await rollups.verify(account)).clean for account in (1, 2)]

    rows, clean = asyncio.run(scenario())
    assert rows == reference(events, {7})
    assert clean == [True, True]
