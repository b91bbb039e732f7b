"""`open_rollups_async`: the rollups for an asyncio host, each use case a coroutine
(`application.async_service.AsyncRollups`), with the bridge of the backend:

- PostgreSQL: the synchronous use cases and stores, unchanged, on psycopg's asyncio
  connections and SQLAlchemy's async pool, run under SQLAlchemy's greenlet bridge
  (`greenlet_spawn`): every statement waits on the event loop, so many calls interleave on one
  thread (`tests/integration/test_postgres_async_bridge.py`);
- SQLite: each call in a worker thread (`asyncio.to_thread`; pysqlite has no asyncio driver
  the bridge could wait on), writers serialised by SQLite's write lock as ever;
- memory: a plain call (nothing waits on I/O).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.util import greenlet_spawn

from reporting_rollups.adapters import build_container, rollups_of
from reporting_rollups.adapters.urls import DatabaseURL
from reporting_rollups.application.async_service import AsyncRollups, Bridge
from reporting_rollups.application.live import STEP_EVENTS
from reporting_rollups.application.service import Rollups

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

T = TypeVar("T")


async def _greenlet(work: Callable[[], T]) -> T:
    result: T = await greenlet_spawn(work)
    return result


async def _thread(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


async def _plain(work: Callable[[], T]) -> T:
    return work()


#: The bridge of each backend.
BRIDGES: dict[str, Bridge] = {"postgres": _greenlet, "sqlite": _thread, "memory": _plain}


class OpeningRollups:
    """What `open_rollups_async` returns: `async with` it, or await it (then close what it
    gives)."""

    def __init__(self, url: str | None, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._opened: AsyncRollups | None = None

    async def _open(self) -> AsyncRollups:
        backend = DatabaseURL.parse("memory://" if self._url is None else self._url).backend
        bridge = BRIDGES[backend]
        options = dict(self._options)
        clock = options.pop("clock", None)
        meter_provider = options.pop("meter_provider", None)

        def open_sync() -> Rollups:
            container = build_container(self._url, asyncio=backend == "postgres", **options)
            return rollups_of(container, clock=clock, meter_provider=meter_provider)

        return AsyncRollups(await bridge(open_sync), bridge)

    def __await__(self) -> Generator[Any, None, AsyncRollups]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncRollups:
        self._opened = await self._open()
        return self._opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._opened is not None:
            await self._opened.close()


def open_rollups_async(
    url: str | None = None,
    *,
    migrate: bool = True,
    reference_indexes: bool = False,
    clock: Callable[[], datetime] | None = None,
    chunk_days: int = 31,
    local_tables: bool = False,
    step_events: int = STEP_EVENTS,
    meter_provider: MeterProvider | None = None,
) -> OpeningRollups:
    """`open_rollups` for an asyncio host: ``async with open_rollups_async(url) as rollups:
    await rollups.record(events)`` (or ``rollups = await open_rollups_async(url)``, then
    ``await rollups.close()``). The same options, use cases, results and errors; how each call
    waits depends on the backend (see the module)."""
    options: dict[str, Any] = {
        "migrate": migrate,
        "reference_indexes": reference_indexes,
        "clock": clock,
        "chunk_days": chunk_days,
        "local_tables": local_tables,
        "step_events": step_events,
        "meter_provider": meter_provider,
    }
    return OpeningRollups(url, options)


__all__ = ["AsyncRollups", "OpeningRollups", "open_rollups_async"]
