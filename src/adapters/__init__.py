"""Storage adapters, the CLI and the composition root. `open_rollups` is the embedding door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from dependency_injector import providers

from reporting_rollups.adapters.container import ApplicationContainer, build_container
from reporting_rollups.application.live import STEP_EVENTS
from reporting_rollups.application.service import Rollups

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from sqlalchemy import Engine

    from reporting_rollups.application.host_zones import HostZones


def open_rollups(
    url: str | None = None,
    *,
    engine: Engine | None = None,
    migrate: bool = True,
    reference_indexes: bool = False,
    clock: Callable[[], datetime] | None = None,
    chunk_days: int = 31,
    local_tables: bool = False,
    step_events: int = STEP_EVENTS,
    meter_provider: MeterProvider | None = None,
) -> Rollups:
    """Open the rollups on a database: ``memory://`` (the default), ``sqlite:///path`` or
    ``postgresql://...``; or through the host's SQLAlchemy `engine` (psycopg 3 or pysqlite) and
    its pool instead of a pool of the library's (`close()` then leaves the engine alone).

    With `migrate` (the default) the library's tables are created or upgraded on open. A new
    `reporting_events` gets only the indexes the library's queries use; `reference_indexes`
    adds the reference application's full set (for a database a reference-schema host will
    share; without `migrate`, checks that they exist). On a PostgreSQL database with the
    Citus extension a fresh schema is created distributed by account (`adapters.postgres.citus`)
    unless `local_tables`. `clock` replaces the system clock (tests, replays). A `record()` of
    more than `step_events` events takes that many at a time in its one transaction (memory
    then grows with the rollup rows and members it touches, not its events). Metrics go to
    OpenTelemetry (`adapters.telemetry`): to `meter_provider`, or the global provider the host's
    SDK sets (none: no-ops). Use as a context manager, or call `close()`.
    """
    container = build_container(
        url,
        engine=engine,
        migrate=migrate,
        reference_indexes=reference_indexes,
        chunk_days=chunk_days,
        local_tables=local_tables,
        step_events=step_events,
    )
    return rollups_of(container, clock=clock, meter_provider=meter_provider)


def rollups_of(
    container: ApplicationContainer,
    *,
    clock: Callable[[], datetime] | None = None,
    meter_provider: MeterProvider | None = None,
) -> Rollups:
    """The `Rollups` a container wires, reading `clock` and reporting to `meter_provider`."""
    if clock is not None:
        container.clock.override(providers.Object(clock))
    if meter_provider is not None:
        container.meter_provider.override(providers.Object(meter_provider))
    rollups: Rollups = container.rollups()
    return rollups


def host_zones(rollups: Rollups, source: str) -> HostZones:
    """Where the host keeps its accounts' zones, for `Rollups.apply_host_zones`: "chatwoot"
    (`accounts.settings->>'reporting_timezone'` in the same database) or "sql:<query>" (a
    query returning (account_id, zone) rows for ids above `:after`, ascending, at most
    `:limit`). `ConfigurationError` for another source or a backend without SQL."""
    from reporting_rollups.adapters.sql.host_zones import host_zones as sql_host_zones

    return sql_host_zones(rollups.uow_factory, source)


__all__ = [
    "ApplicationContainer",
    "Rollups",
    "build_container",
    "host_zones",
    "open_rollups",
    "rollups_of",
]
