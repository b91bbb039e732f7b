"""Composition root: picks the storage adapter from the database URL and wires the use cases.

Nothing here opens a connection at import time; SQL backends are imported when selected.
"""

from __future__ import annotations

import operator
import threading
from typing import Any

from dependency_injector import containers, providers
from opentelemetry.metrics import MeterProvider

from reporting_rollups.adapters.clock import system_clock
from reporting_rollups.adapters.memory import InMemoryUnitOfWorkFactory
from reporting_rollups.adapters.telemetry import OpenTelemetryMetrics
from reporting_rollups.adapters.urls import DatabaseURL, engine_backend
from reporting_rollups.application.backfill import Backfill
from reporting_rollups.application.live import STEP_EVENTS, LiveRollup
from reporting_rollups.application.reports import Reports
from reporting_rollups.application.service import Rollups
from reporting_rollups.application.settings import AccountSettingsService
from reporting_rollups.application.verify import Verify
from reporting_rollups.domain.errors import ConfigurationError


def _sqlite_factory(url: str, migrate: bool, reference_indexes: bool, engine: Any) -> Any:
    from reporting_rollups.adapters.sqlite import SQLiteUnitOfWorkFactory

    if engine is not None:
        return SQLiteUnitOfWorkFactory.from_engine(
            engine, migrate=migrate, reference_indexes=reference_indexes
        )
    return SQLiteUnitOfWorkFactory.from_url(
        url, migrate=migrate, reference_indexes=reference_indexes
    )


def _postgres_factory(
    url: str,
    migrate: bool,
    reference_indexes: bool,
    local_tables: bool,
    engine: Any,
    asyncio: bool,
) -> Any:
    from reporting_rollups.adapters.postgres import PostgresUnitOfWorkFactory

    options = {
        "migrate": migrate,
        "reference_indexes": reference_indexes,
        "local_tables": local_tables,
    }
    if engine is not None:
        return PostgresUnitOfWorkFactory.from_engine(engine, **options)
    return PostgresUnitOfWorkFactory.from_url(url, asyncio=asyncio, **options)


def _closer(uow_factory: Any) -> Any:
    return getattr(uow_factory, "close", lambda: None)


def _migrator(uow_factory: Any) -> Any:
    return getattr(uow_factory, "migrate", lambda: None)


def _capture(uow_factory: Any) -> Any:
    return uow_factory.capture


def _one_call(uow_factory: Any) -> Any:
    return getattr(uow_factory, "one_call", None)


def _job_locks(uow_factory: Any) -> Any:
    return uow_factory.job_locks


class _Binder:
    """`Rollups.bind`: the container's wiring again, on its unit-of-work factory bound to a
    host's connection (`bound_to`: savepoints in the host's transaction, no one-call path).
    One child container serves every call: building one copies every provider (about 1 ms a
    call); re-wiring it with the bound factory takes about 0.1 ms."""

    def __init__(self, container: ApplicationContainer) -> None:
        self._container = container
        self._child: ApplicationContainer | None = None
        self._lock = threading.Lock()  # one wiring at a time; what it built is the caller's

    def __call__(self, connection: object) -> Rollups:
        factory = self._container.uow_factory().bound_to(connection)
        with self._lock:
            child = self._child
            if child is None:
                child = self._child = ApplicationContainer()
                child.config.from_dict(self._container.config())
                child.host_engine.override(self._container.host_engine)
                child.clock.override(self._container.clock)
                child.telemetry.override(self._container.telemetry)
            child.rollups.reset()
            child.uow_factory.reset_override()
            child.uow_factory.override(providers.Object(factory))
            rollups: Rollups = child.rollups()
        return rollups


class ApplicationContainer(containers.DeclarativeContainer):
    """Providers for one database. `config`: url, backend, migrate, reference_indexes,
    local_tables, chunk_days, step_events, asyncio (PostgreSQL on psycopg's asyncio
    connections, every call under the greenlet bridge: `adapters.asynchronous`)."""

    __self__ = providers.Self()
    config = providers.Configuration(strict=True)
    clock = providers.Object(system_clock)
    #: the host's SQLAlchemy engine to use instead of one of the library's (None: its own)
    host_engine: providers.Object[Any] = providers.Object(None)
    #: the OpenTelemetry meter provider (None: the global one, which the host's SDK sets)
    meter_provider: providers.Object[MeterProvider | None] = providers.Object(None)
    telemetry = providers.Singleton(OpenTelemetryMetrics, config.backend, meter_provider)

    uow_factory = providers.Selector(
        config.backend,
        memory=providers.Singleton(InMemoryUnitOfWorkFactory),
        sqlite=providers.Singleton(
            _sqlite_factory, config.url, config.migrate, config.reference_indexes, host_engine
        ),
        postgres=providers.Singleton(
            _postgres_factory,
            config.url,
            config.migrate,
            config.reference_indexes,
            config.local_tables,
            host_engine,
            config.asyncio,
        ),
    )
    live = providers.Factory(
        LiveRollup,
        uow_factory=uow_factory,
        clock=clock,
        one_call=providers.Factory(_one_call, uow_factory),
        step_events=config.step_events,
        telemetry=telemetry,
    )
    backfill = providers.Factory(
        Backfill, uow_factory=uow_factory, clock=clock, chunk_days=config.chunk_days
    )
    account_settings = providers.Factory(
        AccountSettingsService, uow_factory=uow_factory, backfill=backfill
    )
    verify = providers.Factory(
        Verify, uow_factory=uow_factory, clock=clock, chunk_days=config.chunk_days
    )
    reports = providers.Factory(Reports, uow_factory=uow_factory, clock=clock)
    rollups = providers.Singleton(
        Rollups,
        uow_factory=uow_factory,
        live=live,
        backfiller=backfill,
        settings=account_settings,
        verifier=verify,
        on_close=providers.Factory(_closer, uow_factory),
        on_migrate=providers.Factory(_migrator, uow_factory),
        capture=providers.Factory(_capture, uow_factory),
        reports=reports,
        parallel_accounts=providers.Callable(operator.eq, config.backend, "postgres"),
        job_locks=providers.Factory(_job_locks, uow_factory),
        bind=providers.Selector(
            config.backend,
            memory=providers.Object(None),
            sqlite=providers.Factory(_Binder, __self__),
            postgres=providers.Factory(_Binder, __self__),
        ),
    )


def build_container(
    url: str | None = None,
    *,
    engine: Any = None,
    migrate: bool = True,
    reference_indexes: bool = False,
    chunk_days: int = 31,
    local_tables: bool = False,
    step_events: int = STEP_EVENTS,
    asyncio: bool = False,
) -> ApplicationContainer:
    """A container configured for the database at `url` (default ``memory://``), or reached
    through the host's SQLAlchemy `engine` and its pool."""
    if engine is not None:
        if url is not None:
            raise ConfigurationError("pass a database URL or the host's engine=, not both")
        backend = engine_backend(engine)
        url = engine.url.render_as_string(hide_password=True)
    else:
        parsed = DatabaseURL.parse("memory://" if url is None else url)
        url, backend = parsed.url, parsed.backend
    container = ApplicationContainer()
    if engine is not None:
        container.host_engine.override(providers.Object(engine))
    container.config.from_dict(
        {
            "url": url,
            "backend": backend,
            "migrate": migrate,
            "reference_indexes": reference_indexes,
            "local_tables": local_tables,
            "chunk_days": chunk_days,
            "step_events": step_events,
            "asyncio": asyncio,
        }
    )
    return container
