"""`AsyncRollups`: `Rollups`' use cases as coroutines, for a host's event loop.

No rule is written twice: each coroutine runs the very `Rollups` method it is named after,
through the backend's `Bridge` (the composition root picks it: on PostgreSQL SQLAlchemy's
greenlet bridge over psycopg's asyncio connections, so a call waits on the event loop, never
on a thread; on SQLite a worker thread; in memory a plain call). Results and errors are the
synchronous ones.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar

from reporting_rollups.application.ports import ChangeCapture
from reporting_rollups.application.reports import Reports
from reporting_rollups.application.service import Rollups

T = TypeVar("T")
P = ParamSpec("P")
Owner = TypeVar("Owner")
Owner_co = TypeVar("Owner_co", covariant=True)


class Bridge(Protocol):
    """Runs one synchronous call of the library so that the event loop can await it."""

    def __call__(self, work: Callable[[], T]) -> Awaitable[T]: ...


class _Bridged(Protocol[Owner_co]):
    @property
    def target(self) -> Owner_co: ...

    @property
    def bridge(self) -> Bridge: ...


def bridged(
    method: Callable[Concatenate[Owner, P], T],
) -> Callable[Concatenate[_Bridged[Owner], P], Coroutine[Any, Any, T]]:
    """The coroutine of a synchronous method: the same call (signature and docstring), of
    the method of that name on the owner's target (its class's own, a protocol's included),
    awaited through the owner's bridge."""
    name = method.__name__

    @functools.wraps(method)
    async def call(self: _Bridged[Owner], /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[P, T] = getattr(self.target, name)
        return await self.bridge(functools.partial(bound, *args, **kwargs))

    return call


class _Wrapper(Generic[Owner]):
    def __init__(self, target: Owner, bridge: Bridge) -> None:
        self._target = target
        self._bridge = bridge

    @property
    def target(self) -> Owner:
        """The synchronous object whose methods the coroutines run."""
        return self._target

    @property
    def bridge(self) -> Bridge:
        """How its calls are awaited."""
        return self._bridge


class AsyncReports(_Wrapper[Reports]):
    """`Reports` as coroutines."""

    summary = bridged(Reports.summary)
    timeseries = bridged(Reports.timeseries)


class AsyncCapture(_Wrapper[ChangeCapture]):
    """`ChangeCapture` (change capture of the host's writes) as coroutines."""

    install = bridged(ChangeCapture.install)
    remove = bridged(ChangeCapture.remove)
    status = bridged(ChangeCapture.status)


class AsyncRollups(_Wrapper[Rollups]):
    """Every use case of `Rollups` as a coroutine (the same arguments, results and errors).
    Get one with `adapters.open_rollups_async(url)`, as an async context manager or awaited
    (then `await rollups.close()`)."""

    record = bridged(Rollups.record)
    retract = bridged(Rollups.retract)
    set_timezone = bridged(Rollups.set_timezone)
    rebuild = bridged(Rollups.rebuild)
    backfill = bridged(Rollups.backfill)
    enable_read_path = bridged(Rollups.enable_read_path)
    account = bridged(Rollups.account)
    known = bridged(Rollups.known)
    events = bridged(Rollups.events)
    rows = bridged(Rollups.rows)
    verify = bridged(Rollups.verify)
    status = bridged(Rollups.status)
    sync = bridged(Rollups.sync)
    catch_up = bridged(Rollups.catch_up)
    scan = bridged(Rollups.scan)
    apply_host_zones = bridged(Rollups.apply_host_zones)
    forget = bridged(Rollups.forget)
    set_retention = bridged(Rollups.set_retention)
    retention = bridged(Rollups.retention)
    purge_plan = bridged(Rollups.purge_plan)
    purge = bridged(Rollups.purge)
    backfill_all = bridged(Rollups.backfill_all)
    rebuild_all = bridged(Rollups.rebuild_all)
    verify_all = bridged(Rollups.verify_all)
    migrate = bridged(Rollups.migrate)

    @property
    def reports(self) -> AsyncReports:
        """The read path: `await rollups.reports.summary(...)`, `.timeseries(...)`."""
        return AsyncReports(self.target.reports, self.bridge)

    @property
    def capture(self) -> AsyncCapture:
        """Change capture: `await rollups.capture.install()`, `.remove()`, `.status()`."""
        return AsyncCapture(self.target.capture, self.bridge)

    async def close(self) -> None:
        """Release the connections (awaited: closing them waits on the event loop)."""
        await self.bridge(self.target.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
