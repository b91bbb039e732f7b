"""Storage adapters, the CLI and the composition root. `open_rollups` is the embedding door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dependency_injector import providers

from adapters.container import ApplicationContainer, build_container
from application.service import Rollups


def open_rollups(
    url: str = "memory://",
    *,
    migrate: bool = True,
    clock: Callable[[], datetime] | None = None,
    chunk_days: int = 31,
) -> Rollups:
    """Open the rollups on a database: ``memory://``, ``sqlite:///path`` or ``postgresql://...``.

    With `migrate` (the default) the library's tables are created or upgraded on open. `clock`
    replaces the system clock (tests, replays). Use as a context manager, or call `close()`.
    """
    container = build_container(url, migrate=migrate, chunk_days=chunk_days)
    if clock is not None:
        container.clock.override(providers.Object(clock))
    rollups: Rollups = container.rollups()
    return rollups


__all__ = ["ApplicationContainer", "Rollups", "build_container", "open_rollups"]
