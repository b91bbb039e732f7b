"""The pytest plugin of `reporting_rollups.testing` (entry point ``pytest11``): fixtures for a
host's tests, each test getting its own in-memory database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reporting_rollups.application.service import Rollups
from reporting_rollups.testing import EventFactory, FixedClock, memory_rollups


@pytest.fixture
def rollups_clock() -> FixedClock:
    """The clock `rollups` reads, at `DEFAULT_NOW`: `set()` or `advance()` it."""
    return FixedClock()


@pytest.fixture
def rollups(rollups_clock: FixedClock) -> Iterator[Rollups]:
    """A fresh `memory://` `Rollups` reading `rollups_clock`, closed after the test."""
    with memory_rollups(clock=rollups_clock) as opened:
        yield opened


@pytest.fixture
def rollup_events(rollups_clock: FixedClock) -> EventFactory:
    """Builds valid events (consecutive ids, account 1, created at the clock's time)."""
    return EventFactory(at=rollups_clock())
