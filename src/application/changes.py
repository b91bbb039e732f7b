"""Folding the changes change capture logged (`ChangeLog`): an inserted image is applied like
`record()` (marked, folded if the mark is new), a deleted one like `retract()` (unmarked,
taken back if it was marked, or kept as history when it is older than its account's retention
window: `application.retention`). An update is both, the old image first. The applied marks make
this agree with `record()`, `retract()` and rebuilds: whatever path an event took, it is
folded once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.application.live import fold, resum
from reporting_rollups.application.ports import Change, ChangesArrived, UnitOfWork, applied_refs
from reporting_rollups.application.retention import past_window

#: Most changes taken (and applied) by one transaction.
CHANGES_PER_TRANSACTION = 50_000


@attrs.frozen
class Applied:
    """What applying some changes did."""

    applied: int = 0  #: inserted images folded into the rollups
    retracted: int = 0  #: deleted images taken back out of them
    consumed: int = 0  #: changes removed from the log (applied or not)

    def __add__(self, other: Applied) -> Applied:
        return Applied(
            self.applied + other.applied,
            self.retracted + other.retracted,
            self.consumed + other.consumed,
        )


def apply_changes(
    uow: UnitOfWork, changes: Sequence[Change], zones: dict[int, ZoneInfo], now: datetime
) -> Applied:
    """Apply changes taken from the log (log order) in `uow`. Changes of accounts without a
    zone are consumed and change nothing (their events stay stored; a zone rebuilds them).
    Images that are no valid event are marked and unmarked like the others (a rebuild marks
    every raw row it finds) but contribute nothing."""
    applied = retracted = 0
    for op, run in groupby(changes, key=lambda change: change.op):
        images = [change for change in run if change.account_id in zones]
        if not images:
            continue
        refs = applied_refs((change.account_id, change.event_id) for change in images)
        events = [change.event for change in images if change.event is not None]
        if op == "I":
            fresh = uow.ledger.mark(refs)
            folded = [event for event in events if event.id in fresh]
            fold(uow, folded, zones, 1)
            applied += len(folded)
        else:
            unmarked = uow.ledger.unmark(refs)
            deleted = [event for event in events if event.id in unmarked]
            past = past_window(uow, deleted, zones, now) if deleted else set()
            taken_back = [event for event in deleted if event.id not in past]
            resum(uow, fold(uow, taken_back, zones, -1), zones)
            retracted += len(taken_back)
    return Applied(applied, retracted, len(changes))


def drain(uow: UnitOfWork, account_id: int, zones: dict[int, ZoneInfo], now: datetime) -> Applied:
    """Apply every visible change of the account (the caller holds the account's lock), for
    work that must start from a state that includes them (a rebuild)."""
    done = Applied()
    while True:
        changes = uow.changes.take(account_id, CHANGES_PER_TRANSACTION)
        if changes is None:  # another transaction applies them: it must finish first
            raise ChangesArrived(account_id)
        done += apply_changes(uow, changes, zones, now)
        if len(changes) < CHANGES_PER_TRANSACTION:
            return done
