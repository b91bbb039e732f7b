"""`Rollups.scan`: keep the rollups exact next to a host that forbids triggers (no change
capture), by comparing the raw rows with the applied marks, account by account.

What a scan sees:
- rows the host inserted: raw rows without a mark, folded as `CatchUp` does (their local days
  rebuilt);
- rows the host deleted: marks without a raw row ("orphans"), and rows it moved to another
  account (an UPDATE of `account_id`): a mark of the old account without a raw row of it (an
  orphan) plus a row of the new account without a mark (caught up). An account with orphans has
  them dropped and is rebuilt in full, since nothing tells which days their contributions were
  on.

What it cannot see: an UPDATE that changes a row's values (name, value, dates, dimensions) in
place keeps its id, its account and its mark, so the rollups keep the old values. Only change
capture (`rollups capture install`) or a rebuild (`rollups rebuild`) takes such an update in.

Cost, per pass and zoned account: an anti-join of the account's raw rows and marks in each
direction (an index probe per row and per mark); then a rebuild of the days of new rows, and a
full rebuild of an account with deletes. Slower than capture, and exact once it has run
(unless rows were updated in place).
"""

from __future__ import annotations

import logging

import attrs

from reporting_rollups.application.backfill import Backfill, BackfillResult
from reporting_rollups.application.catch_up import CatchUp, zoned_accounts
from reporting_rollups.application.ports import Progress, UnitOfWorkFactory
from reporting_rollups.application.retention import cutoff
from reporting_rollups.application.settings import AccountSettingsService
from reporting_rollups.domain.errors import AccountNotConfiguredError, ZoneChangedError
from reporting_rollups.domain.timezones import parse_timezone

log = logging.getLogger(__name__)


@attrs.frozen
class ScanResult:
    """What a scan rebuilt."""

    accounts: int  #: accounts rebuilt or caught up
    days: int  #: local days rebuilt
    events: int  #: raw events on those days
    orphans: int  #: marks dropped whose raw row the host deleted or moved to another account


@attrs.frozen
class Scan:
    """Finds what the host inserted, deleted or moved without the library seeing it, and
    rebuilds what that changed."""

    uow_factory: UnitOfWorkFactory
    backfill: Backfill
    settings_service: AccountSettingsService

    def run(self, progress: Progress | None = None) -> ScanResult:
        """Every zoned account, in account order. Per account: when it has orphans, drop them
        and mark a rebuild pending (one transaction), then rebuild it; else, when a rebuild is
        pending (a scan stopped after dropping orphans, a zone set without a rebuild), rebuild
        it; then fold its rows without a mark."""
        catch_up = CatchUp(self.uow_factory, self.backfill)
        accounts = days = events = orphans = 0
        for account_id in zoned_accounts(self.uow_factory):
            with self.uow_factory(read_only=True) as uow:
                settings = uow.accounts.get(account_id)
                found = uow.ledger.orphans(account_id)
            if settings.timezone is None:
                continue
            done: list[BackfillResult] = []
            try:
                if found:
                    orphans += self._drop_orphans(account_id)
                if found or settings.rollup_timezone != settings.timezone:
                    done = [self.settings_service.rebuild(account_id, progress)]
                caught = catch_up.account(account_id, progress)
            except (ZoneChangedError, AccountNotConfiguredError):
                # The zone changed (or was cleared) meanwhile: `set_timezone` rebuilds the
                # account itself, and the next scan sees whatever is left.
                log.info("scan: account %d changed zone while it was scanned", account_id)
                continue
            if caught is not None:
                done.append(caught)
            if done:
                accounts += 1
                days += sum(result.plan.days for result in done)
                events += sum(result.events for result in done)
        if accounts:
            log.info("scan: rebuilt %d account(s), dropped %d orphan(s)", accounts, orphans)
        return ScanResult(accounts, days, events, orphans)

    def _drop_orphans(self, account_id: int) -> int:
        """Drop the account's orphans and mark its rollups not current (reports read raw events
        until the rebuild), in one transaction; return how many were dropped.

        Dropping before rebuilding: an id the host (or `record()`) writes again after the drop
        has no mark, so it is folded (and its day rebuilt exact); a mark left behind a rebuild
        would keep such an id from ever being folded."""
        with self.uow_factory() as uow:
            settings = uow.accounts.lock_exclusive(account_id)
            if settings.timezone is None:  # cleared meanwhile, and its marks with it
                return 0
            dropped = uow.ledger.drop_orphans(account_id)
            # Deletes older than the retention window are purges: their days become sealed
            # before the rebuild, which then keeps their contributions as history.
            zone = parse_timezone(settings.timezone)
            first_kept = cutoff(uow, account_id, zone, self.backfill.clock())
            if first_kept is not None:
                uow.retention.advance(account_id, first_kept)
            uow.accounts.save(attrs.evolve(settings, rollup_timezone=None))
            uow.commit()
        return dropped
