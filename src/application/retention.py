"""Retention windows: a host that deletes its old raw rows itself (its own retention job) sets a
window of N days; a delete of an event older than its account's window (created before the
local day N days before today) is then a purge, not a retraction, however it reaches the
library (`retract`, change capture, `sync --scan`): the event's contribution stays in the
rollups as history, and the account's horizon advances to that day, sealing the days before.
Without a window, a delete is a retraction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.application.ports import UnitOfWork, UnitOfWorkFactory
from reporting_rollups.domain.errors import InvalidRangeError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.timezones import local_date

#: The longest window accepted (about 100 years).
MAX_WINDOW_DAYS = 36_525


@attrs.frozen
class RetentionSettings:
    """The retention windows set: the default, and the accounts' own."""

    default_days: int | None
    accounts: dict[int, int]


def cutoff(uow: UnitOfWork, account_id: int, zone: ZoneInfo, now: datetime) -> date | None:
    """The first local day inside the account's window (events before it are past it), or
    None without a window."""
    days = uow.retention.window(account_id)
    return None if days is None else local_date(now, zone) - timedelta(days=days)


def past_window(
    uow: UnitOfWork, events: Sequence[Event], zones: Mapping[int, ZoneInfo], now: datetime
) -> set[int]:
    """Of events being deleted, the ids of those older than their account's window: deleting
    them is a purge (their contributions stay). The horizon of each such account advances to
    its cutoff."""
    past: set[int] = set()
    for account_id in sorted({event.account_id for event in events}):
        zone = zones.get(account_id)
        if zone is None:
            continue
        first_kept = cutoff(uow, account_id, zone, now)
        if first_kept is None:
            continue
        old = [
            event.id
            for event in events
            if event.account_id == account_id and local_date(event.created_at, zone) < first_kept
        ]
        if old:
            uow.retention.advance(account_id, first_kept)
            past.update(old)
    return past


@attrs.frozen
class Retention:
    """Sets and shows the retention windows."""

    uow_factory: UnitOfWorkFactory

    def set_window(self, days: int | None, account_id: int | None = None) -> None:
        """Set the window of an account (None: the default of every account); None removes
        it. `InvalidRangeError` for anything but 1 to `MAX_WINDOW_DAYS` days."""
        if days is not None and (type(days) is not int or not 1 <= days <= MAX_WINDOW_DAYS):
            raise InvalidRangeError(
                f"retention days = {days!r}: must be a whole number from 1 to {MAX_WINDOW_DAYS}"
            )
        with self.uow_factory() as uow:
            if account_id is not None:
                uow.accounts.lock_exclusive(account_id)
            uow.retention.set_window(account_id, days)
            uow.commit()

    def show(self) -> RetentionSettings:
        """The windows set."""
        with self.uow_factory(read_only=True) as uow:
            windows = uow.retention.windows()
        accounts = {a: d for a, d in windows.items() if a is not None}
        return RetentionSettings(windows.get(None), dict(sorted(accounts.items())))
