"""`Rollups.sync`: apply what change capture logged of the host's own writes, exactly once.

One pass takes every account with visible changes and applies its changes in log order, in
transactions of at most `CHANGES_PER_TRANSACTION` changes, each holding the account's lock
shared (like `record()`) and its change stream (so concurrent workers share the accounts and
never apply one account's changes twice or out of order). A change is deleted from the log in
the transaction that applies it (which also records when the account was synced): a crash rolls
both back, and the rerun takes it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from reporting_rollups.application.changes import (
    CHANGES_PER_TRANSACTION,
    Applied,
    apply_changes,
)
from reporting_rollups.application.live import zones_of
from reporting_rollups.application.ports import Clock, UnitOfWorkFactory
from reporting_rollups.application.status import age_seconds

log = logging.getLogger(__name__)

#: Accounts listed at a time.
ACCOUNTS_PER_LISTING = 1_000


@attrs.frozen
class SyncResult:
    """What one pass applied, and what it left."""

    applied: int  #: inserted images folded into the rollups
    retracted: int  #: deleted images taken back out of them
    consumed: int  #: changes removed from the log (applied, or of accounts without a zone)
    pending: int  #: changes visible after the pass (written meanwhile, or held by a worker)
    lag_seconds: float | None  #: age of the oldest pending change; None when none is pending


@attrs.frozen
class Sync:
    """Applies captured changes."""

    uow_factory: UnitOfWorkFactory
    clock: Clock

    def run(self, stop: Callable[[], bool] = lambda: False) -> SyncResult:
        """One pass: each account with visible changes once, in account order (changes that
        arrive meanwhile wait for the next pass). `stop` is asked before each transaction: when
        it says so, the pass ends after the batch it applied last."""
        done = Applied()
        after = 0
        while not stop():
            with self.uow_factory(read_only=True) as uow:
                accounts = uow.changes.accounts(after, ACCOUNTS_PER_LISTING)
            if not accounts:
                break
            for account_id in accounts:
                if stop():
                    break
                done += self.account(account_id, stop)
            after = accounts[-1]
        with self.uow_factory(read_only=True) as uow:
            pending, oldest = uow.changes.pending()
        result = SyncResult(
            done.applied, done.retracted, done.consumed, pending, age_seconds(self.clock(), oldest)
        )
        if result.consumed:
            log.info(
                "sync: applied %d, retracted %d, consumed %d; %d pending",
                result.applied,
                result.retracted,
                result.consumed,
                result.pending,
            )
        return result

    def account(self, account_id: int, stop: Callable[[], bool] = lambda: False) -> Applied:
        """Apply the account's changes visible now (none when another worker holds its
        stream: that worker applies them), until `stop` says so."""
        done = Applied()
        while not stop():
            with self.uow_factory() as uow:
                settings = uow.accounts.lock_shared([account_id])
                changes = uow.changes.take(account_id, CHANGES_PER_TRANSACTION)
                if changes is None:
                    return done
                done += apply_changes(uow, changes, zones_of(settings), self.clock())
                if changes:
                    uow.changes.synced(account_id, self.clock())
                uow.commit()
            if len(changes) < CHANGES_PER_TRANSACTION:
                return done
        return done
