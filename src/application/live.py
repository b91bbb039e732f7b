"""Live path: record events (store raw + fold exactly once) and retract them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.application.ports import (
    AccountSettings,
    Clock,
    NoTelemetry,
    OneCallRecorder,
    Sums,
    Telemetry,
    UnitOfWork,
    UnitOfWorkFactory,
    applied_refs,
    iter_chunks,
    to_mark,
)
from reporting_rollups.application.report_arguments import check_id
from reporting_rollups.application.retention import past_window
from reporting_rollups.domain.errors import (
    ConfigurationError,
    EventConflictError,
    InvalidEventError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Projection, project
from reporting_rollups.domain.registry import RULES, Payload, rules_for
from reporting_rollups.domain.timezones import local_day, parse_timezone

#: A `record()` of more events than this stores and folds them in steps of this many, in its one
#: transaction: what it holds beyond the events then grows with the rollup rows and members they
#: touch, not with their number.
STEP_EVENTS: Final = 20_000


@attrs.frozen
class RecordResult:
    """What `record` did with a batch."""

    stored: int  #: events newly written to the raw table
    duplicates: int  #: events already stored (same id and content), in the batch or before
    rolled_up: int  #: events folded into the rollups by this call
    skipped: int  #: events of accounts without a reporting time zone (stored, not rolled up)
    #: events this call would have folded but whose name the registry does not know: marked
    #: applied, contributing nothing (not counted in `rolled_up`)
    unsupported: int = 0


@attrs.frozen
class RetractResult:
    """What `retract` did."""

    retracted: int  #: raw events removed
    rolled_back: int  #: of those, events whose contributions were taken out of the rollups
    unknown: int  #: ids that were not stored
    #: of the removed, events older than their account's retention window: purged, their
    #: contributions kept as history (`application.retention`)
    purged: int = 0


def unique_events(events: Iterable[object]) -> tuple[list[Event], int]:
    """Validate the batch's items, drop repeated ids (same content) and sort by id.

    Returns the unique events and how many repeats were dropped; `EventConflictError` when an id
    repeats with different content.
    """
    by_id: dict[int, Event] = {}
    repeats = 0
    for position, event in enumerate(events):
        if not isinstance(event, Event):
            raise InvalidEventError(
                f"events[{position}]", type(event).__name__, None, "must be an Event"
            )
        seen = by_id.get(event.id)
        if seen is None:
            by_id[event.id] = event
        elif seen == event:
            repeats += 1
        else:
            raise EventConflictError(event.id, seen.differences(event))
    return [by_id[event_id] for event_id in sorted(by_id)], repeats


def zones_of(settings: dict[int, AccountSettings]) -> dict[int, ZoneInfo]:
    """The reporting zone of each account that has one."""
    return {
        account_id: parse_timezone(s.timezone)
        for account_id, s in settings.items()
        if s.timezone is not None
    }


def resum(
    uow: UnitOfWork, deltas: Mapping[RollupKey, MetricContribution], zones: dict[int, ZoneInfo]
) -> None:
    """After a retraction added `deltas`: set the sums of the rows whose sums it changed (the
    duration rows) to the sums of the events still applied there. Subtracting leaves the
    rounding of the larger sums the retracted values were part of (40 x 1e9 s taken from
    4e10 + 0.3 leaves 0.3 +- 3e-6); summed again, a row is as exact as if those events had never
    been recorded. The caller holds the rows' locks (its own upsert), so no other writer's
    contribution is between the read and the write."""
    touched: dict[int, set[RollupKey]] = {}
    names = {rule.event_name for rule in RULES if rule.payload is Payload.DURATION}
    for key, delta in deltas.items():
        if delta.sum_value or delta.sum_value_business_hours:
            touched.setdefault(key.account_id, set()).add(key)
    for account_id, keys in sorted(touched.items()):
        zone = zones[account_id]
        days = [local_day(day, zone) for day in sorted({key.date for key in keys})]
        present: list[Event] = []
        for day in days:
            present += uow.events.applied_in_days(account_id, [day], names)
        exact = project(present, {account_id: zone}).totals()
        uow.rollups.set_sums(
            {
                key: Sums(exact[key].sum_value, exact[key].sum_value_business_hours)
                for key in sorted(keys)
                if key in exact
            }
        )


def fold(
    uow: UnitOfWork, events: Sequence[Event], zones: dict[int, ZoneInfo], sign: int
) -> Mapping[RollupKey, MetricContribution]:
    """Add (sign=1) or take back (sign=-1) the contributions of events, members included;
    return the deltas added to the rollup rows."""
    return apply(uow, project(events, zones, sign))


def apply(
    uow: UnitOfWork, projection: Projection, step: int = STEP_EVENTS
) -> Mapping[RollupKey, MetricContribution]:
    """Add a projection's members (more than `step`: that many at a time, in key order), then
    its deltas with the distinct counts the members changed; return the deltas added to the
    rollup rows."""
    members = projection.nonzero_members()
    if len(members) > step:
        for part in iter_chunks(sorted(members), step):
            changes = uow.rollups.add_members({member: members[member] for member in part})
            projection.add_distinct_counts(changes)
    elif members:
        projection.add_distinct_counts(uow.rollups.add_members(members))
    deltas = projection.nonzero_deltas()
    if deltas:
        uow.rollups.add(deltas)
    return deltas


def _by_account(event: Event) -> tuple[int, int]:
    return event.account_id, event.id


def _unsupported(events: Iterable[Event]) -> int:
    """How many of the events have a name the registry does not know."""
    return sum(1 for event in events if not rules_for(event.name))


def _outcome(
    batch: Sequence[Event],
    repeats: int,
    stored: int,
    folded: int,
    unsupported: int,
    zones: Mapping[int, ZoneInfo],
) -> RecordResult:
    """What `record` did with a unit of work: `stored` of the unique `batch` newly stored,
    `folded` events marked now (`unsupported` of them of unknown names), `repeats` dropped."""
    return RecordResult(
        stored=stored,
        duplicates=repeats + len(batch) - stored,
        rolled_up=folded - unsupported,
        skipped=sum(1 for event in batch if event.account_id not in zones),
        unsupported=unsupported,
    )


@attrs.frozen
class LiveRollup:
    """Records events and folds each into the rollups exactly once; retracts them."""

    uow_factory: UnitOfWorkFactory
    clock: Clock  #: "today", for retention windows
    #: records a few new events of one account in one call, where the backend can
    one_call: OneCallRecorder | None = None
    #: a larger batch is recorded in steps of this many events (`STEP_EVENTS`)
    step_events: int = STEP_EVENTS
    #: told what each call did (the host's metrics)
    telemetry: Telemetry = attrs.field(factory=NoTelemetry)
    #: seconds, for the latency `telemetry` reports (monotonic)
    timer: Callable[[], float] = time.perf_counter
    #: each account's zone as last seen: the guess `one_call` folds in (checked under the lock)
    _zones: dict[int, str | None] = attrs.field(factory=dict, init=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if type(self.step_events) is not int or self.step_events < 1:
            raise ConfigurationError(
                f"step_events must be a positive integer, not {self.step_events!r}"
            )

    def record(self, events: Iterable[Event]) -> RecordResult:
        """Store the events and fold those not yet applied, in one transaction."""
        started = self.timer()
        result = self._record(events)
        total = result.stored + result.duplicates
        seconds = self.timer() - started
        self.telemetry.recorded(total, result.stored, result.rolled_up, seconds)
        return result

    def _record(self, events: Iterable[Event]) -> RecordResult:
        batch, repeats = unique_events(events)
        if not batch:
            return RecordResult(0, repeats, 0, 0)
        if len(batch) > self.step_events:
            return self._record_in_steps(batch, repeats)
        quick = self._record_in_one_call(batch, repeats)
        if quick is not None:
            return quick
        with self.uow_factory() as uow:
            done = uow.store_batch(batch)
            self._remember_zones(done.settings)
            zones = zones_of(done.settings)
            fresh = done.fresh
            to_fold = [event for event in batch if event.id in fresh]
            fold(uow, to_fold, zones, 1)
            uow.commit()
        return _outcome(batch, repeats, done.stored, len(to_fold), _unsupported(to_fold), zones)

    def _record_in_steps(self, batch: list[Event], repeats: int) -> RecordResult:
        """`record` of a large batch (sorted by id) in one transaction, `step_events` events
        at a time, in the lock order: every account of the batch locked, the raw events
        inserted in id order (those stored before held), then the marks in (account, id)
        order, the events each step marks projected at once; then the members and deltas of
        the whole projection."""
        with self.uow_factory() as uow:
            settings = uow.accounts.lock_shared({event.account_id for event in batch})
            self._remember_zones(settings)
            zones = zones_of(settings)
            stored, gone = 0, set[int]()
            for step in iter_chunks(batch, self.step_events):
                inserted = uow.events.add(step)
                stored += len(inserted)
                if len(inserted) < len(step):
                    new = set(inserted)
                    kept = [event for event in step if event.id not in new]
                    held = uow.events.hold(kept)
                    gone.update(event.id for event in kept if event.id not in held)
            present = sorted((e for e in batch if e.id not in gone), key=_by_account)
            projection, folded, unsupported = Projection(), 0, 0
            for step in iter_chunks(present, self.step_events):
                refs = to_mark(step, settings, {event.id for event in step})
                fresh = uow.ledger.mark(refs)
                to_fold = [event for event in step if event.id in fresh]
                projection.add_all(to_fold, zones)
                folded += len(to_fold)
                unsupported += _unsupported(to_fold)
            apply(uow, projection, self.step_events)
            uow.commit()
        return _outcome(batch, repeats, stored, folded, unsupported, zones)

    def _remember_zones(self, settings: Mapping[int, AccountSettings]) -> None:
        """Keep the accounts' zones as guesses for `one_call`, where there is one."""
        if self.one_call is not None:
            for account_id, account in settings.items():
                self._zones[account_id] = account.timezone

    def _record_in_one_call(self, batch: list[Event], repeats: int) -> RecordResult | None:
        """`record` of a few events of one zoned account through `one_call`, projected in the
        zone the account last had; None when that is not how they can be recorded (no such
        backend, too many events or accounts, no zone known, the zone changed, an event stored
        or applied before): the caller then records them in a unit of work."""
        one_call = self.one_call
        if one_call is None or len(batch) > one_call.max_events:
            return None
        account_id = batch[0].account_id
        zone = self._zones.get(account_id)
        if zone is None or any(event.account_id != account_id for event in batch):
            return None
        zones = {account_id: parse_timezone(zone)}
        projection = project(batch, zones, 1)
        outcome = one_call.record_new(
            batch, zone, projection.nonzero_deltas(), projection.nonzero_members()
        )
        self._zones[account_id] = outcome.timezone
        if not outcome.recorded:
            return None
        return _outcome(batch, repeats, len(batch), len(batch), _unsupported(batch), zones)

    def retract(self, event_ids: Iterable[int], *, account_id: int | None = None) -> RetractResult:
        """Remove raw events and take their contributions back exactly once. With
        `account_id`, only that account's events: an id stored under another account (or
        none) is unknown, and the ids are never looked up across accounts."""
        requested = list(event_ids)
        for event_id in requested:
            if type(event_id) is not int or event_id <= 0:
                raise InvalidEventError("id", event_id, event_id, "must be a positive integer")
        if account_id is not None:
            check_id("account_id", account_id)
        ids = sorted(set(requested))
        if not ids:
            return RetractResult(0, 0, 0)
        with self.uow_factory() as uow:
            # Lock the accounts first (the global lock order), then delete only rows of those
            # accounts: a row another transaction commits after `owners` read stays, as if this
            # retraction had come before its record (its account's zone is not locked here).
            owners = uow.events.owners(ids) if account_id is None else {account_id}
            settings = uow.accounts.lock_shared(owners)
            removed = uow.events.remove(ids, settings.keys(), unowned=account_id is None)
            unmarked = uow.ledger.unmark(
                applied_refs((event.account_id, event.id) for event in removed)
            )
            zones = zones_of(settings)
            past = past_window(uow, removed, zones, self.clock()) if removed else set()
            to_unfold = [
                e
                for e in removed
                if e.id in unmarked and e.account_id in zones and e.id not in past
            ]
            resum(uow, fold(uow, to_unfold, zones, -1), zones)
            uow.commit()
        self.telemetry.retracted(len(removed), len(to_unfold))
        return RetractResult(len(removed), len(to_unfold), len(ids) - len(removed), len(past))
