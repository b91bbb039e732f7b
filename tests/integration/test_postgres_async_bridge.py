"""The decision of issue 9 for a later asyncio API, checked: the synchronous use cases and the
PostgreSQL stores run unchanged under SQLAlchemy's greenlet bridge, on psycopg's asyncio
connections (`postgresql+psycopg_async`), each use case call awaited with `greenlet_spawn`. No
rule is written twice: the same `Rollups`, the same stores, the same SQL.

Concurrent coroutines interleave at every statement (each waits on the event loop, not on a
thread), and the result is still exactly the reference aggregation.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from dependency_injector import providers
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.util import greenlet_spawn

from reporting_rollups.adapters import build_container, open_rollups
from reporting_rollups.adapters.postgres.arrays import register_array_dumpers
from reporting_rollups.adapters.postgres.engine import postgres_errors
from reporting_rollups.adapters.postgres.unit_of_work import (
    READ_ONLY_BEGIN,
    PostgresUnitOfWork,
    PostgresUnitOfWorkFactory,
)
from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock

pytestmark = pytest.mark.postgres

T = TypeVar("T")
ZONE = "Europe/Berlin"


def _on_connect(dbapi_connection: Any, _record: object) -> None:
    register_array_dumpers(dbapi_connection)  # the adapted connection exposes `adapters`


class CountedUnitOfWork(PostgresUnitOfWork):
    """Counts the units of work open at once (more than one: coroutines interleaved)."""

    open_now = 0
    most_open = 0

    def __enter__(self) -> CountedUnitOfWork:
        super().__enter__()
        CountedUnitOfWork.open_now += 1
        CountedUnitOfWork.most_open = max(CountedUnitOfWork.most_open, CountedUnitOfWork.open_now)
        return self

    def __exit__(self, *exc: Any) -> None:
        CountedUnitOfWork.open_now -= 1
        super().__exit__(*exc)


def async_rollups(url: str) -> tuple[Rollups, Any]:
    """The library's `Rollups`, wired as `open_rollups` wires it, on an asyncio engine."""
    engine = create_async_engine(url.replace("postgresql://", "postgresql+psycopg_async://", 1))
    sa_event.listen(engine.sync_engine, "connect", _on_connect)
    database = SqlDatabase(engine.sync_engine, postgres_errors(url), READ_ONLY_BEGIN)
    factory = PostgresUnitOfWorkFactory(database, CountedUnitOfWork)
    container = build_container("memory://")
    container.uow_factory.override(providers.Object(factory))
    container.clock.override(providers.Object(fixed_clock))
    return container.rollups(), engine


async def call(function: Callable[..., T], *args: Any) -> T:
    """A use case call, awaited through the greenlet bridge."""
    return await greenlet_spawn(function, *args)


def history(count: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    names = ["conversation_resolved", "first_response", "reply_time", "conversation_bot_handoff"]
    return [
        event(
            event_id,
            rng.choice(names),
            at=utc(2026, 10, 20) + timedelta(minutes=rng.randrange(30 * 24 * 60)),
            account_id=rng.choice([1, 2]),
            value=rng.randrange(4000) / 4,
            user_id=rng.choice([None, 1, 2]),
            conversation_id=rng.choice([None, 1, 2, 3]),
        )
        for event_id in range(1, count + 1)
    ]


def expected_rows(events: list[Event], retracted: set[int]) -> list[dict[Any, Any]]:
    with open_rollups("memory://", clock=fixed_clock) as memory:
        for account in (1, 2):
            memory.set_timezone(account, ZONE)
        memory.record(events)
        memory.retract(sorted(retracted))
        return [row_map(memory.rows(account)) for account in (1, 2)]


def test_use_cases_run_unchanged_under_the_greenlet_bridge(database_url: str) -> None:
    events = history(400, seed=3)
    retracted = {event.id for event in events if event.id % 7 == 0}

    async def scenario() -> tuple[list[dict[Any, Any]], list[list[Any]]]:
        # migrate through the bridge too (Alembic on the adapted connection)
        rollups, engine = async_rollups(database_url)
        try:
            assert engine.sync_engine.dialect.is_async
            await call(rollups.migrate)
            for account in (1, 2):
                await call(rollups.set_timezone, account, ZONE)

            async def writer(part: list[Event]) -> None:
                for start in range(0, len(part), 25):
                    await call(rollups.record, part[start : start + 25])

            # Four writers interleaved on one event loop, redeliveries included.
            await asyncio.gather(*(writer(events[i::4] + events[i::8]) for i in range(4)))
            await call(rollups.retract, sorted(retracted))
            await call(rollups.backfill, 1)
            verified = [await call(rollups.verify, account) for account in (1, 2)]
            rows = [row_map(await call(rollups.rows, account)) for account in (1, 2)]
            return rows, verified
        finally:
            await engine.dispose()

    rows, verified = asyncio.run(scenario())
    assert rows == expected_rows(events, retracted)
    assert all(rows)
    assert [result.mismatches for result in verified] == [[], []]
    assert CountedUnitOfWork.most_open > 1  # the writers' transactions overlapped
