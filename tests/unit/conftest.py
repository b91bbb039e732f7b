"""Unit fixtures: the use cases on the in-memory adapter, with the fixed clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.memory import InMemoryDatabase
from reporting_rollups.application.service import Rollups
from tests.conftest import fixed_clock


@pytest.fixture
def rollups() -> Iterator[Rollups]:
    """A `Rollups` on a fresh in-memory database."""
    with open_rollups("memory://", clock=fixed_clock) as opened:
        yield opened


@pytest.fixture
def db(rollups: Rollups) -> InMemoryDatabase:
    """The in-memory database behind `rollups` (to look at, or to tamper with)."""
    database: InMemoryDatabase = rollups.uow_factory.db  # type: ignore[attr-defined]
    return database
