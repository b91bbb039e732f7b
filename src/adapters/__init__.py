"""Storage adapters, the CLI and the composition root. `open_rollups` is the embedding door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dependency_injector import providers

from reporting_rollups.adapters.container import ApplicationContainer, build_container
from reporting_rollups.application.service import Rollups


def open_rollups(
    url: str = "memory://",
    *,
    migrate: bool = True,
    reference_indexes: bool = False,
    clock: Callable[[], datetime] | None = None,
    chunk_days: int = 31,
) -> Rollups:
    """Open the rollups on a database: ``memory://``, ``sqlite:///path`` or ``postgresql://...``.

    With `migrate` (the default) the library's tables are created or upgraded on open. A new
    `reporting_events` gets only the indexes the library's queries use; `reference_indexes`
    adds the reference application's full set (for a database a reference-schema host will
    share; without `migrate`, checks that they exist). `clock` replaces the system clock
    (tests, replays). Use as a context manager, or call `close()`.
    """
    container = build_container(
        url, migrate=migrate, reference_indexes=reference_indexes, chunk_days=chunk_days
    )
    if clock is not None:
        container.clock.override(providers.Object(clock))
    rollups: Rollups = container.rollups()
    return rollups


__all__ = ["ApplicationContainer", "Rollups", "build_container", "open_rollups"]
