"""`Rollups.catch_up`: fold the raw rows a host wrote before change capture was installed (or
while it was removed): every zoned account's rows without an applied mark. Found by an anti-join
of the raw rows and the marks, in SQL; folded by rebuilding the local days between the first and
the last such row, chunk by chunk (`Backfill`: exact, applies pending captured changes first, and
marks every row it counts, so a second catch-up finds nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from reporting_rollups.application.backfill import Backfill, BackfillResult
from reporting_rollups.application.ports import Progress, UnitOfWorkFactory
from reporting_rollups.domain.timezones import local_date, parse_timezone

#: Accounts listed at a time.
ACCOUNTS_PER_LISTING = 1_000


@attrs.frozen
class CatchUpResult:
    """What a catch-up rebuilt."""

    accounts: int  #: accounts that had rows without a mark
    days: int  #: local days rebuilt
    events: int  #: raw events on those days


def zoned_accounts(uow_factory: UnitOfWorkFactory) -> Iterator[int]:
    """Every account with a reporting zone, in account order (listed `ACCOUNTS_PER_LISTING` at
    a time, each listing its own read)."""
    after = 0
    while True:
        with uow_factory(read_only=True) as uow:
            zoned = uow.accounts.zoned(after, ACCOUNTS_PER_LISTING)
        if not zoned:
            return
        yield from zoned
        after = zoned[-1]


@attrs.frozen
class CatchUp:
    """Finds and folds raw rows the library never saw."""

    uow_factory: UnitOfWorkFactory
    backfill: Backfill

    def run(self, progress: Progress | None = None) -> CatchUpResult:
        """Every zoned account, in account order."""
        accounts = days = events = 0
        for account_id in zoned_accounts(self.uow_factory):
            result = self.account(account_id, progress)
            if result is not None:
                accounts += 1
                days += result.plan.days
                events += result.events
        return CatchUpResult(accounts, days, events)

    def account(self, account_id: int, progress: Progress | None = None) -> BackfillResult | None:
        """Fold one account's rows without a mark: rebuild the local days from its first to its
        last such row (sealed days left out). None when it has none (or no zone)."""
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            span = uow.events.unapplied_span(account_id)
            horizon = uow.retention.horizon(account_id)
        if span is None or settings.timezone is None:
            return None
        zone = parse_timezone(settings.timezone)
        first, last = local_date(span.first, zone), local_date(span.last, zone)
        if horizon is not None:  # rows on sealed days stay out: those days are history
            if last < horizon:
                return None
            first = max(first, horizon)
        return self.backfill.run(self.backfill.plan(account_id, first, last), progress)
