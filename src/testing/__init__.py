"""The supported fake for a host's own tests: the in-memory adapter (`memory://`, which the
library's contract suite runs against like every other backend), a clock the test sets, and
builders of valid events.

With pytest, the plugin `reporting_rollups.testing.plugin` (registered through the ``pytest11``
entry point, so installing the library enables it) offers the fixtures ``rollups``,
``rollups_clock`` and ``rollup_events``::

    def test_resolution_is_reported(rollups, rollup_events):
        rollups.set_timezone(1, "Europe/Berlin")
        rollups.record([rollup_events("conversation_resolved", value=90)])
        assert rollups.rows(1)

Without pytest: ``memory_rollups(clock=FixedClock(...))`` and ``EventFactory()``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.events import Event

#: Where a `FixedClock` and an `EventFactory` start unless told otherwise (a Thursday, noon UTC).
DEFAULT_NOW: Final = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _aware(field: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidEventError(field, value, None, "must be a datetime with a time zone")
    return value


class FixedClock:
    """A clock that reads what the test set: the library's "now" (what "today" and "yesterday"
    are for backfills and retention windows). Call it to read it."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        self._now = _aware("now", now)

    def __call__(self) -> datetime:
        return self._now

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"

    def set(self, now: datetime) -> None:
        """Make the clock read `now` (aware)."""
        self._now = _aware("now", now)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move the clock on by `delta` or by `timedelta(**parts)` (days=1, hours=2...);
        return the new time."""
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now


def memory_rollups(clock: Callable[[], datetime] | None = None, **options: Any) -> Rollups:
    """A fresh `Rollups` on its own in-memory database, reading `clock` (a `FixedClock` at
    `DEFAULT_NOW` when None); `options` as `open_rollups` takes them. Close it (or use it as a
    context manager) when done."""
    return open_rollups("memory://", clock=clock or FixedClock(), **options)


class EventFactory:
    """Builds valid `Event`s with consecutive ids (from `first_id`), of `account_id`, created
    at `at`, unless a call says otherwise. Every event goes through `Event`'s checks, so a
    test cannot build one the library would refuse."""

    def __init__(
        self, *, account_id: int = 1, at: datetime = DEFAULT_NOW, first_id: int = 1
    ) -> None:
        self.account_id = account_id
        self.at = _aware("at", at)
        self._ids = itertools.count(first_id)

    def __call__(
        self,
        name: str = "conversation_resolved",
        *,
        id: int | None = None,
        account_id: int | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> Event:
        """One event: `name`, the next id (or `id`), `account_id` and `at` defaulting to the
        factory's; `fields` are the other `Event` fields (value, value_in_business_hours,
        user_id, inbox_id, conversation_id, updated_at, event_start_time, event_end_time)."""
        return Event(
            id=next(self._ids) if id is None else id,
            name=name,
            account_id=self.account_id if account_id is None else account_id,
            created_at=self.at if at is None else at,
            **fields,
        )

    def many(self, count: int, name: str = "conversation_resolved", **fields: Any) -> list[Event]:
        """`count` events built alike, with consecutive ids."""
        return [self(name, **fields) for _ in range(count)]


__all__ = ["DEFAULT_NOW", "EventFactory", "FixedClock", "memory_rollups"]
