"""Ports: what the use cases need from storage and the outside world (`typing.Protocol`).

Adapters implement them for memory, SQLite and PostgreSQL; one contract suite keeps them equal.
All methods run inside a unit of work (one transaction) unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Final, NamedTuple, NewType, Protocol, Self, TypeVar, cast

import attrs

from reporting_rollups.application.jobs import Job as Job  # re-exported: adapters' port
from reporting_rollups.application.jobs import JobLocks as JobLocks
from reporting_rollups.application.jobs import JobStore as JobStore
from reporting_rollups.domain.errors import ConfigurationError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member
from reporting_rollups.domain.timezones import LocalDay


@attrs.frozen
class AccountSettings:
    """Per-account settings the library keeps.

    `rollup_timezone` is the zone the stored rollups are complete and correct in; None while they
    are being rebuilt (reads then come from raw events). `generation` grows by one at every change
    of `timezone` (A -> B -> A is two): work that read the settings before a change sees that the
    days it built were cleared since, which comparing zone names cannot tell.
    """

    account_id: int
    timezone: str | None = None
    rollup_timezone: str | None = None
    read_path_enabled: bool = False
    generation: int = 0


#: One raw event folded into the rollups: (account_id, event_id), the key of an applied mark.
#: A `NewType` over a plain tuple, not a NamedTuple: the live path makes one per event, and a
#: plain tuple of ints costs the garbage collector nothing once it has looked at it (a tuple
#: subclass stays tracked: +12% per 10k-event batch on the memory backend).
AppliedRef = NewType("AppliedRef", tuple[int, int])


def applied_ref(account_id: int, event_id: int) -> AppliedRef:
    """The reference of one applied event."""
    return AppliedRef((account_id, event_id))


class TimeSpan(NamedTuple):
    """The first and last `created_at` of some raw events (aware UTC)."""

    first: datetime
    last: datetime


class DateSpan(NamedTuple):
    """The first and last dates of some rollup rows."""

    first: date
    last: date


class RollupRow(NamedTuple):
    """One stored rollup row."""

    key: RollupKey
    value: MetricContribution


class Sums(NamedTuple):
    """The two sums of a rollup row, without its count."""

    sum_value: float
    sum_value_business_hours: float


class DayTotal(NamedTuple):
    """A report's rollup rows of one day, dimension id and metric, summed."""

    date: date
    dimension_id: int
    metric: Metric
    totals: MetricContribution


class GroupTotal(NamedTuple):
    """A report's rollup rows of one dimension id and metric, summed over a period."""

    dimension_id: int
    metric: Metric
    totals: MetricContribution


class WindowTotal(NamedTuple):
    """Raw events of one reporting window (its index), dimension id and metric, aggregated."""

    window: int
    dimension_id: int
    metric: Metric
    totals: MetricContribution


@attrs.frozen
class StoredBatch:
    """What `UnitOfWork.store_batch` did with a batch of events."""

    settings: dict[int, AccountSettings]  #: of the batch's accounts, locked shared
    stored: int  #: events newly written to the raw table
    fresh: set[int]  #: ids marked applied by this call: the events to fold


@attrs.frozen
class RebuildStats:
    """What rebuilding some local days from raw events did."""

    events: int
    rows: int


class EventStore(Protocol):
    """The raw `reporting_events` table."""

    def add(self, events: Sequence[Event]) -> list[int]:
        """Store events (sorted by id, ids unique in the batch); return the ids newly stored.

        An id already stored with the same content is skipped; with different content it raises
        `EventConflictError` (the caller's transaction is then rolled back).
        """
        ...

    def hold(self, events: Sequence[Event]) -> set[int]:
        """Of `events` (stored before, not by this unit of work, with the same content), the
        ids of those still stored, locked against `remove` until the transaction ends.

        Only events this unit of work inserted, or held, may be marked applied: an event that a
        concurrent retraction deleted must not be folded.
        """
        ...

    def get(self, ids: Collection[int]) -> list[Event]:
        """The stored events among `ids` (with their `TIME_FIELDS`), sorted by id."""
        ...

    def owners(self, ids: Collection[int]) -> set[int]:
        """The accounts of the stored raw rows among `ids` (rows that are not valid events
        included). No lock."""
        ...

    def remove(
        self, ids: Collection[int], account_ids: Collection[int], *, unowned: bool = True
    ) -> list[Event]:
        """Delete the stored rows among `ids` whose account is one of `account_ids` (locked by
        the caller) or, with `unowned`, NULL; return the events among them, sorted by id.

        A row of another account (committed after the caller read `owners`) stays: the
        retraction is ordered before its record.
        """
        ...

    def span(self, account_id: int) -> TimeSpan | None:
        """The first and last `created_at` of the account's events (aware UTC), or None."""
        ...

    def applied_in_days(
        self, account_id: int, days: Sequence[LocalDay], names: Collection[str]
    ) -> list[Event]:
        """The account's stored events of `names` within the days' bounds that are marked
        applied (those whose contributions the rollups hold)."""
        ...

    def has_events(self, account_id: int) -> bool:
        """Whether the account has any raw row (whatever its name or validity)."""
        ...

    def unapplied_span(self, account_id: int) -> TimeSpan | None:
        """The first and last `created_at` of the account's raw rows that have no applied mark
        and whose `created_at` is within the accepted range (rows a host wrote without the
        library seeing them), or None. No lock."""
        ...

    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        """The rollup rows that aggregating the account's raw events on `days` gives."""
        ...


class AppliedLedger(Protocol):
    """Which raw events are folded into the rollups (exactly-once bookkeeping)."""

    def mark(self, refs: Sequence[AppliedRef]) -> set[int]:
        """Mark events applied; return the event ids not marked before."""
        ...

    def unmark(self, refs: Sequence[AppliedRef]) -> set[int]:
        """Remove the marks of events; return the event ids that were marked."""
        ...

    def clear_account(self, account_id: int) -> None:
        """Remove every mark of the account."""
        ...

    def orphans(self, account_id: int) -> int:
        """How many of the account's marks have no raw row of that id and account (the host
        deleted the row, or moved it to another account, without the library seeing it). No
        lock."""
        ...

    def drop_orphans(self, account_id: int) -> int:
        """Remove the account's marks that `orphans` counts; return how many (the caller holds
        the account's exclusive lock)."""
        ...


class RollupStore(Protocol):
    """The `reporting_events_rollups` table and its distinct-member bookkeeping."""

    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        """Add deltas to rows (additive upsert); rows whose count reaches 0 are deleted."""
        ...

    def set_sums(self, sums: Mapping[RollupKey, Sums]) -> None:
        """Set the sums of the existing rows of the keys (locked by
        the caller, e.g. by its own `add`); keys without a row are left out."""
        ...

    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        """Add occurrence deltas to distinct members.

        Returns, per key, members that appeared (0 -> positive) minus members that disappeared
        (positive -> 0): the change of the key's distinct count.
        """
        ...

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[RollupRow]:
        """Stored rows of the account with since <= date <= until, sorted by key."""
        ...

    def date_span(self, account_id: int) -> DateSpan | None:
        """The first and last dates with rows, or None."""
        ...

    def clear_account(self, account_id: int) -> None:
        """Delete every row and member of the account."""
        ...


@attrs.frozen
class Window:
    """A reporting bucket: the UTC instants [start, end), both aware."""

    start: datetime
    end: datetime


class ReportStore(Protocol):
    """Read-side queries of the reports, from rollups or from raw events.

    `dimension_id`, when given, keeps only that dimension id. Totals never include rows or groups
    whose count is 0.
    """

    def rollup_totals(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
        dimension_id: int | None = None,
    ) -> list[DayTotal]:
        """Stored rows with since <= date <= until summed per (date, dimension_id, metric)."""
        ...

    def rollup_summary(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
    ) -> list[GroupTotal]:
        """Stored rows with since <= date <= until summed per (dimension_id, metric)."""
        ...

    def raw_totals(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        windows: Sequence[Window],
        dimension_id: int | None = None,
    ) -> list[WindowTotal]:
        """Raw events aggregated per (window index, dimension_id, metric); distinct-count
        metrics count distinct conversations per window (plus events without one)."""
        ...


class Change(NamedTuple):
    """One row image the host wrote, as change capture logged it."""

    id: int  #: its place in the log (per event, the order of the host's commits)
    op: str  #: "I": an image the host inserted (or updated to); "D": one it deleted (or updated)
    account_id: int
    event_id: int
    event: Event | None  #: the image as an event; None when it cannot be one (contributes nothing)
    logged_at: datetime  #: when the writing transaction started (aware UTC)


class ChangeLog(Protocol):
    """The change log that change capture fills (`reporting_rollup_changes`), consumed by
    deletion: a change is removed in the transaction that applies it, so none is skipped however
    long the host's transaction stays open (its changes appear when it commits)."""

    def accounts(self, after: int, limit: int) -> list[int]:
        """Up to `limit` accounts with visible changes whose id is above `after`, smallest
        first. No lock."""
        ...

    def take(self, account_id: int, limit: int) -> list[Change] | None:
        """Hold the account's change stream until the transaction ends and remove up to
        `limit` of its oldest visible changes; return them in log order. None when another
        transaction holds the stream (a worker applying them): changes of one account are
        applied by one transaction at a time, in log order."""
        ...

    def pending(self, account_id: int | None = None) -> tuple[int, datetime | None]:
        """How many changes are visible (of the account, or of all) and when the oldest was
        logged (aware UTC). No lock."""
        ...

    def pending_span(self, account_id: int) -> TimeSpan | None:
        """The first and last `created_at` of the account's visible changes' images (the
        instants whose days they change), or None. No lock."""
        ...

    def hold_writers(self, account_id: int) -> bool:
        """Hold the host's writes of the account until the transaction ends (a host
        transaction that writes it then waits to commit), without waiting: False when a host
        transaction that wrote the account is still open. A rebuild holds it so that no host
        commit slips in between applying the changes and reading the raw rows."""
        ...

    def synced(self, account_id: int, at: datetime) -> None:
        """Record that changes of the account were applied at `at` (the caller holds its
        stream: `take`)."""
        ...


class ChangesArrived(Exception):
    """A host change of the account became visible while its days were being rebuilt: the
    rebuild would not match the applied state. Roll back and retry."""


class AccountStore(Protocol):
    """Account settings, and the account-level locks that order writers."""

    def get(self, account_id: int) -> AccountSettings:
        """The settings (defaults when the account was never configured). No lock."""
        ...

    def zoned(self, after: int, limit: int) -> list[int]:
        """Up to `limit` accounts with a reporting zone whose id is above `after`, smallest
        first. No lock."""
        ...

    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        """Settings of the accounts, locked against `lock_exclusive` until the transaction ends.

        Live writers and retractions take this; many may hold it at once.
        """
        ...

    def lock_exclusive(self, account_id: int) -> AccountSettings:
        """Settings of the account, locked against every other writer of it."""
        ...

    def save(self, settings: AccountSettings) -> None:
        """Store the settings (the account must be locked exclusively)."""
        ...

    def forget(self, account_id: int) -> int:
        """Delete everything kept for the account: its raw events, rollup rows, members, marks,
        pending changes, sync state, retention and settings (the caller holds it exclusively);
        return how many raw rows were deleted."""
        ...


class RetentionStore(Protocol):
    """Retention: each account's horizon (the local days before it are sealed: their raw events
    purged, their rollup rows kept as history) and the purge itself."""

    def horizon(self, account_id: int) -> date | None:
        """The account's horizon, None when nothing was purged. No lock."""
        ...

    def seal(self, account_id: int, horizon: date | None) -> None:
        """Set the horizon (None: no sealed days). The caller holds the account exclusively."""
        ...

    def advance(self, account_id: int, horizon: date) -> None:
        """Move the horizon forward to `horizon` (never back). Writers of the account may hold
        it shared: the retention row is the last lock a writer takes (`LOCK_ORDER`)."""
        ...

    def window(self, account_id: int) -> int | None:
        """The account's retention window in days (its own, else the default), or None: a
        delete of an event older than it is a purge. No lock."""
        ...

    def windows(self) -> dict[int | None, int]:
        """Every window set: per account, and the default under None. No lock."""
        ...

    def set_window(self, account_id: int | None, days: int | None) -> None:
        """Set (days None: remove) the account's window, or with account None the default."""
        ...

    def count_before(self, account_id: int, end: datetime) -> int:
        """The account's raw rows created before `end` (rows that are no event included,
        those without a readable `created_at` left out). No lock."""
        ...

    def purge(self, account_id: int, end: datetime) -> int:
        """Delete the account's raw rows created before `end` and their applied marks (the
        caller holds the account exclusively); return how many rows. Rollup rows stay."""
        ...

    def drop_members(self, account_id: int, before: date) -> None:
        """Delete the account's distinct-member rows of days before `before` (sealed days
        never change again: only their counts are kept)."""
        ...

    def rows_before(self, account_id: int, before: date) -> int:
        """The account's rollup rows of days before `before`. No lock."""
        ...


class AccountFigures(NamedTuple):
    """What `rollups status` shows of one account, as stored (no clock, no judgement)."""

    settings: AccountSettings
    raw_events: int  #: raw rows of the account (valid events or not)
    rollup_rows: int
    pending: int  #: captured changes not applied yet
    oldest_pending: datetime | None  #: when the oldest of them was logged (aware UTC)
    last_sync: datetime | None  #: when `sync` last applied changes of the account
    horizon: date | None = None  #: retention horizon: days before it are sealed


class StatusStore(Protocol):
    """Per-account figures for operators (`Rollups.status`): one grouped query per table."""

    def figures(self, account_id: int | None = None) -> list[AccountFigures]:
        """The account's figures, or those of every account any table knows (settings, raw
        rows, rollups, changes), sorted by account id. No lock."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every store; rolls back unless `commit()` was called (a read-only
    one, see `UnitOfWorkFactory`, always rolls back)."""

    # Read-only members: a backend's unit of work may hold its own store types (a read-only
    # protocol member is covariant).
    @property
    def events(self) -> EventStore: ...

    @property
    def ledger(self) -> AppliedLedger: ...

    @property
    def rollups(self) -> RollupStore: ...

    @property
    def accounts(self) -> AccountStore: ...

    @property
    def reports(self) -> ReportStore: ...

    @property
    def changes(self) -> ChangeLog: ...

    @property
    def status(self) -> StatusStore: ...

    @property
    def retention(self) -> RetentionStore: ...

    @property
    def jobs(self) -> JobStore: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        """The storing half of `record`: lock the events' accounts shared, store the events
        (`EventStore.add`), hold those stored before (`EventStore.hold`) and mark applied the
        ones of accounts with a reporting time zone (`AppliedLedger.mark`). `store_stepwise` is
        the reference; a backend may do it in fewer round trips."""
        ...

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        """Replace the rollup rows and members of `days` (consecutive local days of one zone)
        with the aggregation of their raw events, and mark those events applied. The caller
        holds the account's exclusive lock and has applied the account's visible changes
        (`ChangeLog`): raises `ChangesArrived` when one became visible since (a host commit in
        between), for the caller to roll back and retry."""
        ...

    def commit(self) -> None:
        """Make everything done in this unit of work durable, atomically."""
        ...


def to_mark(
    events: Sequence[Event], settings: Mapping[int, AccountSettings], present: Collection[int]
) -> list[AppliedRef]:
    """The exactly-once rule of the live path: of a batch's events, the ones to mark applied
    (and so to fold) are those this unit of work stored or holds (`present`) of accounts with
    a reporting time zone. Marking is the one step that decides: an event whose mark exists
    is never folded again."""
    zoned = {account_id for account_id, s in settings.items() if s.timezone is not None}
    return applied_refs(
        (e.account_id, e.id) for e in events if e.account_id in zoned and e.id in present
    )


def applied_refs(pairs: Iterable[tuple[int, int]]) -> list[AppliedRef]:
    """`AppliedRef`s of (account_id, event_id) pairs (no call per pair)."""
    return cast("list[AppliedRef]", list(pairs))


def store_stepwise(
    events: Sequence[Event], accounts: AccountStore, store: EventStore, ledger: AppliedLedger
) -> StoredBatch:
    """`UnitOfWork.store_batch` from the stores' methods, one step at a time, in the global
    lock order (`LOCK_ORDER`): lock the accounts shared, insert the new events, hold the ones
    already stored, and mark those of both kinds that `to_mark` selects."""
    settings = accounts.lock_shared({event.account_id for event in events})
    inserted = set(store.add(events))
    kept = [event for event in events if event.id not in inserted]
    present = inserted | (store.hold(kept) if kept else set())
    fresh = ledger.mark(to_mark(events, settings, present))
    return StoredBatch(settings, len(inserted), fresh)


#: The one order in which every writing transaction takes its locks, on every backend: a
#: transaction waiting for a lock holds only locks that come earlier, so no cycle (deadlock)
#: can form. Within each kind, locks are taken in key order. (A live batch holds the raw rows
#: it inserted while it takes FOR SHARE on older ones: both are raw events, in id order.)
LOCK_ORDER: Final = (
    "account settings rows (shared for live writers and retractions, exclusive for rebuilds)",
    "the host's writes of the account (rebuild chunks; tried, never waited for)",
    "the account's change stream (one applying transaction at a time; `ChangeLog.take`)",
    "raw events, by id",
    "applied marks, by (account_id, event_id)",
    "distinct members, by key",
    "rollup rows, by key",
    "the account's retention horizon (a delete older than its window advances it)",
)


class UnitOfWorkFactory(Protocol):
    """Opens units of work on one storage backend.

    ``factory(read_only=True)`` opens a reader: one consistent snapshot of every store (SQLite: a
    deferred WAL read transaction; PostgreSQL: REPEATABLE READ, READ ONLY) that takes no write
    lock, so it never waits for writers and writers never wait for it. Use it for work that only
    reads (rows, reports, verify, plans); its `commit()` raises `StorageError` and whatever it
    might have changed is rolled back. Writers (the default) take the locks they need.
    """

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


@attrs.frozen
class OneCallOutcome:
    """What `OneCallRecorder.record_new` did."""

    recorded: bool  #: everything written and committed; False: nothing written
    timezone: str | None  #: the account's reporting zone as the call found it


class OneCallRecorder(Protocol):
    """Records a few new events of one account in one call to the database, in a transaction
    of its own, when the caller's guess of the account's zone holds: the path of one event
    per call on a server a round trip away (a distributed database). Either everything of
    `record()` is written (raw rows, applied marks, members, rollup deltas) or nothing is, and
    the caller records the events the usual way, which tells what is different (the zone, an
    event stored or applied before)."""

    #: the most events one call takes
    max_events: int

    def record_new(
        self,
        events: Sequence[Event],
        timezone: str,
        deltas: Mapping[RollupKey, MetricContribution],
        members: Mapping[Member, int],
    ) -> OneCallOutcome:
        """Record `events` (one account's, sorted by id, none stored or applied before) with
        the rollup `deltas` and member occurrence deltas (positive) their projection in
        `timezone` gives, if the account's zone is `timezone`; each member that appears in
        storage adds one to the count of its key's row."""
        ...


@attrs.frozen
class CaptureStatus:
    """Change capture on `reporting_events`: which of its triggers are present, and how many
    captured changes wait in the change log."""

    triggers: tuple[str, ...]  #: the capture triggers present
    missing: tuple[str, ...]  #: the capture triggers absent
    pending: int  #: change-log rows not applied yet

    @property
    def installed(self) -> bool:
        """Every capture trigger is present."""
        return not self.missing

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "installed": self.installed,
            "triggers": list(self.triggers),
            "missing": list(self.missing),
            "pending": self.pending,
        }


class ChangeCapture(Protocol):
    """Triggers on the host's `reporting_events` that log every row image it writes into the
    library's change log (`reporting_rollup_changes`), so that rows the host itself inserts,
    updates and deletes can be folded. Installed explicitly, never by a migration. Each method
    runs in one transaction; install and remove are idempotent."""

    def install(self) -> CaptureStatus:
        """Create (or replace) the triggers."""
        ...

    def remove(self) -> CaptureStatus:
        """Drop the triggers; the change log and its rows stay."""
        ...

    def status(self) -> CaptureStatus:
        """What is installed now. No lock."""
        ...


@attrs.frozen
class UnavailableCapture:
    """`ChangeCapture` where there is none: every method raises `ConfigurationError(reason)`."""

    reason: str

    def install(self) -> CaptureStatus:
        raise ConfigurationError(self.reason)

    def remove(self) -> CaptureStatus:
        raise ConfigurationError(self.reason)

    def status(self) -> CaptureStatus:
        raise ConfigurationError(self.reason)


class Clock(Protocol):
    """The current instant (aware). Injected so that no use case reads the system clock."""

    def __call__(self) -> datetime: ...


class Telemetry(Protocol):
    """Where the live path reports what it did, for the host's metrics (counters of events and
    a histogram of `record()` latency). Called once per call, never per event."""

    def recorded(self, events: int, stored: int, rolled_up: int, seconds: float) -> None:
        """A `record()` of `events` took `seconds`: `stored` new raw rows, `rolled_up` folded."""
        ...

    def retracted(self, retracted: int, rolled_back: int) -> None:
        """A `retract()` removed `retracted` raw rows, taking `rolled_back` out of the rollups."""
        ...


class NoTelemetry:
    """`Telemetry` that reports nothing."""

    def recorded(self, events: int, stored: int, rolled_up: int, seconds: float) -> None:
        """Nothing."""

    def retracted(self, retracted: int, rolled_back: int) -> None:
        """Nothing."""


class Progress(Protocol):
    """Called after each committed chunk of a backfill."""

    def __call__(self, done: int, total: int, last_day: date) -> None: ...


T = TypeVar("T")


def iter_chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
